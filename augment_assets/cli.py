"""`augment-assets materialize`: the whole asset graph, every partition, in one command.

`dagster asset materialize` cannot run assets with different partitions definitions in
one call and has no "all partitions" flag (design.md), so this runs the graph stage by
stage — ingest, then one run per sentiment, one per sentiment x temperature, then
evaluation — each an in-process run recorded in the Dagster instance at DAGSTER_HOME,
so every run, materialization and check result shows in `dagster dev` afterwards.
A failed step or a failed blocking leakage check stops the command with exit status 1;
tables already published stay as they were.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

STAGES = ("ingest", "generators", "synthetic", "evaluate")


def _plan(stages: list[str]):
    from augment_assets.defs.generate.partitions import sentiment_partitions, synthetic_partitions

    import dagster as dg

    plan = []
    if "ingest" in stages:
        plan.append(("ingest", dg.AssetSelection.groups("ingest"), None))
    if "generators" in stages:
        for key in sentiment_partitions.get_partition_keys():
            plan.append((f"generators[{key}]", dg.AssetSelection.assets("prompt_table", "sentiment_generator"), key))
    if "synthetic" in stages:
        for key in synthetic_partitions.get_partition_keys():
            plan.append((f"synthetic_reviews[{key}]", dg.AssetSelection.assets("synthetic_reviews"), key))
    if "evaluate" in stages:
        plan.append(("evaluate", dg.AssetSelection.groups("evaluate"), None))
    return plan


def _root_message(error) -> str:
    """The innermost cause: the project's own error message, not Dagster's wrapper."""
    while error is not None and error.cause is not None:
        error = error.cause
    return error.message.strip() if error else "unknown error"


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


def materialize_all(stages: list[str]) -> int:
    from tqdm import tqdm

    import dagster as dg
    from augment_assets.definitions import build_definitions

    defs = build_definitions()
    resolved = defs.resolve_all_asset_specs()  # noqa: F841  (fails fast on a broken graph)
    assets = [*defs.assets, *defs.asset_checks]
    instance = dg.DagsterInstance.get()
    plan = _plan(stages)
    started = time.perf_counter()
    with tqdm(plan, desc="augment-assets", unit="run", file=sys.stderr) as bar:
        for label, selection, partition_key in bar:
            bar.set_postfix_str(label)
            result = dg.materialize(
                assets,
                selection=selection,
                partition_key=partition_key,
                instance=instance,
                resources=defs.resources,
                raise_on_error=False,
                # INFO keeps Dagster's own step-by-step DEBUG events out of the terminal;
                # they are all still in the instance and the UI.
                run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
                tags={"augment_assets/stage": label.split("[")[0]},
            )
            problems = run_problems(result)
            if problems or not result.success:
                print(f"\nStopped at {label} (run {result.run_id}):", file=sys.stderr)
                for problem in problems or ["the run failed; see its logs in the Dagster UI"]:
                    print(f"  - {problem}", file=sys.stderr)
                return 1
    minutes = (time.perf_counter() - started) / 60
    print(
        f"Materialized {len(plan)} runs in {minutes:.1f} min into DAGSTER_HOME={os.environ['DAGSTER_HOME']}. "
        f"Open the UI with `dagster dev -w workspace.yaml`; query the warehouse with "
        f"`duckdb -readonly {os.environ.get('AUGMENT_WAREHOUSE', 'data/warehouse.duckdb')}`.",
        file=sys.stderr,
    )
    return 0


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
    args = parser.parse_args(argv)
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path("dagster_home").resolve())))
    home.mkdir(parents=True, exist_ok=True)
    if args.command == "materialize":
        stages = [s for s in STAGES if s in (args.stage or STAGES)]
        return materialize_all(stages)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
