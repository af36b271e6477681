"""gunicorn settings for xorlab-serve, from the same XORLAB_* variables as the app.

Run as `gunicorn --config python:xorlab.serve.gunicorn_conf` (what `xorlab-serve` does). The master only
reads settings and supervises: the app, and with it every onnxruntime session, is created in each
worker after the fork (`preload_app = False`), because sessions do not survive a fork.
"""

import os
import shutil
import tempfile

from gunicorn.glogging import Logger

from xorlab.serve import announce, connection, gunicorn_errors, wire
from xorlab.serve.config import WORKERS, Settings
from xorlab.serve.control import RUNTIME_DIR
from xorlab.serve.grpc import lifecycle as grpc_lifecycle  # loads grpc in workers only
from xorlab.serve.logs import gunicorn_logconfig

_settings = Settings.from_env()
gunicorn_errors.install()  # gunicorn's own 4xx (malformed HTTP) in JSON, like the app's

wsgi_app = "xorlab.serve.app:create_app()"
preload_app = False  # never load models in the master
bind = [_settings.bind]
workers = _settings.workers
# gevent (xorlab's variant, see gevent_worker) keeps any number of connections alive per worker with
# no thread hand-off per request: the least CPU per request, for clients that connect directly and
# behind a proxy that keeps its connections open (the compose stack's nginx). gthread does the same
# with a pool of threads. Behind a proxy that opens a connection for every request, the sync worker
# (sync_worker) does the same work with less CPU per request. gunicorn silently runs gthread when
# threads > 1, so sync gets one thread.
worker_class = WORKERS[_settings.worker_class]
threads = _settings.threads if worker_class == "gthread" else 1
keepalive = _settings.keepalive
# gunicorn's C parser (gunicorn_h1c) reads the request line and splits the headers; gunicorn still
# applies its header rules itself. Against its Python parser at the same commit, 5-9% less CPU per
# one-row request, direct and behind the proxy (docs/benchmarks.md, the fifth round). gunicorn
# raises its own error for a missing parser only when the first request arrives, so Settings
# refuses a `fast` without it before the start.
http_parser = _settings.http_parser
wire.cache_http_date()
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


def on_starting(server):
    # A fresh runtime folder per start, shared by the workers: Prometheus' multiprocess files
    # (stale ones from an earlier run would add to the counts) and the load/unload state.
    # Workers inherit the environment at fork; a SIGHUP reload keeps both (counts carry on).
    try:
        runtime = tempfile.mkdtemp(prefix="xorlab-serve-")
        os.mkdir(os.path.join(runtime, "metrics"))
    except OSError as exc:  # a read-only root without a writable /tmp (or TMPDIR) is a setting, not a bug
        raise SystemExit(f"xorlab-serve: error: cannot make the runtime folder for metrics and load/unload "
                         f"state: {exc.strerror or exc}; give the server a writable TMPDIR") from None
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
    connection.begin(req, _settings.max_body_bytes)


def post_request(worker, req, environ, resp):
    connection.end()


def post_worker_init(worker):
    # create_app has run in this worker by now (models loaded, or refused with reasons): gRPC
    # serves the same data plane.
    worker.wsgi.extensions["xorlab"].start_polling()
    grpc_lifecycle.start(worker)
    worker.log.info("xorlab worker %s serving (%s worker, HTTP parser: %s)", worker.pid, _settings.worker_class, parser_in_use(worker.cfg))
    announce.announce(worker)  # the first worker of this start says where to point a browser and clients


def parser_in_use(cfg) -> str:
    """What gunicorn parses requests with under `cfg`: gunicorn's own decision (a private function
    of gunicorn.http.message; 'unknown' should it go)."""
    from gunicorn.http import message

    decide = getattr(message, "_check_fast_parser", None)
    if decide is None:
        return "unknown"
    return "gunicorn_h1c (C)" if decide(cfg) else "python"


def worker_exit(server, worker):
    grpc_lifecycle.worker_exit(worker)
