"""lib/forked.py: independent pieces of CPU work on forked workers, in order, ended whatever happens."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from augment_assets.lib.errors import InputError
from augment_assets.lib.forked import WorkerDied, forked_map, forks
from augment_assets.lib.processes import process_alive

REPO = Path(__file__).resolve().parents[1]
needs_fork = pytest.mark.skipif(not forks(2, 2), reason="forked workers need Linux's fork")


def _square_and_pid(x: int) -> tuple[int, int]:
    time.sleep(0.05 * (x % 3))  # unequal durations: tasks finish out of order
    return x * x, os.getpid()


@needs_fork
def test_results_come_back_in_task_order_from_other_processes():
    seen = []
    results = forked_map(
        _square_and_pid, list(range(9)), 2, cost=lambda x: x % 3, on_result=lambda i, r: seen.append(i)
    )
    assert [r[0] for r in results] == [x * x for x in range(9)]
    assert os.getpid() not in {pid for _, pid in results}
    assert sorted(seen) == list(range(9))
    assert multiprocessing.active_children() == []


def test_one_worker_runs_in_this_process_in_order():
    seen = []
    results = forked_map(_square_and_pid, [3, 1, 2], 1, on_result=lambda i, r: seen.append(i))
    assert results == [(9, os.getpid()), (1, os.getpid()), (4, os.getpid())]
    assert seen == [0, 1, 2]


def _fails_on_two(x: int) -> int:
    if x == 2:
        raise InputError(f"task {x} is bad")
    return x


@needs_fork
def test_an_error_in_a_task_is_raised_here_and_ends_the_workers():
    with pytest.raises(InputError, match="task 2 is bad"):
        forked_map(_fails_on_two, [0, 1, 2, 3], 2)
    assert multiprocessing.active_children() == []


def _killed_on_one(x: int) -> int:
    if x == 1:
        os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would
    time.sleep(0.2)
    return x


@needs_fork
def test_a_worker_that_dies_fails_the_map_instead_of_hanging():
    started = time.monotonic()
    with pytest.raises(WorkerDied, match="fewer workers"):
        forked_map(_killed_on_one, [0, 1, 2, 3], 2)
    assert time.monotonic() - started < 30
    assert multiprocessing.active_children() == []


HOLDER = """
import os, sys, time
sys.path.insert(0, {repo!r})
from augment_assets.lib.forked import forked_map

def hold(x):
    with open({out!r} + f".{{os.getpid()}}", "w") as f:
        f.write(str(os.getpid()))
    time.sleep(300)
    return x

forked_map(hold, [0, 1], 2)
"""


@needs_fork
def test_workers_die_with_a_killed_parent(tmp_path):
    """A step killed by SIGKILL (no handler runs) must not leave its workers fitting on."""
    out = tmp_path / "worker"
    parent = subprocess.Popen([sys.executable, "-c", HOLDER.format(repo=str(REPO), out=str(out))])
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("worker.*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = [int(p.read_text()) for p in tmp_path.glob("worker.*")]
        assert len(workers) == 2 and parent.pid not in workers
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(process_alive(pid) and not _zombie(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(process_alive(pid) and not _zombie(pid) for pid in workers)
    finally:
        parent.kill()
        parent.wait()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return False
