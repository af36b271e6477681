"""gunicorn's sync worker as xorlab runs it (XORLAB_WORKER_CLASS=sync): one request per
connection, for a proxy in front that opens a connection to gunicorn for every request. Two
changes to gunicorn's own:

- One send per answer: the header block goes out with the body (wire.OneWrite says why).
- No wait for the client's close after an answer to a request read whole. gunicorn's sync worker
  ends every connection with a lingering close: it half-closes, then waits up to 2 s, reading,
  until the client closes its side too. That is what keeps a refusal sent before its request was
  read (a 413, a malformed request) from being destroyed by a reset; the worker can take no other
  connection meanwhile, so a client that keeps its connection open after reading the answer
  holds the worker for those 2 s. When the request's body was read to its end and nothing more
  has arrived, there is nothing for a reset to be sent for: the connection is closed at once
  (its answer then leaves with a FIN, as any close). Every other case still lingers. What the two
  changes buy behind nginx opening a connection per request: docs/benchmarks.md.
"""

from __future__ import annotations

import socket

from gunicorn.workers.sync import SyncWorker as _GunicornSyncWorker

from xorlab.serve.hosting import internals
from xorlab.serve.hosting.one_send import OneWrite

_PEEK = socket.MSG_PEEK | socket.MSG_DONTWAIT


def read_whole(req, sock) -> bool:
    """Whether the request's body was read to its end (a Content-Length body, or none; a chunked
    body's end is not known here) and no further byte waits on the connection."""
    body = req.body
    if body is None or body.failed or not isinstance(body.reader, internals.LengthReader) or body.reader.length:
        return False
    try:
        return sock.recv(1, _PEEK) == b""  # b"": the client has closed its side already
    except BlockingIOError:  # nothing waiting
        return True
    except OSError:
        return False


class SyncWorker(_GunicornSyncWorker):
    def handle_request(self, listener, req, client, addr):
        out = OneWrite(client)
        try:
            super().handle_request(listener, req, out, addr)
        finally:
            out.flush()
        if read_whole(req, client):
            # gunicorn's handle() then closes it again, which does nothing on a closed socket.
            client.close()
