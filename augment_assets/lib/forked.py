"""Independent CPU work on every core: forked worker processes that share the parent's state.

The evaluation's thousands of small fits are numpy and scikit-learn work in one thread each (BLAS threads only
add contention at their sizes: docs/results.md, "BLAS threads in the evaluation"), so one process leaves every
other core idle. `forked_map` runs the pieces on forked workers: a worker inherits everything the parent built
(the tokenized corpus, the training sets) without pickling it, and sends back only its piece's result.

Workers are forked, so this is for numpy and scikit-learn work, not for torch (whose thread pool a fork does not
carry); where fork is unavailable (Windows, and macOS, where it is unsafe), or one worker is asked for, the pieces
run in this process, in order. The parent's objects are frozen out of the garbage collector before the fork, so
no worker finalizes the parent's leftovers (a database connection, say) through inherited files. A worker ignores
SIGINT (the parent's interruption ends the pool), dies with SIGTERM, and is killed with the parent (Linux:
PR_SET_PDEATHSIG), so a killed step leaves no worker behind; a worker that dies (out of memory, say) fails the map
with `WorkerDied` instead of leaving it waiting.
"""

from __future__ import annotations

import ctypes
import gc
import math
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

# In a worker: (function, tasks, parent pid) of the map that forked it, looked up by task index.
_JOB: tuple[Callable, Sequence, int] | None = None


class WorkerDied(RuntimeError):
    """A forked worker ended without its result (killed, or out of memory)."""


def cores() -> int:
    """CPU cores this process may use: its affinity, capped by a cgroup's CPU quota (a container's CPU limit)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return n


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
    gc.collect()
    gc.freeze()
    pool, processes, completed = None, [], False
    try:
        pool = ProcessPoolExecutor(
            min(workers, len(tasks)),
            mp_context=multiprocessing.get_context("fork"),
            initializer=_worker_started,
            initargs=((fn, tasks, os.getpid()),),  # forked, not pickled
        )
        pending = {pool.submit(_run_task, i): i for i in order}  # handed out in this order
        processes = list(pool._processes.values())  # all forked at the first submit (fork: none later)
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                i = pending.pop(future)
                try:
                    results[i] = future.result()
                except BrokenProcessPool as error:
                    raise WorkerDied(
                        "a forked worker died without its result (out of memory, or killed): run with fewer "
                        "workers (classifier_metrics' `workers`; 1 runs everything in the step's own process)"
                    ) from error
                if on_result is not None:
                    on_result(i, results[i])
        completed = True
    finally:
        if pool is not None:
            if not completed:  # ended early (an error, an interruption): a worker may still be fitting
                for process in processes:
                    if process.is_alive():
                        process.kill()
            pool.shutdown(wait=True, cancel_futures=True)  # its own thread joins every worker
        gc.unfreeze()
    return results


def _run_task(i: int):
    fn, tasks, _ = _JOB
    return fn(tasks[i])


def _worker_started(job: tuple[Callable, Sequence, int]) -> None:
    global _JOB
    _JOB = job
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:  # PR_SET_PDEATHSIG = 1: the kernel kills this worker when the parent dies, even by SIGKILL
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != job[2]:  # the parent died before the line above took effect
        os._exit(1)
