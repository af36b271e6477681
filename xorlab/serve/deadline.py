"""A time limit on reading a request body, so a slow client holds a worker thread for at most
XORLAB_BODY_TIMEOUT seconds.

gunicorn's gthread worker bounds the wait for a connection's first bytes, then reads the request
from a blocking socket with no time limit: a client sending its body a byte a second keeps a
thread for as long as it likes, and as many such clients as there are threads stall every other
request. A socket timeout cannot bound that (each byte restarts it), so one watchdog thread per
worker shuts the read side of a socket whose body is overdue: the blocked read returns at once
(end of data), the request gets a 408 and the connection is closed.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from contextlib import contextmanager
from collections.abc import Iterator

_POLL = 0.25  # seconds between the watchdog's looks: the limit's resolution


class Ticket:
    __slots__ = ("sock", "due", "expired")

    def __init__(self, sock: socket.socket, due: float):
        self.sock, self.due, self.expired = sock, due, False


_tickets: set[Ticket] = set()
_lock = threading.Lock()
_watchdog_pid: int | None = None  # the process whose watchdog runs (threads do not survive a fork)


@contextmanager
def watch(sock: socket.socket | None, seconds: float) -> Iterator[Ticket | None]:
    """While inside, reading from `sock` stops (as at end of data) once `seconds` have passed;
    the ticket's `expired` then says so. No socket (the Flask test client): no limit."""
    if sock is None:
        yield None
        return
    ticket = Ticket(sock, time.monotonic() + seconds)
    with _lock:
        _start_watchdog()
        _tickets.add(ticket)
    try:
        yield ticket
    finally:
        with _lock:
            _tickets.discard(ticket)


def _start_watchdog() -> None:
    global _watchdog_pid
    if _watchdog_pid != os.getpid():
        _watchdog_pid = os.getpid()
        threading.Thread(target=_run, name="xorlab-body-deadline", daemon=True).start()


def _run() -> None:
    while True:
        time.sleep(_POLL)
        now = time.monotonic()
        # Under the lock: a request that has left `watch` is never cut, one still inside always is.
        with _lock:
            for ticket in [t for t in _tickets if t.due <= now]:
                _tickets.discard(ticket)
                ticket.expired = True
                try:
                    ticket.sock.shutdown(socket.SHUT_RD)  # wakes the blocked read; writing still works
                except OSError:
                    pass  # already closed by the client
