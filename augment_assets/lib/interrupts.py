"""An interruption (Ctrl-C, SIGTERM) that a long step cannot lose.

Dagster turns SIGINT and SIGTERM into one exception raised in the step's main thread. One exception can
be lost: raised inside a finalizer or a callback it is printed and ignored, and a library that wraps what
it catches turns it into an ordinary error, which the step's retry policy then retries. Both were seen in
CI: a SIGTERMed fine-tune went on for minutes holding the language-model lock. `interrupts_stick` records
the signal and raises it again every `repeat_s` seconds while the block still runs, so the block ends
whatever swallowed the first one, and says whether a signal came so that any error after it is taken
for the interruption it is.
"""

import _thread
import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def interrupts_stick(repeat_s: float = 5.0) -> Iterator[Callable[[], bool]]:
    """For the block, SIGINT and SIGTERM go to the handlers installed before it (Dagster's) as before, and
    are raised again every `repeat_s` seconds until the block ends. Yields `interrupted()`: whether one
    came. Outside the main thread (signals reach only that one) the block runs as it is."""
    received, done = threading.Event(), threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield received.is_set
        return
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}

    def repeat(signum: int) -> None:
        while not done.wait(repeat_s):
            _thread.interrupt_main(signum)  # runs `handler` in the main thread at its next bytecode

    def handler(signum, frame):
        chained = previous[signum]
        if chained is signal.SIG_IGN:
            return
        if not received.is_set():
            received.set()
            threading.Thread(target=repeat, args=(signum,), name="interrupt-repeat", daemon=True).start()
        if callable(chained):
            chained(signum, frame)
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt
        else:  # SIG_DFL: end the process as the signal would have
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    for signum in SIGNALS:
        signal.signal(signum, handler)
    try:
        yield received.is_set
    finally:
        done.set()
        for signum, chained in previous.items():
            signal.signal(signum, chained if chained is not None else signal.SIG_DFL)
