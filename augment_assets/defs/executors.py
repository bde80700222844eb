"""Where a run's steps execute, chosen by `AUGMENT_EXECUTOR` when the definitions load.

- `in_process` (default): every step inside the run's own process. A killed run (`dagster asset
  materialize`, a UI run's worker) leaves no orphaned step process behind still fine-tuning and
  holding a pool slot; the pools allow one model step at a time anyway.
- `celery`: each step is a Celery task run by a `dagster-celery` worker (`make celery-workers`),
  with Redis as broker and result backend. The URLs come from the environment
  (`AUGMENT_CELERY_BROKER`, `AUGMENT_CELERY_BACKEND`; default Redis on 127.0.0.1:6379), read by the
  same names in `configs/celery_worker.yaml`, so runs and workers cannot disagree. Pools still hold:
  the Celery executor claims the instance's pool slots before it submits a step.
"""

import os

import dagster as dg

from augment_assets.lib.errors import InputError

EXECUTORS = ("in_process", "celery")
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
# A worker killed in the middle of a step (SIGKILL, out of memory) must not lose the step silently:
# with late acknowledgement the broker hands the task to the other worker instead of the run
# waiting for a result that never comes. One task per worker process at a time (prefetch 1): a
# model step saturates the machine's cores.
CELERY_SETTINGS = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    "broker_connection_retry_on_startup": True,
}


def celery_broker() -> str:
    return os.environ.get("AUGMENT_CELERY_BROKER", DEFAULT_REDIS)


def executor_from_environment() -> dg.ExecutorDefinition:
    name = os.environ.get("AUGMENT_EXECUTOR", "in_process")
    if name == "in_process":
        return dg.in_process_executor
    if name == "celery":
        from dagster_celery import celery_executor

        os.environ.setdefault("AUGMENT_CELERY_BROKER", DEFAULT_REDIS)
        os.environ.setdefault("AUGMENT_CELERY_BACKEND", os.environ["AUGMENT_CELERY_BROKER"])
        return celery_executor.configured(
            {
                "broker": {"env": "AUGMENT_CELERY_BROKER"},
                "backend": {"env": "AUGMENT_CELERY_BACKEND"},
                "config_source": CELERY_SETTINGS,
            },
            name="celery",
        )
    raise InputError(f"AUGMENT_EXECUTOR={name!r} is not an executor; use one of {', '.join(EXECUTORS)} (unset: in_process)")
