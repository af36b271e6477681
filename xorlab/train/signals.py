"""Ctrl-C and SIGTERM as a flag that the training loops check, never as an exception raised from a
signal handler: one raised there can land in a destructor or a callback, be swallowed ("Exception
ignored in ..."), and the run trains on. `check()` raises from ordinary code instead,
so unwinding removes the staging folder and leaves the previous repository as it was."""

from __future__ import annotations

import contextlib
import signal


class Interrupted(Exception):
    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_received: list[int] = []


@contextlib.contextmanager
def installed():
    """Catch SIGINT and SIGTERM as flags for the block; the previous handlers come back after it."""
    previous = {
        sig: signal.signal(sig, lambda signum, frame: _received.append(signum))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _received.clear()


def check() -> None:
    """Raise Interrupted if a signal came (a no-op outside `installed()`)."""
    if _received:
        raise Interrupted(_received[0])
