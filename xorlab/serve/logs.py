"""Logs as one JSON object per line: the app's, gunicorn's, and one line per request.

Every line names the process that wrote it (`pid`: the master or one worker). Request lines carry
time, method, path, status, duration, model and request id; never a body.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import sys
import time

import orjson

ACCESS = logging.getLogger("xorlab.access")
# An X-Request-ID from the client (HTTP header or gRPC metadata) is echoed only if it is short and
# plain: it goes into logs, and back into a header or gRPC's trailing metadata. Matched whole
# (fullmatch): `$` would also match before a final newline, and an id ending in one passed, was
# echoed, and grpc refused to send the trailers (the client got INTERNAL for a call that succeeded).
REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")


XORLAB = logging.getLogger("xorlab")

# This process's id, kept and renewed in a forked child (a gunicorn worker): asking the kernel is a
# system call, and the access line and the metrics' samples want it on every request.
_pid = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _pid.__setitem__(0, os.getpid()))


def pid() -> int:
    return _pid[0]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


_second: tuple[int | None, str] = (None, "")  # the last whole second formatted, and its text


def _utc(created: float) -> str:
    """`created` as ISO 8601 UTC to the millisecond, e.g. 2026-11-28T08:30:14.719+00:00 (the
    second's text made once per second: datetime formatting is most of a line's cost)."""
    second = int(created)
    micro = round((created - second) * 1e6)  # as datetime rounds: to the microsecond, half to even
    if micro >= 1_000_000:
        second, micro = second + 1, micro - 1_000_000
    global _second
    cached = _second  # one read: a request thread formatting the next second swaps in a new pair whole
    if cached[0] != second:
        cached = (second, dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"))
        _second = cached
    return f"{cached[1]}.{micro // 1000:03d}+00:00"


class JsonLines(logging.StreamHandler):
    """The service's handler: JsonFormatter's lines on a stream. `write_line` writes an entry as
    formatting a record would, without making one (the access line, once per request)."""

    def __init__(self, stream=None):
        super().__init__(stream)
        self.setFormatter(JsonFormatter())
        self._fd_of, self._fd_value = None, None  # the stream whose descriptor is kept, and it

    def write_line(self, entry: dict) -> None:
        line = orjson.dumps(entry, default=str, option=orjson.OPT_APPEND_NEWLINE)
        with self.lock:
            try:
                fd = self._fd()
                if fd is None:
                    self.stream.write(line.decode())
                    self.stream.flush()
                    return
                # The bytes straight to the stream's file: the text layer's encoding and buffering
                # were a third of the line's cost. Flushed first, so whatever was written through
                # the text layer (a line not yet ended) still comes before this line.
                self.stream.flush()
                while line:
                    line = line[os.write(fd, line) :]
            except Exception:  # noqa: BLE001 - as logging does: a failed write never fails the request
                self.handleError(None)

    def _fd(self) -> int | None:
        """The stream's file descriptor, or None when it has none (a test's capture)."""
        stream = self.stream
        if self._fd_of is not stream:
            try:
                self._fd_value = stream.fileno()
            except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
                self._fd_value = None
            self._fd_of = stream
        return self._fd_value


def configure(level: str) -> None:
    """JSON lines on stderr for the `xorlab` loggers, at `level`."""
    XORLAB.setLevel(level.upper())
    if not any(isinstance(h.formatter, JsonFormatter) for h in XORLAB.handlers):
        XORLAB.addHandler(JsonLines(sys.stderr))
    XORLAB.propagate = False


def _plain_handler() -> JsonLines | None:
    """The handler when logging would do nothing but hand the access record to it (the service
    as configure() sets it up): no handler or filter on the access logger, one JsonLines on
    `xorlab` taking INFO. Anything else (a test's handler, a filter) gets the record itself."""
    if ACCESS.handlers or ACCESS.filters or not ACCESS.propagate or XORLAB.filters or XORLAB.propagate:
        return None
    handlers = XORLAB.handlers
    if len(handlers) != 1:
        return None
    handler = handlers[0]
    if (
        type(handler) is not JsonLines
        or handler.filters
        or handler.level > logging.INFO
        or type(handler.formatter) is not JsonFormatter
    ):
        return None
    return handler


def request_id(incoming: str | None) -> str:
    # 128 random bits as 32 hex digits (what uuid4().hex gives, at a fifth of its cost).
    return incoming if incoming and REQUEST_ID.fullmatch(incoming) else os.urandom(16).hex()


def log_request(
    method: str, path: str, status: int, seconds: float, model: str | None, rid: str, protocol: str = "http"
) -> None:
    """One line per request. gRPC calls: method POST, path /inference.GRPCInferenceService/<RPC>,
    status the gRPC status code's number (0: OK)."""
    if ACCESS.isEnabledFor(logging.INFO):
        fields = {
            "protocol": protocol,
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(seconds * 1e3, 3),
            "model": model,
            "request_id": rid,
        }
        handler = _plain_handler()
        if handler is not None:
            # The line JsonFormatter would make of the record, written without making the record
            # (half the cost of a request's line).
            handler.write_line(
                {
                    "time": _utc(time.time()),
                    "level": "INFO",
                    "logger": ACCESS.name,
                    "pid": _pid[0],
                    "message": "request",
                    **fields,
                }
            )
            return
        # The record made directly and handed to the logger's handlers: `info()` would also look
        # up the caller's frame and copy `extra`, on every request, for fields nobody reads.
        record = logging.LogRecord(ACCESS.name, logging.INFO, __file__, 0, "request", None, None)
        record.fields = fields
        ACCESS.handle(record)


def gunicorn_logconfig(level: str) -> dict:
    """gunicorn's logconfig_dict: its own messages in the same JSON lines, on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "xorlab.serve.logs.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"level": level.upper(), "handlers": ["stderr"]},  # replaces gunicorn's default
        "loggers": {
            "gunicorn.error": {
                "level": level.upper(),
                "handlers": ["stderr"],
                "propagate": False,
                "qualname": "gunicorn.error",
            },
            "gunicorn.access": {
                "level": level.upper(),
                "handlers": [],
                "propagate": False,
                "qualname": "gunicorn.access",
            },
        },
    }
