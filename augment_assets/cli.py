"""`augment-assets materialize`: the whole asset graph, every partition, in one command.

`dagster asset materialize` cannot run assets with different partitions definitions in
one call and has no "all partitions" flag, so this runs the graph stage by stage —
ingest, then one run per generator (sentiment x data size x repeat), one per generator over the range of its
temperatures (decoded in one batch), then the reference and the evaluation — each an in-process run recorded in the Dagster instance at DAGSTER_HOME,
so every run, materialization and check result shows in `dagster dev` afterwards.
A failed step or a failed blocking leakage check stops the command with exit status 1;
tables already published stay as they were.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from augment_assets.stages import JOB_OF_OP, STAGE_LIST, STAGES  # noqa: F401 - STAGES is the CLI's choices

PREDICTIONS_LABEL = next(stage.label for stage in STAGE_LIST if stage.partitions == "predictions")

# Settings a run config's `env:` block may give: the environment variables the definitions read
# when they load (partitions among them), so they must be set before the definitions import.
ENV_SETTINGS = (
    "DATA_SIZES",
    "REPEATS",
    "LEARNING_CURVE_SIZES",
    "SYNTHETIC_TEMPERATURES",
    "REVIEWS_CSV",
    "YELP_DATASET_DIR",
    "GOLD_HOLDOUT_CSV",
    "REFERENCE_SYNTHETIC_CSV",
    "BASE_MODEL",
    "AUGMENT_MODELS_DIR",
    "AUGMENT_WORK_DIR",
    "AUGMENT_EXPORT_DIR",
    "AUGMENT_CLASSIFIERS_DIR",
    "AUGMENT_INBOX",
    "AUGMENT_REPORTS_DIR",
    "AUGMENT_WAREHOUSE",
    "AUGMENT_SEED",
    "GENERATIVE_MAX_REVIEW_TOKENS",
    "AUGMENT_CPU_DTYPE",
)


def _plan(stages: list[str], instance=None):
    """(label, selection, partition key, the op names whose config applies) of each run, from the declared stages
    (augment_assets/stages.py): a partitioned stage once per partition key (the synthetic stage once per generator,
    its key the (first, last) of the generator's partition range), a stage's `first_alone` assets first.
    The prediction batches (the source's unlabelled reviews, each inbox CSV) are registered in `instance` here."""
    import dagster as dg

    from augment_assets.defs.partitions import generator_partitions, synthetic_partitions, temperatures_by_generator
    from augment_assets.defs.predict.assets import SOURCE_BATCH, register_batches

    keys = {
        "generator": generator_partitions.get_partition_keys,
        "synthetic": synthetic_partitions.get_partition_keys,
        "predictions": lambda: (
            register_batches(instance, os.environ.get("AUGMENT_INBOX") or "data/inbox") if instance else [SOURCE_BATCH]
        ),
    }
    plan = []
    for stage in STAGE_LIST:
        if stage.name not in stages:
            continue
        if stage.partitions == "synthetic":
            # one run per generator over its temperatures: they are decoded in one batch (synthetic_reviews)
            for generator, temperatures in temperatures_by_generator(keys["synthetic"]()).items():
                span = (f"{generator}|{temperatures[0]}", f"{generator}|{temperatures[-1]}")
                plan.append((f"{stage.label}[{generator}]", stage.selection(), span, stage.config_ops))
            continue
        if stage.partitions:
            for key in keys[stage.partitions]():
                plan.append((f"{stage.label}[{key}]", stage.selection(), key, stage.config_ops))
            continue
        if stage.first_alone:
            alone = tuple(op for op in stage.config_ops if op in stage.first_alone)
            plan.append(("reference", dg.AssetSelection.assets(*stage.first_alone), None, alone))
        rest = tuple(op for op in stage.config_ops if op not in stage.first_alone)
        plan.append((stage.label, stage.selection(without=stage.first_alone), None, rest))
    return plan


def _root_message(error) -> str:
    """The project's own message (the outermost InputError of the chain) with its cause below it;
    else the innermost cause, not Dagster's wrapper."""
    chain = []
    while error is not None:
        chain.append(error)
        error = error.cause
    if not chain:
        return "unknown error"
    ours = next((i for i, e in enumerate(chain) if e.cls_name == "InputError"), None)
    if ours is None:
        return chain[-1].message.strip()
    below = chain[ours + 1 :]
    cause = f" (cause: {below[-1].message.strip()})" if below else ""
    return chain[ours].message.strip() + cause


def check_run_config(defs, run_config: dict) -> list[str]:
    """Problems with a `--config` file, found before any run starts: unknown keys and op names
    (listing the valid ones) and config Dagster's schema rejects."""
    import dagster as dg

    if not isinstance(run_config, dict):
        return [f"the file must hold a mapping with an `ops:` key, got {type(run_config).__name__}"]
    problems = [
        f"unknown top-level key {key!r}: the file may hold `ops:` (and `env:`, read before this check)"
        for key in run_config
        if key not in ("ops", "env")
    ]
    ops = run_config.get("ops") or {}
    if not isinstance(ops, dict):
        return problems + ["`ops:` must be a mapping of op names to `{config: {...}}`"]
    for op, value in ops.items():
        if op not in JOB_OF_OP:
            problems.append(f"unknown op {op!r}; the configurable ops are {', '.join(sorted(JOB_OF_OP))}")
            continue
        try:
            dg.validate_run_config(defs.resolve_job_def(JOB_OF_OP[op]), {"ops": {op: value}})
        except dg.DagsterInvalidConfigError as error:
            problems.extend(f"{op}: {e.message}" for e in error.errors)
            continue
        problems.extend(f"{op}: {problem}" for problem in _range_problems(defs, op, (value or {}).get("config") or {}))
    return problems


def _range_problems(defs, op: str, config: dict) -> list[str]:
    """Dagster's schema check knows types, not ranges: build the op's own Config class (pydantic) from
    the values, so `n: 0` is refused here and not when its stage finally starts."""
    import inspect

    import pydantic

    definition = next((a for a in defs.assets if getattr(getattr(a, "op", None), "name", None) == op), None)
    parameter = (
        inspect.signature(definition.op.compute_fn.decorated_fn).parameters.get("config") if definition else None
    )
    if parameter is None:
        return []
    try:
        parameter.annotation(**config)
    except pydantic.ValidationError as error:
        return [f"{'.'.join(str(p) for p in e['loc'])}={e.get('input')!r}: {e['msg']}" for e in error.errors()]
    return []


def base_model_problems(defs, run_config: dict, stages: list[str]) -> list[str]:
    """A base model the embedding classifier cannot use (one that gives no hidden states), found before any run
    starts: loading it costs seconds, finding out after fine-tuning and generation would cost the whole run."""
    from augment_assets.lib.embedding import check_base_model
    from augment_assets.lib.errors import InputError
    from augment_assets.lib.model import choose_device_dtype
    from augment_assets.lib.variants import CLASSIFIERS, EMBEDDING

    config = ((run_config.get("ops") or {}).get("classifier_metrics") or {}).get("config") or {}
    if "evaluate" not in stages or EMBEDDING not in config.get("classifiers", CLASSIFIERS):
        return []
    language_model = defs.resources["language_model"].process_config_and_initialize()  # its EnvVars read
    try:
        path, info = language_model.resolve()
        check_base_model(info["base_model"], path, *choose_device_dtype(language_model.device))
    except InputError as error:
        return [str(error)]
    return []


def apply_env_settings(run_config, path) -> list[str]:
    """Set the `env:` block of a run config as environment variables (a variable already set in the
    shell wins, so `REVIEWS_CSV=... augment-assets materialize --config ...` points a committed config at
    your data); removes the block. Returns problems (unknown names, non-scalar values)."""
    if not isinstance(run_config, dict) or "env" not in run_config:
        return []
    settings = run_config.pop("env") or {}
    if not isinstance(settings, dict):
        return ["`env:` must be a mapping of environment variable names to values"]
    problems = []
    for name, value in settings.items():
        if name not in ENV_SETTINGS:
            problems.append(f"env: unknown setting {name!r}; the settings are {', '.join(ENV_SETTINGS)}")
        elif isinstance(value, (dict, list)) or value is None:
            problems.append(f"env: {name} must be a single value (e.g. {name}: '3'), got {value!r}")
    if problems:
        return problems
    for name, value in settings.items():
        if name in os.environ:
            print(
                f"{path}: env {name} is already set in the environment ({os.environ[name]!r}); keeping it",
                file=sys.stderr,
            )
        else:
            os.environ[name] = str(value)
    return []


def run_problems(result) -> list[str]:
    """What went wrong in a run, in words a user can act on: failed steps and failed blocking checks."""
    problems = []
    for event in result.all_events:
        if event.is_step_failure and not isinstance(event.step_failure_data.error, type(None)):
            if event.step_failure_data.error.cls_name == "DagsterAssetCheckFailedError":
                continue  # reported below, per check
            problems.append(f"step {event.step_key} failed: {_root_message(event.step_failure_data.error)}")
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed and evaluation.severity.value == "ERROR":
            problems.append(
                f"check {evaluation.asset_key.to_user_string()}:{evaluation.check_name} failed: "
                f"{evaluation.description or ''}"
            )
    return problems


def _run_config_for(run_config: dict, op_names: tuple[str, ...]) -> dict:
    """The user's op config for the ops this run executes (Dagster rejects config for others)."""
    ops = run_config.get("ops", {})
    return {
        "ops": {name: value for name, value in ops.items() if name in op_names},
        "loggers": {"console": {"config": {"log_level": "INFO"}}},
    }


def materialize_all(stages: list[str], run_config: dict | None = None, instance=None, tags: dict | None = None) -> int:
    """Runs the stages in order into `instance` (default: the one at DAGSTER_HOME), each run tagged
    with `tags` too; returns the exit status (0 done, 1 a run failed, 2 a setting is wrong)."""
    import dagster as dg
    from tqdm import tqdm

    from augment_assets.lib.errors import InputError

    try:  # the settings the definitions read when they load (partitions, sizes, seed)
        from augment_assets.definitions import build_definitions

        defs = build_definitions()
    except InputError as error:
        print(f"A setting is wrong; nothing was run: {error}", file=sys.stderr)
        return 2
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from augment_assets.defs.automation.runs import end_dead_runs, pool_holders, process_tags

    defs.resolve_all_asset_specs()  # fails fast on a broken graph, before any run starts
    problems = check_run_config(defs, run_config or {}) or base_model_problems(defs, run_config or {}, stages)
    if problems:
        print("The run config has problems; nothing was run:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    assets = [*defs.assets, *defs.asset_checks]
    instance = instance or dg.DagsterInstance.get()
    for line in end_dead_runs(instance):  # a killed earlier run must not hold a pool slot forever
        print(f"recovered: {line}", file=sys.stderr)
    plan = _plan(stages, instance)
    failed_batches: list[str] = []
    started = time.perf_counter()
    with tqdm(plan, desc="augment-assets", unit="run", file=sys.stderr) as bar:
        for label, selection, partition_key, op_names in bar:
            bar.set_postfix_str(label)
            for line in pool_holders(instance):
                tqdm.write(f"waiting: {line}", file=sys.stderr)
            span = partition_key if isinstance(partition_key, tuple) else None
            result = dg.materialize(
                assets,
                selection=selection,
                partition_key=None if span else partition_key,
                instance=instance,
                resources=defs.resources,
                raise_on_error=False,
                # INFO keeps Dagster's own step-by-step DEBUG events out of the terminal;
                # they are all still in the instance and the UI.
                run_config=_run_config_for(run_config or {}, op_names),
                tags={
                    "augment_assets/stage": label.split("[")[0],
                    **(
                        dict(zip((ASSET_PARTITION_RANGE_START_TAG, ASSET_PARTITION_RANGE_END_TAG), span))
                        if span
                        else {}
                    ),
                    **process_tags(),
                    **(tags or {}),
                },
            )
            problems = run_problems(result)
            if (
                label == "reference"
                and result.success is False
                and problems
                and all(p.startswith("check ") for p in problems)
            ):
                for problem in problems:
                    tqdm.write(f"warning: {problem}; the reference is left out of scoring", file=sys.stderr)
                continue
            if (problems or not result.success) and partition_key and label.startswith(PREDICTIONS_LABEL):
                # one inbox file's problem is that file's: the other batches are still labelled
                for problem in problems or ["the run failed; see its logs in the Dagster UI"]:
                    tqdm.write(f"warning: {label} (run {result.run_id}): {problem}", file=sys.stderr)
                failed_batches.append(label)
                continue
            if problems or not result.success:
                print(f"\nStopped at {label} (run {result.run_id}):", file=sys.stderr)
                for problem in problems or ["the run failed; see its logs in the Dagster UI"]:
                    print(f"  - {problem}", file=sys.stderr)
                return 1
    minutes = (time.perf_counter() - started) / 60
    if failed_batches:
        print(
            f"\nEverything else materialized in {minutes:.1f} min, but these prediction batches failed (their rows are "
            f"as they were): {', '.join(failed_batches)}. Fix the files named above; the inbox sensor or the next "
            "command labels them.",
            file=sys.stderr,
        )
        return 1
    print(
        f"Materialized {len(plan)} runs in {minutes:.1f} min into DAGSTER_HOME={os.environ['DAGSTER_HOME']}. "
        f"Open the UI with `dagster dev -w workspace.yaml`; query the warehouse with "
        f"`duckdb -readonly {os.environ.get('AUGMENT_WAREHOUSE', 'data/warehouse.duckdb')}`.",
        file=sys.stderr,
    )
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="augment-assets", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("materialize", help="materialize the whole asset graph, every partition")
    run.add_argument(
        "--stage",
        action="append",
        choices=STAGES,
        help="only these stages (repeatable); default: all, in order",
    )
    run.add_argument(
        "--config",
        type=Path,
        help="a YAML run config, e.g. `ops: {synthetic_reviews: {config: {n: 200}}}` (asset names as op names)",
    )
    label = sub.add_parser("predict", help="label the reviews of a CSV (a `text` column) with a saved classifier")
    label.add_argument("file", type=Path, help="a CSV with a `text` column (an `id` or `review_id` column is kept)")
    label.add_argument(
        "-o", "--output", help="where to write the labelled rows (default: FILE_predictions.csv; - for stdout)"
    )
    label.add_argument(
        "--data-size", help="whose classifier: a data size of classifier_registry (default: the largest)"
    )
    args = parser.parse_args(argv)
    # SIGTERM (a scheduler, `kill`, a closed terminal) ends the run the way Ctrl-C does: Dagster marks it
    # failed and frees its pool slots, instead of leaving it STARTED.
    signal.signal(signal.SIGTERM, _interrupt)
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path("dagster_home").resolve())))
    home.mkdir(parents=True, exist_ok=True)
    if args.command == "materialize":
        stages = [s for s in STAGES if s in (args.stage or STAGES)]
        run_config = None
        if args.config:
            import yaml

            try:
                run_config = yaml.safe_load(args.config.read_text()) or {}
            except OSError as error:
                print(
                    f"--config {args.config}: cannot read it ({error.strerror or error}); nothing was run",
                    file=sys.stderr,
                )
                return 2
            except yaml.YAMLError as error:
                print(f"--config {args.config}: not valid YAML ({error}); nothing was run", file=sys.stderr)
                return 2
            problems = apply_env_settings(run_config, args.config)
            if problems:
                print(f"{args.config}: the run config has problems; nothing was run:", file=sys.stderr)
                for problem in problems:
                    print(f"  - {problem}", file=sys.stderr)
                return 2
        return materialize_all(stages, run_config)
    if args.command == "predict":
        from augment_assets.lib.errors import InputError
        from augment_assets.predict import predict_csv

        try:
            predict_csv(args.file, args.output, args.data_size)
        except InputError as error:
            print(f"Nothing was labelled: {error}", file=sys.stderr)
            return 2
        return 0
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
