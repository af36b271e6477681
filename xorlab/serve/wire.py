"""How gunicorn's answers leave: one send per answer, and a Date header made once a second.

One send per answer: gunicorn's status line and headers leave together with the body.

gunicorn's Response writes the header block with one `sendall` and each piece of the body with
another, and its listening sockets set TCP_NODELAY: a one-row answer (about 150 bytes of headers,
100 of JSON) goes out as two TCP segments, and the client (wrk, nginx, tritonclient) wakes up for
each. Held back and sent with the first body bytes, the two are one segment: on the 2-core VM,
8-9% more one-row requests per second direct and 7-9% less of the server's CPU per request
(`python -m bench.ab --base 5ac48d3`; docs/benchmarks.md, "What each change bought"). Both of
xorlab's HTTP workers hand this to gunicorn in place of the connection's socket, for the one
request.

The Date header: gunicorn formats it for every answer with `email.utils.formatdate`, 3-4% of a
one-row request's samples in a profile of one worker behind the proxy. Its text changes once a
second, so `cache_http_date` (the gunicorn configuration calls it, for every worker class) has
gunicorn take it from a per-second cache: the same text, made once a second; 3-6% less of the
server's CPU per one-row request (`python -m bench.ab --base b1f3009`, the fifth round).
"""

from __future__ import annotations

import time

from gunicorn import util


class OneWrite:
    """A connection's socket for the length of one request: the first `sendall` (gunicorn's header
    block, which it always writes before any body) is held until the next write or `flush`, and
    then leaves in the same send. Anything else a worker or the app may do with the socket is the
    socket's own, after whatever is held has gone out."""

    __slots__ = ("sock", "held", "first")

    def __init__(self, sock):
        self.sock, self.held, self.first = sock, b"", True

    def sendall(self, data) -> None:
        if self.first:
            self.first, self.held = False, bytes(data)
            return
        if self.held:
            data, self.held = self.held + data, b""
        # gevent's sendall asks the kernel for the socket's buffer size on every call; one send
        # takes a whole answer that fits in it, and sendall finishes what it did not take.
        sent = self.sock.send(data)
        if sent < len(data):
            self.sock.sendall(memoryview(data)[sent:])

    def flush(self) -> None:
        """Sends what is held: at the end of the request, whatever happened in it."""
        self.first = False
        if self.held:
            data, self.held = self.held, b""
            self.sock.sendall(data)

    def send(self, data, *flags) -> int:  # `Expect: 100-continue`'s interim answer, before any other
        self.flush()
        return self.sock.send(data, *flags)

    def sendfile(self, *args, **kwargs):
        self.flush()
        return self.sock.sendfile(*args, **kwargs)

    def __getattr__(self, name):  # getsockname, fileno, ...: the socket's
        return getattr(self.sock, name)


_date = (-1, "")  # (second, its header text), replaced whole: a read never sees half of a pair
_format = util.http_date  # gunicorn's own


def _http_date(timestamp=None):
    """gunicorn's util.http_date, with the current second's text kept."""
    global _date
    if timestamp is not None:
        return _format(timestamp)
    second = int(time.time())
    cached = _date
    if cached[0] != second:
        cached = _date = (second, _format(second))
    return cached[1]


def cache_http_date() -> None:
    """gunicorn's Response looks `util.http_date` up on every answer: it gets the cached one."""
    util.http_date = _http_date
