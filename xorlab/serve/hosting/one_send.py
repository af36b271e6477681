"""One send per answer: gunicorn's status line and headers leave together with the body.

gunicorn's Response writes the header block with one `sendall` and each piece of the body with
another, and its listening sockets set TCP_NODELAY: a one-row answer (about 150 bytes of headers,
100 of JSON) goes out as two TCP segments, and the client (wrk, nginx, tritonclient) wakes up for
each. Held back and sent with the first body bytes, the two are one segment, and the client wakes
once (what that saves: docs/benchmarks.md, "What each change bought"). Both of xorlab's HTTP
workers hand this to gunicorn in place of the connection's socket, for the one request.
"""

from __future__ import annotations


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
