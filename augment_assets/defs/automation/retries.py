"""Retries for transient failures, never for a user's error.

A fine-tune or a generation partition is minutes of both cores, and the failures worth a second try
are transient (a worker's memory spike, a file system hiccup, a lost Celery worker): the model steps
retry with backoff. Bad input or settings (`InputError`) would fail the same way every time, so they
become a `dg.Failure(allow_retries=False)`: one failure, its message intact, no retry. So does an
interruption (Ctrl-C, SIGTERM, a terminated run), which Dagster would otherwise retry under the
step's policy: the user asked the step to stop. The signal is also raised again until the step ends, and
any error after it counts as the interruption (lib/interrupts.py says why). Whole runs are
retried by the daemon (`run_retries` in dagster_home/dagster.yaml) only when the run itself died, not
when a step failed (`retry_on_asset_or_op_failure: false`): a step's own policy decides that.
"""

import functools

import dagster as dg

from augment_assets.lib.errors import InputError
from augment_assets.lib.interrupts import interrupts_stick

MODEL_STEP_RETRIES = dg.RetryPolicy(
    max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


def user_errors_not_retried(fn):
    """Wraps an asset function: an `InputError` it raises, or an interruption, fails the step without a
    retry; the error stays the failure's cause, so the CLI and the UI still show the project's own message."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with interrupts_stick() as interrupted:
            try:
                return fn(*args, **kwargs)
            except InputError as error:
                raise dg.Failure(description=str(error), allow_retries=False) from error
            except (KeyboardInterrupt, dg.DagsterExecutionInterruptedError) as interrupt:
                raise dg.Failure(
                    description=f"interrupted ({interrupt or 'stop requested'}); not retried", allow_retries=False
                ) from interrupt
            except Exception as error:
                if not interrupted():
                    raise
                # a library wrapped the interruption in its own error: still the user's stop, not a transient fault
                raise dg.Failure(
                    description=f"interrupted (then {type(error).__name__}: {error}); not retried",
                    allow_retries=False,
                ) from error

    return wrapper
