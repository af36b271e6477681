"""gunicorn settings for xorlab-serve, from the same XORLAB_* variables as the app.

Run as `gunicorn --config python:xorlab.serve.hosting.gunicorn_config` (what `xorlab-serve` does). The master only
reads settings and supervises: the app, and with it every onnxruntime session, is created in each
worker after the fork (`preload_app = False`), because sessions do not survive a fork.
"""

import os
import resource
import shutil
import tempfile

from gunicorn.glogging import Logger

from xorlab.serve.config import WORKERS, Settings
from xorlab.serve.grpc import lifecycle as grpc_lifecycle  # loads grpc in workers only
from xorlab.serve.hosting import announce, error_pages, http_date, internals, unread_body
from xorlab.serve.logs import gunicorn_logconfig
from xorlab.serve.shared_state import RUNTIME_DIR

_settings = Settings.from_env()
error_pages.install()  # gunicorn's own 4xx (malformed HTTP) in JSON, like the app's

wsgi_app = "xorlab.serve.app:create_app()"
preload_app = False  # never load models in the master
bind = [_settings.bind]
workers = _settings.workers
# gevent (xorlab's variant, see gevent_worker) keeps up to XORLAB_MAX_CONNECTIONS connections alive per worker with
# no thread hand-off per request: the least CPU per request, for clients that connect directly and
# behind a proxy that keeps its connections open (the compose stack's nginx). gthread does the same
# with a pool of threads. Behind a proxy that opens a connection for every request, the sync worker
# (sync_worker) does the same work with less CPU per request. gunicorn silently runs gthread when
# threads > 1, so sync gets one thread.
worker_class = WORKERS[_settings.worker_class]
threads = _settings.threads if worker_class == "gthread" else 1
keepalive = _settings.keepalive
# Connections per worker. xorlab's gevent worker answers a connection past XORLAB_MAX_CONNECTIONS
# with a 503 at once (gevent_worker), so gunicorn's own limit (at which it stops accepting, leaving
# new connections waiting in the listen queue) sits above it, with room for those answers.
worker_connections = 2 * _settings.max_connections if worker_class == WORKERS["gevent"] else _settings.max_connections
# gunicorn's C parser (gunicorn_h1c) reads the request line and splits the headers; gunicorn still
# applies its header rules itself, in less CPU per request than its Python parser
# (docs/benchmarks.md, "What each change bought"). gunicorn
# raises its own error for a missing parser only when the first request arrives, so Settings
# refuses a `fast` without it before the start.
http_parser = _settings.http_parser
http_date.cache_http_date()
timeout = _settings.timeout
graceful_timeout = _settings.graceful_timeout  # SIGTERM: stop accepting, finish in-flight requests
loglevel = _settings.log_level.lower()
accesslog = None  # the app logs one JSON line per request itself (never a body)
logconfig_dict = gunicorn_logconfig(_settings.log_level)  # gunicorn's own lines in the same JSON


class NoAccessLogger(Logger):
    # With a logconfig_dict, gunicorn builds its access line for every request (headers, times,
    # a log record) even with no handler to write it: work for nothing, since the app logs each
    # request itself. This logger never builds it.
    def _compute_access_log_enabled(self):
        return False


logger_class = NoAccessLogger
proc_name = "xorlab-serve"
# The worker heartbeat file: in memory, not on a disk that may stall.
# gunicorn's control socket defaults to one path under $HOME: two servers would fight over it, and
# a read-only container has nowhere to put it. Signals (TERM, HUP) are the control interface.
control_socket_disable = True
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def _raise_open_files() -> None:
    """Every connection is a descriptor: the soft limit (1,024 on many systems) is raised to the hard
    one, which an administrator sets, before the workers are forked (they inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def on_starting(server):
    _raise_open_files()
    server.log.info("open files: at most %s per process", resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    # A fresh runtime folder per start, shared by the workers: Prometheus' multiprocess files
    # (stale ones from an earlier run would add to the counts) and the load/unload state.
    # Workers inherit the environment at fork; a SIGHUP reload keeps both (counts carry on).
    try:
        runtime = tempfile.mkdtemp(prefix="xorlab-serve-")
        os.mkdir(os.path.join(runtime, "metrics"))
    except OSError as exc:  # a read-only root without a writable /tmp (or TMPDIR) is a setting, not a bug
        raise SystemExit(
            f"xorlab-serve: error: cannot make the runtime folder for metrics and load/unload "
            f"state: {exc.strerror or exc}; give the server a writable TMPDIR"
        ) from None
    os.environ[RUNTIME_DIR] = runtime
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(runtime, "metrics")
    grpc_lifecycle.check_port(_settings)  # RuntimeError: gunicorn prints it and exits 1


def on_reload(server):
    grpc_lifecycle.on_reload()  # the old workers keep gRPC served until a new one does


def child_exit(server, worker):
    # A dead worker's live gauges go; its counters stay in the sums.
    from prometheus_client import multiprocess

    try:
        multiprocess.mark_process_dead(worker.pid)
    except OSError as exc:  # an unusable metrics folder must not stop the master replacing workers
        server.log.warning("metrics files of worker %s not cleaned up: %s", worker.pid, exc)
    grpc_lifecycle.child_exit(worker.pid)


def on_exit(server):
    shutil.rmtree(os.environ.get(RUNTIME_DIR, ""), ignore_errors=True)


def pre_request(worker, req):
    unread_body.begin(req, _settings.max_body_bytes)


def post_request(worker, req, environ, resp):
    unread_body.end()


def post_worker_init(worker):
    # create_app has run in this worker by now (models loaded, or refused with reasons): gRPC
    # serves the same data plane.
    worker.wsgi.extensions["xorlab"].start_polling()
    grpc_lifecycle.start(worker)
    worker.log.info(
        "xorlab worker %s serving (%s worker, HTTP parser: %s)",
        worker.pid,
        _settings.worker_class,
        parser_in_use(worker.cfg),
    )
    announce.announce(worker)  # the first worker of this start says where to point a browser and clients


def parser_in_use(cfg) -> str:
    """What gunicorn parses requests with under `cfg`: gunicorn's own decision."""
    fast = internals.fast_parser_in_use(cfg)
    return "unknown" if fast is None else "gunicorn_h1c (C)" if fast else "python"


def worker_exit(server, worker):
    grpc_lifecycle.worker_exit(worker)
