"""Giving the memory a model step freed back to the system.

glibc may keep freed memory in its heap for the process to reuse: two fine-tunes of 48 reviews, called one after
the other in a plain process, left 4.8 GB resident each, 0.6 GB after `malloc_trim` (docs/results.md, "Memory
between model steps"). `augment-assets materialize` runs every step in one process, so a step could start with the
last one's leftovers resident, and the machine's other processes (the webserver, a Celery worker) would see them
as used. Cheap where there is nothing to give back (the demo's steps ended at 1.1-1.7 GB either way).
"""

import ctypes
import ctypes.util
import gc
import os


def resident_gb() -> float | None:
    """This process's resident memory in GB (Linux), else None."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e9
    except (OSError, ValueError, IndexError):
        return None


def _malloc_trim():
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None)  # glibc only: musl and macOS have none
    except OSError:
        return None


def release_freed_memory() -> tuple[float, float] | None:
    """Collect garbage, then give the heap's free pages back to the system (glibc's `malloc_trim(0)`).
    -> (resident GB before, after), or None where this C library cannot (then only the garbage is collected)."""
    gc.collect()
    trim = _malloc_trim()
    before = resident_gb()
    if trim is None or before is None:
        return None
    trim(0)
    return before, resident_gb()
