"""Keeping gunicorn's connection handling honest about bodies the app does not read.

gunicorn reads a request's whole body off the connection before it parses the next request on it:
when the app answers without reading the body (a 413 refused from its Content-Length, a 404 for an
unknown model), gunicorn then reads and discards the rest, as slowly as the client cares to send
it, while a request pipelined behind waits. And it answers `Expect: 100-continue` before the app
runs, inviting a body the app will refuse. The app cannot say "close" itself (gunicorn drops a
Connection header set by the app), so the `pre_request` hook hands the request over here, and:
- a body declared larger than the limit gets no 100 Continue, and its connection closes after
  the answer (gunicorn then says `Connection: close`);
- the app closes the connection after any answer that left the body unread.
"""

from __future__ import annotations

from contextvars import ContextVar

from xorlab.serve.config import declared_length
from xorlab.serve.hosting import internals

# The request in progress: per thread under gthread, per greenlet under gevent (every greenlet has
# its own context; a threading.local would be shared by all of a gevent worker's connections).
_request: ContextVar = ContextVar("xorlab_request", default=None)


def begin(req, max_body_bytes: int) -> None:
    """gunicorn's pre_request: before the app sees the request."""
    _request.set(req)
    declared = next((value for name, value in req.headers if name == "CONTENT-LENGTH"), "")
    length = declared_length(declared)  # (gunicorn has refused a malformed one already)
    if length is not None and length > max_body_bytes:
        req.must_close = True
        internals.withhold_100_continue(req)  # no invitation


def end() -> None:
    """gunicorn's post_request."""
    _request.set(None)


def close_after_response() -> None:
    req = _request.get()
    if req is not None:
        req.must_close = True
