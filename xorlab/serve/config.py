"""Settings: every default in one place, each overridable from the environment as XORLAB_<NAME>.

The gunicorn config, the CLI and `create_app` all read the same `Settings`, so an environment
variable means the same thing however the server is started.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Mapping
from typing import Any

from xorlab.modelrepo import spec

ENV_PREFIX = "XORLAB_"
# What gunicorn runs for each XORLAB_WORKER_CLASS: xorlab's variants of its gevent and sync workers.
WORKERS = {
    "gevent": "xorlab.serve.hosting.gevent_worker.GeventWorker",
    "sync": "xorlab.serve.hosting.sync_worker.SyncWorker",
    "gthread": "gthread",
}
WORKER_CLASSES = tuple(WORKERS)
# gunicorn's http_parser: auto takes its C parser (gunicorn_h1c, the `fast` extra) when installed;
# fast requires it (xorlab-serve refuses to start without it); python never uses it.
HTTP_PARSERS = ("auto", "fast", "python")


def _cpu_count() -> int:
    # The CPUs this process may run on, not the machine's: containers and taskset limit them.
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclasses.dataclass(frozen=True)
class Settings:
    models: str = "models"  # the model repository folder (holds manifest.json)
    max_rows: int = spec.MAX_ROWS  # rows per request; more is a 400 (config.pbtxt says the same to Triton)
    max_body_bytes: int = 16 * 1024 * 1024  # request body limit; more is a 413, refused unread
    log_level: str = "INFO"
    admin_token: str | None = None  # unset: the admin (repository load/unload) routes are off
    bind: str = "127.0.0.1:8000"
    # The Open Inference Protocol's gRPC API, served by every worker on this one port (Triton's
    # 8001); empty: off.
    grpc_bind: str = "127.0.0.1:8001"
    workers: int = dataclasses.field(default_factory=_cpu_count)
    # gevent: keep-alive clients, direct (gthread: the same with a thread per request); sync: behind
    # a buffering proxy (one request at a time)
    worker_class: str = "gevent"
    threads: int = 4  # per worker (gthread): keep-alive connections served concurrently
    http_parser: str = "auto"  # HTTP_PARSERS
    timeout: int = 30  # seconds a worker may be silent before the master replaces it
    graceful_timeout: int = 10  # seconds in-flight requests get after SIGTERM
    keepalive: int = 5  # seconds an idle keep-alive connection stays open
    # HTTP connections a gevent or gthread worker keeps at once (each about 15 kB); beyond, a new
    # connection is answered 503 at once (gevent). Far above what a proxy in front opens, and
    # what a handful of silent clients can fill.
    max_connections: int = 2048
    # seconds a gRPC connection with no call in progress, or a stream with no request, is kept
    grpc_idle_seconds: int = 300
    body_timeout: int = 10  # seconds a client gets to send a request body; slower is a 408
    poll_seconds: int = 5  # how often each worker looks for a newly published repository (0: never)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then XORLAB_* variables, then `overrides` (which win)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + field.name.upper())
            if raw is not None:
                values[field.name] = _parse(field, raw)
        unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        values.update(overrides)
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        for name in (
            "max_rows",
            "max_body_bytes",
            "workers",
            "threads",
            "timeout",
            "body_timeout",
            "max_connections",
            "grpc_idle_seconds",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{ENV_PREFIX}{name.upper()} must be at least 1")
        if self.worker_class not in WORKER_CLASSES:
            raise ValueError(f"{ENV_PREFIX}WORKER_CLASS must be gevent, gthread or sync, got {self.worker_class!r}")
        if self.http_parser not in HTTP_PARSERS:
            raise ValueError(f"{ENV_PREFIX}HTTP_PARSER must be auto, fast or python, got {self.http_parser!r}")
        if self.http_parser == "fast" and importlib.util.find_spec("gunicorn_h1c") is None:
            raise ValueError(
                f"{ENV_PREFIX}HTTP_PARSER=fast needs gunicorn_h1c: pip install 'xorlab[fast]' (it builds "
                "from source: a C compiler and Python's headers), or use auto or python"
            )
        if self.poll_seconds < 0:
            raise ValueError(f"{ENV_PREFIX}POLL_SECONDS must be 0 (off) or more")
        if self.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"{ENV_PREFIX}LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        if self.grpc_bind:
            address = split_address(self.grpc_bind, f"{ENV_PREFIX}GRPC_BIND")
            if _is_address(self.bind) and address == split_address(self.bind, ""):
                raise ValueError(f"{ENV_PREFIX}GRPC_BIND must differ from {ENV_PREFIX}BIND ({self.bind})")


def ascii_int(text: str, digits: int) -> int | None:
    """`text` as a non-negative integer if it is 1 to `digits` ASCII digits, else None. (str.isdigit
    also takes '²' and other digits int() refuses, and int() refuses over 4,300 digits.)"""
    if 0 < len(text) <= digits and text.isascii() and text.isdigit():
        return int(text)
    return None


def declared_length(text: str) -> int | None:
    """A Content-Length header's value (the one place it is read: the fast path, the body reader
    and the connection's hook): None when absent or not ASCII digits; past 20 digits a number over
    any limit, not an int() of up to 4,300 digits (what gunicorn lets through)."""
    if text.isascii() and text.isdigit():
        return int(text) if len(text) <= 20 else 1 << 70
    return None


def split_address(address: str, name: str) -> tuple[str, int]:
    """HOST:PORT (an IPv6 host in brackets: [::1]:8001) as (host, port); ValueError naming the
    setting otherwise. Port 0 is refused: each gunicorn worker would get a port of its own."""
    host, sep, port = address.rpartition(":")
    number = ascii_int(port, 5)
    if not sep or not host or number is None or not 1 <= number <= 65535:
        raise ValueError(f"{name} must be HOST:PORT with a port from 1 to 65535 (or empty: off), got {address[:60]!r}")
    return host.removeprefix("[").removesuffix("]"), number


def _is_address(bind: str) -> bool:
    try:
        split_address(bind, "")
        return True
    except ValueError:  # a unix: socket, or something gunicorn will refuse itself
        return False


def _parse(field: dataclasses.Field, raw: str) -> Any:
    name = ENV_PREFIX + field.name.upper()
    if field.type in ("int", int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if field.name == "admin_token":
        return raw or None  # an empty token would let an empty header in: treat it as unset
    return raw
