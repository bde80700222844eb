"""The machine's file locks: one process at a time, whatever Dagster's pool storage allows."""

import subprocess
import sys
import time

import pytest

from augment_assets.defs.generate.resources import (
    MODEL_LOCK_HELD,
    MODEL_LOCK_RELEASED,
    LanguageModelResource,
    holds_model_lock,
)
from augment_assets.lib.errors import InputError
from augment_assets.lib.machine_lock import held_exclusively

HOLD_FOR = """
import sys, time
from augment_assets.lib.machine_lock import held_exclusively
with held_exclusively(sys.argv[1]):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""

TRY_NOW = """
import fcntl, sys
with open(sys.argv[1], "a+") as handle:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("busy")
    else:
        print("free")
"""


def _holder(path, seconds):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_FOR, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_process_waits_until_the_first_releases(tmp_path):
    path = tmp_path / "deep" / "x.lock"
    holder = _holder(path, 1.5)
    waits = []
    started = time.monotonic()
    with held_exclusively(path, on_wait=waits.append) as waited:
        pass
    holder.wait()
    assert waited >= 1.0 and time.monotonic() - started >= 1.0
    assert len(waits) == 1 and str(path) in waits[0]
    with held_exclusively(path, on_wait=waits.append) as waited:  # free now: no wait, no message
        assert waited < 0.5
    assert len(waits) == 1


class _Log:
    def __init__(self):
        self.messages = []

    def info(self, message):
        self.messages.append(message)


class _Context:
    def __init__(self):
        self.log = _Log()


def test_a_model_step_computes_under_the_lock_and_logs_its_window(tmp_path):
    language_model = LanguageModelResource(models_dir=str(tmp_path / "models"), lock_dir=str(tmp_path / "locks"))
    seen = {}

    @holds_model_lock
    def step(context, language_model):
        seen["during"] = subprocess.run(
            [sys.executable, "-c", TRY_NOW, str(language_model.lock_path)], capture_output=True, text=True
        ).stdout.strip()
        return "done"

    context = _Context()
    assert step(context, language_model=language_model) == "done"
    assert seen["during"] == "busy"
    after = subprocess.run(
        [sys.executable, "-c", TRY_NOW, str(language_model.lock_path)], capture_output=True, text=True
    )
    assert after.stdout.strip() == "free"
    assert context.log.messages[0].startswith(MODEL_LOCK_HELD)
    assert context.log.messages[-1].startswith(MODEL_LOCK_RELEASED)


def test_a_failing_model_step_releases_the_lock(tmp_path):
    language_model = LanguageModelResource(models_dir=str(tmp_path / "models"), lock_dir=str(tmp_path / "locks"))

    @holds_model_lock
    def step(context, language_model):
        raise RuntimeError("out of memory")

    context = _Context()
    try:
        step(context, language_model)
    except RuntimeError:
        pass
    else:
        raise AssertionError("the step's error was swallowed")
    after = subprocess.run(
        [sys.executable, "-c", TRY_NOW, str(language_model.lock_path)], capture_output=True, text=True
    )
    assert after.stdout.strip() == "free"
    assert context.log.messages[-1].startswith(MODEL_LOCK_RELEASED)


def test_an_unwritable_lock_dir_is_named_with_what_to_do(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    language_model = LanguageModelResource(models_dir=str(tmp_path / "models"), lock_dir=str(blocker / "locks"))

    @holds_model_lock
    def step(context, language_model):
        raise AssertionError("the step ran without its lock")

    with pytest.raises(InputError, match=r"AUGMENT_LOCK_DIR at a writable folder") as error:
        step(_Context(), language_model)
    assert str(blocker / "locks") in str(error.value)
