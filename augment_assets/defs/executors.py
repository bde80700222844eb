"""Where a run's steps execute, chosen by `AUGMENT_EXECUTOR` when the definitions load.

- `in_process` (default): every step inside the run's own process. A killed run (`dagster asset
  materialize`, a UI run's worker) leaves no orphaned step process behind still fine-tuning and
  holding a pool slot; the pools allow one model step at a time anyway.
- `celery`: each step is a Celery task run by a `dagster-celery` worker (`bash scripts/celery.sh
  start`), with Redis as broker and result backend. The URLs come from the environment
  (`AUGMENT_CELERY_BROKER`, `AUGMENT_CELERY_BACKEND`; default Redis on 127.0.0.1:6379). The workers'
  Celery app (augment_assets/celery_app.py) is built from `celery_app_args()` below, the same
  settings the runs' executor gets, so runs and workers cannot disagree. Pools still hold: the
  Celery executor claims the instance's pool slots before it submits a step.
"""

import os
import time

import dagster as dg

from augment_assets.lib.errors import InputError

EXECUTORS = ("in_process", "celery")
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
# A worker killed in the middle of a step (SIGKILL, out of memory) must not lose the step silently:
# with late acknowledgement the broker hands the task to the other worker instead of the run
# waiting for a result that never comes. One task per worker process at a time (prefetch 1): a
# model step saturates the machine's cores.
# A broker or result store that is down must fail the run within seconds, not leave it waiting:
# bounded publish retries and connection timeouts.
CELERY_SETTINGS = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    "broker_connection_retry_on_startup": True,
    "broker_connection_timeout": 5,
    "broker_transport_options": {"max_retries": 3, "interval_start": 0, "interval_step": 1, "interval_max": 2},
    "task_publish_retry_policy": {"max_retries": 3, "interval_start": 0, "interval_step": 1, "interval_max": 2},
    "redis_socket_connect_timeout": 5,
    "result_backend_transport_options": {"retry_policy": {"timeout": 10.0}},
    # The result store then says which worker holds a running step, so a lost worker is noticed.
    "task_track_started": True,
}
WORKER_LOST_S = 30  # a step's worker unanswering this long (or no worker at all) fails the run
PING_EVERY_S = 10


def celery_app_args() -> dict:
    """Broker, result backend and settings of the Celery app, for the executor and the workers alike."""
    broker = os.environ.get("AUGMENT_CELERY_BROKER", DEFAULT_REDIS)
    return {
        "broker": broker,
        "backend": os.environ.get("AUGMENT_CELERY_BACKEND", broker),
        "config_source": CELERY_SETTINGS,
    }


class LostWorker(RuntimeError):
    pass


class _WatchedResult:
    """A step's Celery result whose `ready()` also fails when the worker executing it (or every
    worker, while it waits in the queue) stops answering pings: the run then fails naming the worker
    instead of waiting for a result that will never come."""

    def __init__(self, result, app, step_key: str):
        self._result, self._app, self._step_key = result, app, step_key
        self._last_ping = 0.0
        self._silent_since = None

    def __getattr__(self, name):
        return getattr(self._result, name)

    def ready(self) -> bool:
        if self._result.ready():
            return True
        now = time.monotonic()
        if now - self._last_ping >= PING_EVERY_S:
            self._last_ping = now
            answering = {name for reply in (self._app.control.ping(timeout=2.0) or []) for name in reply}
            info = self._result.info if self._result.state == "STARTED" else None
            holder = info.get("hostname") if isinstance(info, dict) else None
            alive = holder in answering if holder else bool(answering)
            self._silent_since = None if alive else (self._silent_since or now)
            if self._silent_since is not None and now - self._silent_since >= WORKER_LOST_S:
                silent = (
                    f"the Celery worker {holder} running it has not answered for {WORKER_LOST_S} s"
                    if holder
                    else f"no Celery worker has answered for {WORKER_LOST_S} s"
                )
                raise LostWorker(
                    f"step {self._step_key}: {silent}; the run is failed and its pool slots freed. "
                    f"Start workers with `bash scripts/celery.sh start` and re-run the partition."
                )
        return False


def _celery_executor_class():
    from dagster_celery.executor import CeleryExecutor, _submit_task

    class WatchedCeleryExecutor(CeleryExecutor):
        """dagster-celery's executor, with two guarantees added: a lost worker fails the run
        (`_WatchedResult`), and a run that ends in any way (a broker that is down fails the task's
        submission) frees the pool slots it claimed, which dagster-celery leaves held until the
        daemon's run monitoring frees them."""

        def execute(self, plan_context, execution_plan):
            from dagster_celery.core_execution_loop import core_celery_execution_loop

            def submit(app, context, step, queue, priority, known_state):
                return _WatchedResult(_submit_task(app, context, step, queue, priority, known_state), app, step.key)

            try:
                yield from core_celery_execution_loop(plan_context, execution_plan, step_execution_fn=submit)
            finally:
                plan_context.instance.event_log_storage.free_concurrency_slots_for_run(plan_context.run_id)

    return WatchedCeleryExecutor


def executor_from_environment() -> dg.ExecutorDefinition:
    name = os.environ.get("AUGMENT_EXECUTOR", "in_process")
    if name == "in_process":
        return dg.in_process_executor
    if name == "celery":
        from dagster._core.execution.retries import RetryMode
        from dagster_celery.executor import CELERY_CONFIG

        @dg.executor(
            name="celery", config_schema=CELERY_CONFIG, requirements=dg.multiple_process_executor_requirements()
        )
        def celery(init_context):
            config = init_context.executor_config
            return _celery_executor_class()(
                broker=config.get("broker"),
                backend=config.get("backend"),
                include=config.get("include"),
                config_source=config.get("config_source"),
                retries=RetryMode.from_config(config["retries"]),
            )

        return celery.configured(celery_app_args(), name="celery")
    raise InputError(
        f"AUGMENT_EXECUTOR={name!r} is not an executor; use one of {', '.join(EXECUTORS)} (unset: in_process)"
    )
