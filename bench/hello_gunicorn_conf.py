"""xorlab's gunicorn configuration (xorlab/serve/hosting/gunicorn_config.py: worker class, threads,
keep-alive, hooks, loggers, all from the same XORLAB_* variables) serving the raw WSGI
hello-world of bench/hello_app.py instead of the app: the floor under the same settings."""

from xorlab.serve.hosting.gunicorn_config import *  # noqa: F403 - every setting and hook, as the service has them

wsgi_app = "bench.hello_app:app"


def post_worker_init(worker):  # the service's hook starts the app's repository watch: no app here
    worker.log.info("floor worker %s serving", worker.pid)
