"""Runs that died: found, ended and their pool slots freed, so a killed run never blocks the next.

`augment-assets materialize` executes each stage in its own process (Dagster's in-process
executor) and tags every run with that process's id and host. A run killed with SIGKILL
(or by the OOM killer, or a lost machine) stays `STARTED` in the instance and keeps the
pool slots (`warehouse`, `language_model`) its steps claimed; Dagster frees slots only
for runs in a finished state, and only from the daemon (`free_slots_after_run_end_seconds`),
which the command line does not run. So before any run starts, `end_dead_runs`:

- marks every unfinished run of this host whose process is gone as failed, saying so;
- frees the pool slots of every run that is finished (or was just ended).

Runs launched from the UI, a schedule or a sensor run in a run worker that Dagster's default
run launcher starts on this machine; Dagster records its pid ("Started process for run (pid:
N)"), and Dagster's run monitoring cannot check that launcher's workers. So `end_dead_runs`
reads that pid too, and the sensor `dead_run_recovery` (on by default; the daemon that
`dagster dev` starts runs it) does the same every minute for runs launched from the UI.

`pool_holders` says, before a stage waits on a pool, which run holds it, so a wait is never
silent.
"""

from __future__ import annotations

import os
import re
import socket

import dagster as dg

from augment_assets.lib.processes import process_alive

PID_TAG = "augment_assets/pid"
HOST_TAG = "augment_assets/host"
POOLS = ("warehouse", "language_model")


def process_tags() -> dict[str, str]:
    """Tags naming the process that executes a run (for `end_dead_runs`)."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


_WORKER_STARTED = re.compile(r"Started process for run \(pid: (\d+)\)")


def _run_worker_pid(instance: dg.DagsterInstance, run: dg.DagsterRun) -> int | None:
    """The pid of the process executing `run` on this machine, if known: the augment-assets command's
    tag, else the run worker Dagster's default launcher started (its engine event)."""
    if PID_TAG in run.tags:
        same_host = run.tags.get(HOST_TAG) == socket.gethostname()
        return int(run.tags[PID_TAG]) if same_host and run.tags[PID_TAG].isdigit() else None
    if type(instance.run_launcher).__name__ != "DefaultRunLauncher":
        return None  # another launcher's workers may live elsewhere: its own monitoring applies
    for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        message = record.dagster_event.message if record.dagster_event else record.user_message
        found = _WORKER_STARTED.search(message or "")
        if found:
            return int(found.group(1))
    return None


def end_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """End this machine's runs whose process is gone and free every pool slot a finished run holds.
    Returns what was done, one line each."""
    done = []
    for run in instance.get_runs(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING])
    ):
        pid = _run_worker_pid(instance, run)
        if pid is None or process_alive(pid):
            continue
        instance.report_run_failed(
            run,
            message=f"The process that ran this run (pid {pid}) is gone: it was killed or crashed. "
            "Marked failed by augment-assets, which freed its pool slots.",
        )
        done.append(
            f"run {run.run_id} ({run.tags.get('augment_assets/stage', run.job_name)}): its process "
            f"{pid} is gone; marked failed"
        )
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return done
    for run_id in sorted(storage.get_concurrency_run_ids()):
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            storage.free_concurrency_slots_for_run(run_id)
            done.append(f"freed the pool slots of run {run_id} ({'gone' if run is None else run.status.value})")
    return done


def pool_holders(instance: dg.DagsterInstance, pools=POOLS) -> list[str]:
    """One line per pool slot held by another run: which run, its status and how to free it."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    lines = []
    for pool in pools:
        info = storage.get_concurrency_info(pool)
        for run_id in sorted(info.active_run_ids):
            run = instance.get_run_by_id(run_id)
            status = "unknown" if run is None else run.status.value
            lines.append(
                f"pool {pool} is held by run {run_id} ({status}); this stage waits until that run's step ends. "
                "A run whose augment-assets process is gone is ended and its slot freed at the next start; "
                "a run launched from the UI is ended there (Runs -> Terminate)."
            )
    return lines


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def dead_run_recovery(context: dg.SensorEvaluationContext):
    """Ends runs whose process is gone and frees the pool slots of finished runs, so a run killed
    while launched from the UI does not block the next one (see the module docstring)."""
    done = end_dead_runs(context.instance)
    return dg.SkipReason("; ".join(done) if done else "no dead run holds a slot")
