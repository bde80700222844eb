"""The demo's synthetic partitions through the Celery executor, checked.

With Redis and the workers up (`bash scripts/celery.sh start`), this
1. materializes what the synthetic partitions read (ingest, every generator) in-process, unless
   `--skip-upstream`;
2. launches every synthetic partition with `dagster asset materialize` and `AUGMENT_EXECUTOR=celery`,
   `--parallel` at a time (default 2: both workers get work, and the pools must serialize it);
3. checks, from the Dagster instance and the warehouse, that every run succeeded, that each step was
   submitted to Celery and executed in a worker process (not in the launching one), that no two
   generations ran at once (the windows in which each step held the machine's language-model lock
   never overlap; steps the `language_model` pool let start together are reported), and that every
   partition's reviews are in the warehouse;
4. prints the wall time of step 2 (`--in-process` times the same partitions in-process instead, for
   comparison).
Exit status 0 when every check holds, 1 otherwise.

Usage: python scripts/celery_demo.py [--parallel 2] [--skip-upstream] [--config-json '{...}'] [--in-process]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _materialize(key: str, executor: str, config_json: str | None) -> tuple[str, int, str]:
    command = [
        str(BIN / "dagster"),
        "asset",
        "materialize",
        "-m",
        "augment_assets.definitions",
        "--select",
        "synthetic_reviews",
        "--partition",
        key,
    ]
    if config_json:
        command += ["--config-json", config_json]
    env = {**os.environ, "AUGMENT_EXECUTOR": executor}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    return key, done.returncode, done.stdout[-3000:] + done.stderr[-3000:]


def _step_windows(instance, run_ids) -> list[tuple[float, float, str]]:
    """(start, end, run) of each run's synthetic_reviews step, from its STEP_START to its end."""
    import dagster as dg

    windows = []
    for run_id in run_ids:
        start = end = None
        for record in instance.all_logs(run_id):
            event = record.dagster_event
            if event is None or event.step_key != "synthetic_reviews":
                continue
            if event.event_type == dg.DagsterEventType.STEP_START:
                start = record.timestamp
            elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
                end = record.timestamp
        windows.append((start, end, run_id))
    return windows


def _lock_windows(instance, run_ids) -> list[tuple[float, float | None, str]]:
    """(start, end, run) of every stretch a run's step held the machine's language-model lock,
    from the messages `LanguageModelResource.exclusive` logs (end None: never released)."""
    from augment_assets.defs.generate.resources import MODEL_LOCK_HELD, MODEL_LOCK_RELEASED

    windows = []
    for run_id in run_ids:
        held = None
        for record in instance.all_logs(run_id):
            message = record.user_message or ""
            if message.startswith(MODEL_LOCK_HELD):
                held = record.timestamp
            elif message.startswith(MODEL_LOCK_RELEASED) and held is not None:
                windows.append((held, record.timestamp, run_id))
                held = None
        if held is not None:
            windows.append((held, None, run_id))
    return windows


