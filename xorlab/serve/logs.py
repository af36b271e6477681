"""Logs as one JSON object per line: the app's, gunicorn's, and one line per request.

Request lines carry time, method, path, status, duration, model and request id; never a body.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import sys

import orjson

ACCESS = logging.getLogger("xorlab.access")
# An X-Request-ID from the client is echoed only if it is short and plain: it goes into logs.
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure(level: str) -> None:
    """JSON lines on stderr for the `xorlab` loggers, at `level`."""
    logger = logging.getLogger("xorlab")
    logger.setLevel(level.upper())
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    logger.propagate = False


def request_id(incoming: str | None) -> str:
    # 128 random bits as 32 hex digits (what uuid4().hex gives, at a fifth of its cost).
    return incoming if incoming and REQUEST_ID.match(incoming) else os.urandom(16).hex()


def log_request(
    method: str, path: str, status: int, seconds: float, model: str | None, rid: str, protocol: str = "http"
) -> None:
    """One line per request. gRPC calls: method POST, path /inference.GRPCInferenceService/<RPC>,
    status the gRPC status code's number (0: OK)."""
    if ACCESS.isEnabledFor(logging.INFO):
        # The record made directly and handed to the logger's handlers: `info()` would also look
        # up the caller's frame and copy `extra`, on every request, for fields nobody reads.
        record = logging.LogRecord(ACCESS.name, logging.INFO, __file__, 0, "request", None, None)
        record.fields = {"protocol": protocol, "method": method, "path": path, "status": status,
                         "duration_ms": round(seconds * 1e3, 3), "model": model, "request_id": rid}  # fmt: skip
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
            "gunicorn.error": {"level": level.upper(), "handlers": ["stderr"], "propagate": False, "qualname": "gunicorn.error"},
            "gunicorn.access": {"level": level.upper(), "handlers": [], "propagate": False, "qualname": "gunicorn.access"},
        },
    }
