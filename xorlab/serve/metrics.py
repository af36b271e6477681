"""Prometheus metrics, exact across gunicorn workers.

Under gunicorn each worker writes its samples to files in PROMETHEUS_MULTIPROC_DIR (made fresh by
the master at start, see gunicorn_conf) and /metrics sums every worker's files, dead workers'
included, so counters neither double nor vanish when workers are replaced. Without that variable
(tests with the Flask test client) the ordinary in-process registry is used.

Names follow NVIDIA Triton's where they fit; prometheus_client adds `_total` to counters.
"""

from __future__ import annotations

import glob
import logging
import os
from functools import lru_cache

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client import values

log = logging.getLogger("xorlab.serve")

# In multiprocess mode every sample written asks the kernel for the process id (to notice a fork
# and switch files): six system calls per inference request. The id is kept here instead and
# renewed in a forked child, which is when it changes. prometheus_client takes the function for
# exactly this (MultiProcessValue's process_identifier); it must be in place before the first
# metric value exists, so before the metrics below (this module defines every metric the service has).
_pid = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _pid.__setitem__(0, os.getpid()))
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    values.ValueClass = values.MultiProcessValue(process_identifier=lambda: _pid[0])
MODEL = ("model", "version")

REQUEST_SUCCESS = Counter("nv_inference_request_success", "Inference requests that succeeded.", MODEL)
REQUEST_FAILURE = Counter(
    "nv_inference_request_failure", "Inference requests that failed, by reason.", (*MODEL, "reason")
)
INFERENCE_COUNT = Counter("nv_inference_count", "Rows inferred (Triton: inferences performed).", MODEL)
EXEC_COUNT = Counter("nv_inference_exec_count", "Model executions (one per successful request).", MODEL)
REQUEST_DURATION = Histogram(
    "nv_inference_request_duration_us",
    "Inference request duration in microseconds, from the request reaching the app to its response.",
    MODEL,
    buckets=(100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000),
)
HTTP_REQUESTS = Counter("xorlab_http_requests", "HTTP requests by route template and status.", ("method", "route", "status"))
RELOADS = Counter("xorlab_repository_reloads", "Repository reads by a worker (at start, polled, reloaded) by result: "
                  "ok, or failed (the last good models serve on).", ("result",))

# Every label value comes from a small fixed set, never from what a client sent: a series is kept
# for as long as the server runs, so a label a client could vary would let it grow /metrics
# without bound. Failure reasons come from the response status, methods from this list.
REASONS = {400: "invalid_request", 413: "too_large", 503: "not_ready", 500: "internal"}
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})


# The labelled children, looked up once per label set rather than per request (`labels()` hashes and
# locks each time). Bounded: inference labels only come from the repository's models, HTTP labels
# from the route templates, the methods above and the statuses the service answers.
@lru_cache(maxsize=1024)
def _model_series(model: str, version: str) -> tuple:
    return (REQUEST_SUCCESS.labels(model, version), INFERENCE_COUNT.labels(model, version),
            EXEC_COUNT.labels(model, version), REQUEST_DURATION.labels(model, version))  # fmt: skip


@lru_cache(maxsize=1024)
def _http_series(method: str, route: str, status: int) -> Counter:
    return HTTP_REQUESTS.labels(method, route, str(status))


def observe_inference(model: str, version: str, status: int, rows: int, seconds: float) -> None:
    success, count, executions, duration = _model_series(model, version)
    if status == 200:
        success.inc()
        count.inc(rows)
        executions.inc()
    else:
        REQUEST_FAILURE.labels(model, version, REASONS.get(status, "other")).inc()
    duration.observe(seconds * 1e6)


def observe_reload(result: str) -> None:
    RELOADS.labels(result).inc()


def observe_http(method: str, route: str, status: int) -> None:
    _http_series(method if method in METHODS else "other", route, status).inc()


class _SettledFiles(multiprocess.MultiProcessCollector):
    """Reads every worker's metrics file except one caught in the instant between its creation and
    the sizing that precedes its first write (a new worker after a kill or a reload): that file is
    empty, prometheus_client fails to parse it, and the scrape would be a 500. It holds no counts yet."""

    def collect(self):
        def settled(path: str) -> bool:
            try:
                return os.path.getsize(path) >= 8   # the mmap header: bytes used
            except FileNotFoundError:               # a dead worker's file, just removed
                return False

        return self.merge([f for f in glob.glob(os.path.join(self._path, "*.db")) if settled(f)], accumulate=True)


_failures = 0  # samples this process could not record (its metrics folder unusable)


def safely(observe, *args) -> None:
    """Record a sample; if it cannot be (the multiprocess folder is gone, read-only or full), count
    that, say so once per process, and let the request be answered as if nothing happened."""
    try:
        observe(*args)
    except Exception:  # noqa: BLE001 - prometheus_client's file errors have no common base
        _failed()


def _failed() -> None:
    global _failures
    _failures += 1
    if _failures == 1:
        log.exception("metrics cannot be recorded in this worker (PROMETHEUS_MULTIPROC_DIR is unusable); "
                      "requests are answered, their samples are lost and counted in "
                      "xorlab_metrics_record_failures_total")


def _collect() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        _SettledFiles(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def render() -> bytes:
    try:
        text = _collect()
    except Exception:  # noqa: BLE001 - an unusable folder: the scrape answers with what this process knows
        _failed()
        text = b""
    # In this process's memory, so even a worker whose files cannot be written reports it.
    return text + (
        b"# HELP xorlab_metrics_record_failures_total Samples the worker answering this scrape could not record.\n"
        b"# TYPE xorlab_metrics_record_failures_total counter\n"
        b"xorlab_metrics_record_failures_total %d\n" % _failures
    )


CONTENT_TYPE = CONTENT_TYPE_LATEST
