"""Every name xorlab uses that gunicorn, onnxruntime or prometheus_client does not promise: private
names, and undocumented functions and methods it replaces, calls or overrides. The code reaches
them only through this module, and `INTERNALS` lists each with why it is used;
tests/serve/hosting/test_internals.py checks every one against the installed versions and fails naming the
one that moved, so an upgrade of a pinned version says what to look at.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from gunicorn import util as _gunicorn_util


@dataclass(frozen=True)
class Internal:
    owner: str  # the module, or module:Class, that defines it
    name: str
    use: str  # replaced, called, set, read or overridden, and why
    on_instances: bool = False  # an attribute each instance of the class gets, not the class itself

    def find(self, instance: object = None) -> object:
        """The object named (on `instance`, for an attribute of instances), or AttributeError or
        ImportError when it has moved."""
        module, _, cls = self.owner.partition(":")
        owner = importlib.import_module(module)
        if cls:
            owner = getattr(owner, cls)
        if self.on_instances:
            assert isinstance(instance, owner), f"{self.owner}.{self.name} is looked for on an instance"
            owner = instance
        return getattr(owner, self.name)


_WORKER_OVERRIDES = "overridden by xorlab's worker (hosting/{}_worker.py): gunicorn documents no worker API"
INTERNALS = (
    Internal("gunicorn.util", "write_error", "replaced: gunicorn's own error answers as JSON (error_pages.py)"),
    Internal("gunicorn.util", "write_nonblock", "called: writes those answers as gunicorn did"),
    Internal("gunicorn.util", "http_date", "replaced: the Date header made once a second (http_date.py)"),
    Internal("gunicorn.util", "close", "called: closing a connection refused for overload (hosting/gevent_worker.py)"),
    Internal(
        "gunicorn.util",
        "close_graceful",
        "called: the lingering close gunicorn's sync worker does (hosting/gevent_worker.py)",
    ),
    Internal(
        "gunicorn.http.message", "_check_fast_parser", "called: which HTTP parser gunicorn runs, for the start line"
    ),
    Internal(
        "gunicorn.http.message:Request",
        "_expected_100_continue",
        "set: no 100 Continue for a body over the limit (unread_body.py)",
    ),
    Internal(
        "gunicorn.http.body",
        "LengthReader",
        "read: whether a request's body was read to its end (hosting/sync_worker.py)",
    ),
    Internal(
        "gunicorn.glogging:Logger",
        "_compute_access_log_enabled",
        "overridden: no access line built for nothing (gunicorn_config.py)",
    ),
    *(
        Internal("gunicorn.workers.ggevent:GeventWorker", name, _WORKER_OVERRIDES.format("gevent"))
        for name in ("patch", "handle", "handle_request", "handle_error", "handle_exit", "timeout_ctx")
    ),
    Internal("gunicorn.workers.sync:SyncWorker", "handle_request", _WORKER_OVERRIDES.format("sync")),
    Internal(
        "onnxruntime:InferenceSession",
        "_sess",
        "called: the binding's run, without the public run's per-call checks (runtime.py)",
        on_instances=True,
    ),
    Internal(
        "prometheus_client.values",
        "ValueClass",
        "set: the process id given, not asked of the kernel per sample (metrics.py)",
    ),
    Internal(
        "prometheus_client.multiprocess:MultiProcessCollector",
        "merge",
        "called: merging the settled files only (metrics.py)",
    ),
)

# ---- gunicorn ----------------------------------------------------------------------------------

GUNICORN_HTTP_DATE = _gunicorn_util.http_date  # gunicorn's own, before replace_http_date
write_nonblock = _gunicorn_util.write_nonblock
close = _gunicorn_util.close
close_graceful = _gunicorn_util.close_graceful


def __getattr__(name: str):
    if name == "LengthReader":  # gunicorn's body reader for a Content-Length body, imported when asked for
        from gunicorn.http.body import LengthReader

        return LengthReader
    raise AttributeError(name)


def replace_error_writer(write_error) -> None:
    """gunicorn's workers answer a request they refuse through `util.write_error`."""
    _gunicorn_util.write_error = write_error


def replace_http_date(http_date) -> None:
    """gunicorn's Response looks `util.http_date` up on every answer."""
    _gunicorn_util.http_date = http_date


def fast_parser_in_use(cfg) -> bool | None:
    """Whether gunicorn parses requests with its C parser under `cfg` (None: it no longer says)."""
    from gunicorn.http import message

    decide = getattr(message, "_check_fast_parser", None)
    return None if decide is None else bool(decide(cfg))


def withhold_100_continue(req) -> None:
    """No `100 Continue` for this request, whatever its `Expect` header asks."""
    req._expected_100_continue = False


# ---- prometheus_client -------------------------------------------------------------------------


def give_prometheus_process_id(pid) -> None:
    """Multiprocess samples name their process by `pid()` (MultiProcessValue's process_identifier)
    instead of asking the kernel for each; before the first metric value exists."""
    from prometheus_client import values

    values.ValueClass = values.MultiProcessValue(process_identifier=pid)


def merge_metric_files(files: list[str]):
    """The metric families in these multiprocess files, counters summed."""
    from prometheus_client.multiprocess import MultiProcessCollector

    return MultiProcessCollector.merge(files, accumulate=True)


# ---- onnxruntime -------------------------------------------------------------------------------


def session_run(session):
    """The session's run function: the binding's, which skips the public `run`'s re-check of the
    input names and options on every call (static here: checked once at load); the public one
    where an onnxruntime has no binding."""
    return getattr(session, "_sess", session).run
