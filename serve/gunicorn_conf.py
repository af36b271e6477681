"""gunicorn settings for xorlab-serve, from the same XORLAB_* variables as the app.

Run as `gunicorn --config python:serve.gunicorn_conf` (what `xorlab-serve` does). The master only
reads settings and supervises: the app, and with it every onnxruntime session, is created in each
worker after the fork (`preload_app = False`), because sessions do not survive a fork.
"""

import os

from serve.config import Settings

_settings = Settings.from_env()

wsgi_app = "serve.app:create_app()"
preload_app = False  # never load models in the master
bind = [_settings.bind]
workers = _settings.workers
# gthread keeps connections alive (the sync worker closes each after one request) and serves
# several at once per worker; onnxruntime releases the GIL while it runs.
worker_class = "gthread"
threads = _settings.threads
keepalive = _settings.keepalive
timeout = _settings.timeout
graceful_timeout = _settings.graceful_timeout  # SIGTERM: stop accepting, finish in-flight requests
loglevel = _settings.log_level.lower()
accesslog = None  # no per-request line here (and never a request body)
proc_name = "xorlab-serve"
# The worker heartbeat file: in memory, not on a disk that may stall.
# gunicorn's control socket defaults to one path under $HOME: two servers would fight over it, and
# a read-only container has nowhere to put it. Signals (TERM, HUP) are the control interface.
control_socket_disable = True
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def post_worker_init(worker):
    # create_app has run in this worker by now (models loaded, or refused with reasons).
    worker.log.info("xorlab worker %s serving", worker.pid)
