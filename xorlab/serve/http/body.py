"""Reading a request body: within the size limit, and within a time limit, so a slow client holds a
worker thread for at most XORLAB_BODY_TIMEOUT seconds; a compressed body (Content-Encoding gzip or
deflate, as tritonclient sends with request_compression_algorithm) decoded within the same size limit.

gunicorn's gthread worker bounds the wait for a connection's first bytes, then reads the request
from a blocking socket with no time limit: a client sending its body a byte a second keeps a
thread for as long as it likes, and as many such clients as there are threads stall every other
request (under gevent it keeps a greenlet and its memory). A socket timeout cannot bound that
(each byte restarts it), so one watchdog thread per worker shuts the read side of a socket whose
body is overdue: the blocked read returns at once (end of data), the request gets a 408 and the
connection is closed.
"""

from __future__ import annotations

import socket
import threading
import time
import zlib

from flask import current_app, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from xorlab.serve import logs
from xorlab.serve.config import declared_length
from xorlab.serve.errors import BodyTimeout, InvalidRequest, TooLarge, UnsupportedEncoding
from xorlab.serve.infer_codec import quoted

_POLL = 0.25  # seconds between the watchdog's looks: the limit's resolution


class Ticket:
    __slots__ = ("sock", "due", "expired")

    def __init__(self, sock: socket.socket, due: float):
        self.sock, self.due, self.expired = sock, due, False


_tickets: set[Ticket] = set()
_lock = threading.Lock()
_watchdog_pid: int | None = None  # the process whose watchdog runs (threads do not survive a fork)


class watch:
    """`with watch(sock, seconds) as ticket:` while inside, reading from `sock` stops (as at end of
    data) once `seconds` have passed; the ticket's `expired` then says so. No socket (the Flask
    test client): no limit, and the ticket is None. (A class rather than a generator-based
    context manager: it is entered on every request with a body.)"""

    __slots__ = ("ticket",)

    def __init__(self, sock: socket.socket | None, seconds: float):
        self.ticket = None if sock is None else Ticket(sock, time.monotonic() + seconds)

    def __enter__(self) -> Ticket | None:
        if self.ticket is not None:
            with _lock:
                _start_watchdog()
                _tickets.add(self.ticket)
        return self.ticket

    def __exit__(self, *exc_info) -> bool:
        if self.ticket is not None:
            with _lock:
                _tickets.discard(self.ticket)
        return False


def _start_watchdog() -> None:
    global _watchdog_pid
    if _watchdog_pid != logs.pid():  # the id kept by logs: asking the kernel on every request costs
        _watchdog_pid = logs.pid()
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


PRE_READ = "xorlab.body"  # environ key: the body (or the read's exception) the fast path already read


def read_body() -> bytes:
    """The request body, up to MAX_CONTENT_LENGTH bytes; a 413 beyond it, a 408 when it does not
    arrive within XORLAB_BODY_TIMEOUT seconds. A compressed body is returned decoded (`decode`).

    With a Content-Length, Flask refuses one over the limit before reading anything. A chunked
    body (no Content-Length; gunicorn sets wsgi.input_terminated) is read one byte past the
    limit at most: Werkzeug's own limit would silently truncate it instead. A body the fast path
    (http/fast_path.py) read before handing the request over is taken from the environ, and so is its
    read's failure: the outcome is the one reading it here would have had.
    """
    environ = request.environ
    pre = environ.get(PRE_READ)
    if pre is None:
        body = _read(environ)
    elif isinstance(pre, BaseException):
        raise pre
    else:
        body = pre
    g.body_read = True
    encoding = environ.get("HTTP_CONTENT_ENCODING")
    return body if encoding is None else decode(body, encoding, current_app.config["MAX_CONTENT_LENGTH"])


def _read(environ: dict) -> bytes:
    seconds = current_app.extensions["xorlab"].settings.body_timeout
    length = declared_length(environ.get("CONTENT_LENGTH") or "")
    if length is not None:
        # The common case, read directly: Werkzeug's get_data wraps the stream in a limited
        # reader and parses the headers again on every request.
        if length > current_app.config["MAX_CONTENT_LENGTH"]:
            raise RequestEntityTooLarge()
        body = read_length(environ, length, seconds)
    else:
        body = _within(environ, seconds, lambda: _read_unknown_length(environ), request.content_length)
    return body


def read_length(environ: dict, length: int, seconds: float) -> bytes:
    """A body of `length` bytes (its Content-Length, already checked against the limit), read
    within `seconds`: a 408 (BodyTimeout) when it does not arrive in time. Needs no Flask context
    (the fast path reads with it too)."""
    return _within(environ, seconds, lambda: environ["wsgi.input"].read(length), length)


def _within(environ: dict, seconds: float, read, length: int | None) -> bytes:
    """`read()` with the connection's read deadline watched: a 408 (BodyTimeout) when the deadline
    cut it short (a failed read, or fewer bytes than the declared `length`)."""
    with watch(environ.get("gunicorn.socket"), seconds) as ticket:
        try:
            body = read()
        except Exception:
            if ticket is not None and ticket.expired:
                raise BodyTimeout(f"the request body did not arrive within {seconds} s") from None
            raise
    if ticket is not None and ticket.expired and length not in (None, len(body)):
        raise BodyTimeout(f"the request body did not arrive within {seconds} s")
    return body


ENCODINGS = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}


def decode(body: bytes, encoding: str, limit: int) -> bytes:
    """`body` decoded from its Content-Encoding; the size limit holds for the decoded bytes too, so
    a small body that inflates past it (a decompression bomb) is a 413 after at most `limit` + 1
    bytes. Like Triton, gzip and deflate (zlib-wrapped, RFC 9110) are both recognized by their
    header whichever is named; identity is no coding; any other is a 415."""
    codings = [c.strip().lower() for c in encoding.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return body
    if len(codings) > 1 or codings[0] not in ENCODINGS:
        raise UnsupportedEncoding(
            f"Content-Encoding {quoted(encoding)} is not supported; send gzip, deflate or identity (one coding)"
        )
    name = ENCODINGS[codings[0]]
    inflater = zlib.decompressobj(wbits=32 + zlib.MAX_WBITS)  # 32: a gzip or a zlib header, detected
    try:
        decoded = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidRequest(f"the {name} request body cannot be decoded ({exc})") from None
    if len(decoded) > limit:
        raise TooLarge(TooLarge.message_for(limit) + f" (decoded from {name})")
    if not inflater.eof:
        raise InvalidRequest(f"the {name} request body is truncated")
    if inflater.unused_data:
        raise InvalidRequest(f"the {name} request body has {len(inflater.unused_data)} bytes after its end")
    return decoded


def has_unread_body() -> bool:
    """A body came with the request (declared, or chunked) and was not read whole."""
    environ = request.environ
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    sent = environ.get("CONTENT_LENGTH") not in (None, "", "0") or chunked
    return sent and not g.get("body_read", False)


def _read_unknown_length(environ: dict) -> bytes:
    if request.content_length is not None or "wsgi.input_terminated" not in environ:
        return request.get_data(cache=False)
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    try:
        body = environ["wsgi.input"].read(limit + 1)
    except Exception as exc:  # noqa: BLE001 - a truncated or malformed chunked body: gunicorn's
        # errors (NoMoreData, InvalidChunkSize, ...) have no common base outside Exception
        raise InvalidRequest(f"the chunked request body could not be read ({type(exc).__name__})") from None
    if len(body) > limit:
        raise RequestEntityTooLarge()
    return body
