"""gunicorn's gevent worker, as xorlab runs it (XORLAB_WORKER_CLASS=gevent): many keep-alive
connections per worker, each in a greenlet, with no hand-off between threads per request.

gthread's main thread polls the idle connections and hands each request to a pool thread and
back, system calls and CPU that a greenlet spares (docs/benchmarks.md has the figures). Six changes
to gunicorn's own gevent worker:

- No monkey-patching. gunicorn's worker patches the whole standard library so that threads become
  greenlets; xorlab's threads (the gRPC server's event loop and its executor, the body deadline's
  watchdog, the repository watch) do blocking work that must not stop every request in the
  worker, so they stay OS threads. Only the listening sockets need to be gevent's: the
  connections accepted from them are too, and everything a request does between reading its
  body and writing its answer is computation that never waits on the network.
- A lingering close, as gunicorn's sync and gthread workers do and its async base does not. When
  an answer ends the connection (gunicorn's own 4xx for a malformed request, or the app's 413 for
  a body it refused unread), closing a socket with unread request bytes in its buffer makes the
  kernel send a reset, which can destroy the answer before the client reads it. gunicorn's
  `close_graceful` half-closes, drains up to 64 kB for up to 2 s, then closes.
- A stop that does not wait out the keep-alive time. On SIGTERM gunicorn's worker stops accepting
  and then waits for every connection's greenlet to end, and an idle kept-alive connection's
  ends only when its keep-alive time (XORLAB_KEEPALIVE) runs out. Like gunicorn's gthread worker
  (its STOP_KEEPALIVE_LINGER), a stopping worker gives such a connection 2 s more, for a request
  its client may be sending already (answered, then closed), and then closes it.
- A turn for the other connections after each request. A greenlet runs until it would block: when
  a busy keep-alive client's next request is already in the socket's buffer as the previous
  answer goes out, its greenlet reads it without yielding, again and again, and the worker's
  other connections wait: the tail latency under several busy clients (docs/benchmarks.md).
  `gevent.idle()` waits until
  the loop has run every other ready greenlet once: round-robin between the connections.
- One send per answer: the header block goes out with the body (wire.OneWrite says why).
- A connection limit that answers. Past XORLAB_MAX_CONNECTIONS open connections, gunicorn's worker
  stops accepting, and every new connection waits in the listen queue until a silent one times
  out (2,100 silent connections made every fresh request wait seconds); this one accepts it,
  answers 503 with Retry-After at once and closes it (admission.py counts and logs it).
"""

from __future__ import annotations

import socket as _socket

import gevent
from gevent import socket
from gunicorn.workers.ggevent import GeventWorker as _GunicornGeventWorker

from xorlab.serve.config import Settings
from xorlab.serve.errors import Overloaded
from xorlab.serve.hosting import internals
from xorlab.serve.hosting.error_pages import write_json_error
from xorlab.serve.hosting.one_send import OneWrite

STOP_LINGER = 2.0  # seconds an idle kept-alive connection stays open once its worker stops


class _NextRequestWait:
    """gunicorn's wait for a kept-alive connection's next request (a gevent.Timeout that ends it
    quietly), which a stopping worker can end early: `end` runs in the hub, as a timer's callback
    would, and throws the timeout only into a greenlet still inside this wait."""

    def __init__(self, seconds: float, waits: set):
        self.timeout, self.waits = gevent.Timeout(seconds, False), waits

    def __enter__(self):
        self.greenlet = gevent.getcurrent()
        self.waits.add(self)
        self.timeout.__enter__()
        return self

    def __exit__(self, kind, value, tb):
        self.waits.discard(self)
        return self.timeout.__exit__(kind, value, tb)  # True for its own expiry: the wait just ends

    def end(self):
        if self in self.waits:
            self.greenlet.throw(self.timeout)


class GeventWorker(_GunicornGeventWorker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._waits: set[_NextRequestWait] = set()
        self.max_connections = Settings.from_env().max_connections
        self.connections = 0  # open, being served; only greenlets of this worker's one thread count it

    def handle(self, listener, client, addr):
        if self.connections >= self.max_connections:
            self._refuse(client)
            return
        self.connections += 1
        try:
            super().handle(listener, client, addr)
        finally:
            self.connections -= 1

    def _refuse(self, client) -> None:
        # Imported here: gunicorn imports this module in the master, before the metrics folder that
        # the metrics module (which admission records in) must find at import exists.
        from xorlab.serve import admission

        why = f"{self.connections} connections are open in this worker (XORLAB_MAX_CONNECTIONS)"
        admission.refused("http", "connections", why)
        try:
            write_json_error(
                client,
                503,
                "Service Unavailable",
                f"the server is busy: {why}; retry",
                tuple(Overloaded.headers.items()),
            )
            # What the client sent already is read, so the close sends no reset that could destroy
            # the answer; waiting for more is what a busy worker cannot afford.
            while client.recv(65536, _socket.MSG_DONTWAIT):
                pass
        except OSError:  # nothing waiting (BlockingIOError), or the client is gone
            pass
        finally:
            internals.close(client)

    def timeout_ctx(self):
        return _NextRequestWait(self.cfg.keepalive if self.alive else min(self.cfg.keepalive, STOP_LINGER), self._waits)

    def handle_exit(self, sig, frame):
        super().handle_exit(sig, frame)  # SIGTERM: stop accepting, finish what is in flight
        gevent.spawn_later(STOP_LINGER, self._end_waits)  # a greenlet: not inside the signal handler

    def _end_waits(self):
        loop = gevent.get_hub().loop
        for wait in list(self._waits):
            loop.run_callback(wait.end)

    def patch(self):
        self.sockets = [socket.socket(s.FAMILY, socket.SOCK_STREAM, fileno=s.sock.detach()) for s in self.sockets]

    def handle_request(self, listener_name, req, sock, addr):
        out = OneWrite(sock)
        try:
            try:
                handled = super().handle_request(listener_name, req, out, addr)
            finally:
                out.flush()
        except StopIteration:  # the answer has said "Connection: close"
            internals.close_graceful(sock)
            raise
        gevent.idle()
        return handled

    def handle_error(self, req, client, addr, exc):
        super().handle_error(req, client, addr, exc)  # gunicorn's answer, which closes the connection
        internals.close_graceful(client)
