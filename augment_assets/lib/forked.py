"""Independent CPU work on every core: forked worker processes that share the parent's state.

The evaluation's thousands of small fits are numpy and scikit-learn work in one thread each (BLAS threads only
add contention at their sizes: docs/results.md, "BLAS threads in the evaluation"), so one process leaves every
other core idle. `forked_map` runs the pieces on forked workers: a worker inherits everything the parent built
(the tokenized corpus, the training sets) without pickling it, and sends back only its piece's result.

Workers are forked, so this is for numpy and scikit-learn work, not for torch (whose thread pool a fork does not
carry); where fork is unavailable (Windows, and macOS, where it is unsafe), or one worker is asked for, the pieces
run in this process, in order. A worker ignores SIGINT (the parent's interruption ends the pool), dies with
SIGTERM, and is killed with the parent (Linux: PR_SET_PDEATHSIG), so a killed step leaves no worker behind.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence

# (function, tasks, parent pid) of the map in flight: what forked workers inherit and look up by task index
_JOB: tuple[Callable, Sequence, int] | None = None


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def forks(workers: int, n_tasks: int) -> bool:
    """Whether `forked_map` runs these tasks on forked workers (else in this process)."""
    return (
        workers > 1
        and n_tasks > 1
        and sys.platform.startswith("linux")
        and "fork" in multiprocessing.get_all_start_methods()
    )


def forked_map(
    fn: Callable,
    tasks: Sequence,
    workers: int,
    cost: Callable | None = None,
    on_result: Callable[[int, object], None] | None = None,
) -> list:
    """`[fn(task) for task in tasks]`, on up to `workers` forked processes (see `forks`).

    `cost(task)`: a relative cost; the costliest tasks are handed out first, so the last to finish is a small
    one. `on_result(index, result)` is called in this process as each task finishes (in finishing order).
    An exception in a task ends the map and is raised here; the workers are ended whatever happens."""
    global _JOB
    if not forks(workers, len(tasks)):
        results = []
        for i, task in enumerate(tasks):
            results.append(fn(task))
            if on_result is not None:
                on_result(i, results[-1])
        return results
    order = list(range(len(tasks)))
    if cost is not None:
        order.sort(key=lambda i: -cost(tasks[i]))  # stable: equal costs keep their order
    results: list = [None] * len(tasks)
    _JOB = (fn, tasks, os.getpid())
    pool = multiprocessing.get_context("fork").Pool(min(workers, len(tasks)), initializer=_worker_started)
    try:
        for i, value in pool.imap_unordered(_run_task, order):
            results[i] = value
            if on_result is not None:
                on_result(i, value)
        pool.close()
    finally:
        pool.terminate()
        pool.join()
        _JOB = None
    return results


def _run_task(i: int):
    fn, tasks, _ = _JOB
    return i, fn(tasks[i])


def _worker_started() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:  # PR_SET_PDEATHSIG = 1: the kernel kills this worker when the parent dies, even by SIGKILL
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != _JOB[2]:  # the parent died before the line above took effect
        os._exit(1)
