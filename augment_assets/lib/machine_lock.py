"""An exclusive lock on a file, held by one process of a machine at a time.

Dagster's pools decide which steps it schedules together, but on the default SQLite instance a
slot claim is a read then a write in separate statements: two runs that claim the same free slot at
the same moment can both get it (seen in CI: two Celery generation steps ran at once). A model step
saturates the machine's cores, and the warehouse has one writer, so both also take a file lock
(`fcntl.flock`), which the kernel grants to one process at a time whatever the instance's storage.
"""

import contextlib
import fcntl
import time
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def held_exclusively(path: str | Path, on_wait: Callable[[str], None] | None = None) -> Iterator[float]:
    """Hold an exclusive lock on `path` (created if missing) for the `with` block; yields the seconds
    spent waiting for it. `on_wait(message)` is called once when another process holds it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        started = time.monotonic()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait(f"another process holds {path}; waiting for it to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield time.monotonic() - started
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
