"""A long step's interruption cannot be lost: raised again until the step ends, and never retried."""

import os
import signal
import threading
import time

import dagster as dg
import pytest

from augment_assets.defs.automation.retries import user_errors_not_retried
from augment_assets.lib.interrupts import interrupts_stick


class Stop(BaseException):
    """What the handler installed before the block raises (Dagster's raises DagsterExecutionInterruptedError)."""


@pytest.fixture
def raising_handlers():
    def raise_stop(signum, frame):
        raise Stop(signum)

    previous = {s: signal.signal(s, raise_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, h in previous.items():
        signal.signal(s, h)


def _sigterm_in(seconds: float) -> None:
    threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGTERM)).start()


def test_a_swallowed_interruption_is_raised_again_until_the_block_ends(raising_handlers):
    swallowed = 0
    started = time.monotonic()
    with pytest.raises(Stop):
        with interrupts_stick(repeat_s=0.3) as interrupted:
            _sigterm_in(0.1)
            while time.monotonic() - started < 20:
                try:
                    time.sleep(0.01)
                except Stop:
                    if swallowed == 0:  # a finalizer or a library that ate the first one
                        swallowed += 1
                        continue
                    raise
    assert swallowed == 1 and interrupted()
    assert time.monotonic() - started < 5
    assert signal.getsignal(signal.SIGTERM).__name__ == "raise_stop"  # the handlers before the block are back


def test_no_signal_no_repeat_and_the_handlers_are_restored(raising_handlers):
    before = signal.getsignal(signal.SIGINT)
    with interrupts_stick(repeat_s=0.05) as interrupted:
        time.sleep(0.3)
    assert not interrupted()
    assert signal.getsignal(signal.SIGINT) is before


def test_an_error_after_an_interruption_is_not_retried(raising_handlers):
    @user_errors_not_retried
    def step():
        _sigterm_in(0.05)
        try:
            time.sleep(5)
        except Stop as stop:  # a library that wraps what it catches in its own error
            raise RuntimeError("weights could not be loaded") from stop

    with pytest.raises(dg.Failure) as failure:
        step()
    assert failure.value.allow_retries is False
    assert "interrupted (then RuntimeError: weights could not be loaded)" in failure.value.description


def test_an_error_without_an_interruption_stays_retriable(raising_handlers):
    @user_errors_not_retried
    def step():
        raise RuntimeError("a transient fault")

    with pytest.raises(RuntimeError, match="a transient fault"):
        step()