def _overlaps(windows) -> list[tuple[str, str]]:
    ordered = sorted(windows, key=lambda w: w[0] or 0)
    return [(r1, r2) for (s1, e1, r1), (s2, _e2, r2) in zip(ordered, ordered[1:]) if None in (s1, e1, s2) or s2 < e1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--skip-upstream", action="store_true")
    parser.add_argument("--config-json", help="run config for synthetic_reviews, e.g. to make fewer reviews")
    parser.add_argument(
        "--in-process", action="store_true", help="run the partitions in-process instead (the comparison)"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("DAGSTER_HOME", str(ROOT / "dagster_home"))
    executor = "in_process" if args.in_process else "celery"

    if not args.skip_upstream:
        code = subprocess.run(
            [str(BIN / "augment-assets"), "materialize", "--stage", "ingest", "--stage", "generators"], cwd=ROOT
        ).returncode
        if code:
            print(f"celery_demo: the upstream stages failed (status {code})", file=sys.stderr)
            return 1

    import dagster as dg

    from augment_assets.defs.partitions import synthetic_partitions
    from augment_assets.lib.warehouse import Warehouse

    keys = synthetic_partitions.get_partition_keys()
    with dg.DagsterInstance.get() as instance:
        before = {r.run_id for r in instance.get_runs()}
    print(f"celery_demo: {len(keys)} synthetic partitions, {args.parallel} at a time, executor {executor}", flush=True)
    started = time.perf_counter()
    with ThreadPoolExecutor(args.parallel) as pool:
        outcomes = list(pool.map(lambda k: _materialize(k, executor, args.config_json), keys))
    wall = time.perf_counter() - started
    problems = [f"{key}: `dagster asset materialize` exited {code}:\n{tail}" for key, code, tail in outcomes if code]

    with dg.DagsterInstance.get() as instance:
        runs = [r for r in instance.get_runs() if r.run_id not in before]
        problems += [f"run {r.run_id} ended {r.status.value}" for r in runs if r.status != dg.DagsterRunStatus.SUCCESS]
        if len(runs) != len(keys):
            problems.append(f"{len(runs)} runs recorded for {len(keys)} partitions")
        for run in runs:
            logs = instance.all_logs(run.run_id)
            submitted = any(
                "Submitting celery task" in (r.dagster_event.message or "") for r in logs if r.dagster_event
            )
            if executor == "celery" and not submitted:
                problems.append(f"run {run.run_id}: no step was submitted to Celery")
            pids = {
                r.dagster_event.pid
                for r in logs
                if r.dagster_event
                and r.dagster_event.step_key == "synthetic_reviews"
                and r.dagster_event.event_type == dg.DagsterEventType.STEP_START
            }
            run_pids = {
                r.dagster_event.pid
                for r in logs
                if r.dagster_event and r.dagster_event.event_type == dg.DagsterEventType.RUN_START
            }
            if executor == "celery" and pids & run_pids:
                problems.append(f"run {run.run_id}: the step ran in the launching process, not a worker")
        run_ids = [r.run_id for r in runs]
        # What must hold: no two generations computed at once. The pool is Dagster's schedule; on the
        # SQLite instance two runs can win the same slot (lib/machine_lock.py), and the file lock then
        # keeps the second step waiting. Both are reported; only the lock's windows must never overlap.
        locks = _lock_windows(instance, run_ids)
        if len(locks) < len(runs):
            problems.append(f"{len(locks)} language-model lock windows logged for {len(runs)} runs")
        for r1, r2 in _overlaps(locks):
            problems.append(f"runs {r1} and {r2} generated at the same time: the language-model lock did not hold")
        raced = _overlaps(_step_windows(instance, run_ids))
    if raced:
        print(
            f"celery_demo: {len(raced)} pair(s) of steps were started together by Dagster's pool "
            "(a SQLite slot claim race); the lock kept their generations apart",
            flush=True,
        )
    stored = Warehouse(os.environ.get("AUGMENT_WAREHOUSE", str(ROOT / "data" / "warehouse.duckdb"))).read_table(
        "synthetic_reviews"
    )
    partitions = set(stored["generator"] + "|" + stored["temperature"].astype(str)) if len(stored) else set()
    print(
        f"celery_demo: {len(stored)} synthetic reviews in the warehouse over {len(partitions)} generator x temperature cells",
        flush=True,
    )
    if len(partitions) < len(keys):
        problems.append(f"the warehouse holds {len(partitions)} of {len(keys)} partitions")
    print(f"celery_demo: wall time of the {len(keys)} partitions ({executor}): {wall:.1f} s")
    if problems:
        print("celery_demo: FAILED", *problems, sep="\n  - ", file=sys.stderr)
        return 1
    where = "steps in Celery workers" if executor == "celery" else "steps in-process"
    print(f"celery_demo: ok ({len(runs)} runs succeeded; {where}; no two generations overlapped)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
