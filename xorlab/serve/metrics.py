"""Prometheus metrics, exact across gunicorn workers.

Under gunicorn each worker writes its samples to files in PROMETHEUS_MULTIPROC_DIR (made fresh by
the master at start, see hosting/gunicorn_config.py) and /metrics sums every worker's files, dead workers'
included, so counters neither double nor vanish when workers are replaced. Without that variable
(tests with the Flask test client) the ordinary in-process registry is used.

Names follow NVIDIA Triton's where they fit; prometheus_client adds `_total` to counters. The
`nv_*` families keep Triton's names, microseconds included, so Triton's dashboards read them as
they are; `promtool check metrics` flags those names (TRITON_NAMES: the only exceptions, listed in
docs/operating.md). xorlab's own follow Prometheus' conventions: base units (seconds).
"""

from __future__ import annotations

import glob
import logging
import os
import time
from collections import defaultdict
from functools import lru_cache

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from xorlab.serve import logs
from xorlab.serve.hosting import internals

log = logging.getLogger("xorlab.serve")

# In multiprocess mode every sample written asks the kernel for the process id (to notice a fork
# and switch files): six system calls per inference request. The id kept by logs.pid (renewed in a
# forked child, which is when it changes) is given instead. prometheus_client takes the function for
# exactly this (MultiProcessValue's process_identifier); it must be in place before the first
# metric value exists, so before the metrics below (this module defines every metric the service has).
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    internals.give_prometheus_process_id(logs.pid)

MODEL = ("model", "version")
# `protocol`: which front end served the request, http or grpc (a fixed set, like every label
# here). Sums over it are what Triton's statistics extension reports.
SERIES = (*MODEL, "protocol")

REQUEST_SUCCESS = Counter("nv_inference_request_success", "Inference requests that succeeded.", SERIES)
REQUEST_FAILURE = Counter(
    "nv_inference_request_failure", "Inference requests that failed, by reason.", (*SERIES, "reason")
)
INFERENCE_COUNT = Counter("nv_inference_count", "Rows inferred (Triton: inferences performed).", SERIES)
EXEC_COUNT = Counter("nv_inference_exec_count", "Model executions (one per successful request).", SERIES)
REQUEST_DURATION = Histogram(
    "nv_inference_request_duration_us",
    "Inference request duration in microseconds, from the request reaching the app to its response.",
    SERIES,
    buckets=(100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000),
)
# Where a successful request's time went, as Triton splits it (its counters of the same names); the
# four add up to the request's duration. Queue: waiting for a gRPC inference thread (HTTP has
# none: gunicorn's thread reads the request itself); input: reading and decoding the request;
# infer: onnxruntime; output: encoding the response.
PHASES = ("queue", "compute_input", "compute_infer", "compute_output")
PHASE_DURATION = {
    phase: Counter(
        f"nv_inference_{phase}_duration_us",
        f"Successful inference requests' {phase.replace('_', ' ')} time, microseconds.",
        SERIES,
    )
    for phase in PHASES
}
FAILURE_DURATION = Counter(
    "xorlab_inference_failure_duration_seconds", "Failed inference requests' duration, seconds.", SERIES
)
LAST_INFERENCE = Gauge(
    "xorlab_last_inference_timestamp_seconds",
    "When the model last answered a request (Unix time).",
    MODEL,
    multiprocess_mode="max",  # the latest across workers, dead ones included
)
HTTP_REQUESTS = Counter(
    "xorlab_http_requests", "HTTP requests by route template and status.", ("method", "route", "status")
)
GRPC_REQUESTS = Counter("xorlab_grpc_requests", "gRPC calls by method and status code.", ("method", "code"))
OVERLOAD = Counter(
    "xorlab_overload_refusals",
    "Requests refused at once because a worker's slots were taken "
    "(connections, calls or request bytes in flight), by protocol and reason.",
    ("protocol", "reason"),
)
RELOADS = Counter(
    "xorlab_repository_reloads",
    "Repository reads by a worker (at start, polled, reloaded) by result: "
    "ok, or failed (the last good models serve on).",
    ("result",),
)

# The sample names that keep Triton's names (and its unit, microseconds) for its dashboards, though
# Prometheus' conventions want base units: the only names `promtool check metrics` may flag.
TRITON_NAMES = ("nv_inference_request_duration_us", *(f"nv_inference_{phase}_duration_us_total" for phase in PHASES))

# Every label value comes from a small fixed set, never from what a client sent: a series is kept
# for as long as the server runs, so a label a client could vary would let it grow /metrics
# without bound. Failure reasons come from the response status, methods from this list (gRPC's
# from the service's methods and status codes).
REASONS = {400: "invalid_request", 413: "too_large", 503: "not_ready", 500: "internal"}
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})


# The labelled children, looked up once per label set rather than per request (`labels()` hashes and
# locks each time). Bounded: inference labels only come from the repository's models, HTTP labels
# from the route templates, the methods above and the statuses the service answers.
@lru_cache(maxsize=1024)
def _model_series(model: str, version: str, protocol: str) -> tuple:
    labels = (model, version, protocol)
    return (
        REQUEST_SUCCESS.labels(*labels),
        INFERENCE_COUNT.labels(*labels),
        EXEC_COUNT.labels(*labels),
        REQUEST_DURATION.labels(*labels),
        [PHASE_DURATION[p].labels(*labels) for p in PHASES],
        FAILURE_DURATION.labels(*labels),
        LAST_INFERENCE.labels(model, version),
    )


@lru_cache(maxsize=1024)
def _http_series(method: str, route: str, status: int) -> Counter:
    return HTTP_REQUESTS.labels(method, route, str(status))


@lru_cache(maxsize=1024)
def _grpc_series(method: str, code: str) -> Counter:
    return GRPC_REQUESTS.labels(method, code)


def observe_inference(
    model: str,
    version: str,
    status: int,
    rows: int,
    seconds: float,
    phases: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0),
    protocol: str = "http",
) -> None:
    """One inference request. `status`: its HTTP status (a gRPC call's error carries one too);
    `phases`: a success's seconds in PHASES order."""
    success, count, executions, duration, phase_counters, failure_duration, last = _model_series(
        model, version, protocol
    )
    if status == 200:
        success.inc()
        count.inc(rows)
        executions.inc()
        for counter, spent in zip(phase_counters, phases, strict=True):
            if spent:  # HTTP has no queue: adding 0 would cost a file write and change nothing
                counter.inc(spent * 1e6)
        last.set(time.time())
    else:
        REQUEST_FAILURE.labels(model, version, protocol, REASONS.get(status, "other")).inc()
        failure_duration.inc(seconds)
    duration.observe(seconds * 1e6)


def observe_reload(result: str) -> None:
    RELOADS.labels(result).inc()


def observe_overload(protocol: str, reason: str) -> None:
    OVERLOAD.labels(protocol, reason).inc()


def observe_http(method: str, route: str, status: int) -> None:
    _http_series(method if method in METHODS else "other", route, status).inc()


def observe_grpc(method: str, code: str) -> None:
    _grpc_series(method, code).inc()


class _SettledFiles(multiprocess.MultiProcessCollector):
    """Reads every worker's metrics file except one caught in the instant between its creation and
    the sizing that precedes its first write (a new worker after a kill or a reload): that file is
    empty, prometheus_client fails to parse it, and the scrape would be a 500. It holds no counts yet."""

    def __init__(self, registry, folder: str):
        super().__init__(registry, folder)
        self.folder = folder

    def collect(self):
        def settled(path: str) -> bool:
            try:
                return os.path.getsize(path) >= 8  # the mmap header: bytes used
            except FileNotFoundError:  # a dead worker's file, just removed
                return False

        return internals.merge_metric_files([f for f in glob.glob(os.path.join(self.folder, "*.db")) if settled(f)])


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
        log.exception(
            "metrics cannot be recorded in this worker (PROMETHEUS_MULTIPROC_DIR is unusable); "
            "requests are answered, their samples are lost and counted in "
            "xorlab_metrics_record_failures_total"
        )


def _registry():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        _SettledFiles(registry, os.environ["PROMETHEUS_MULTIPROC_DIR"])
        return registry
    return REGISTRY


def _collect() -> bytes:
    return generate_latest(_registry())


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


# The samples Triton's statistics extension is made of, by sample name: what `totals` sums.
_TOTALS = {
    "nv_inference_request_success_total": "success",
    "nv_inference_request_failure_total": "fail",
    "nv_inference_count_total": "inference_count",
    "nv_inference_exec_count_total": "execution_count",
    "xorlab_inference_failure_duration_seconds_total": "fail_seconds",
    **{f"nv_inference_{phase}_duration_us_total": f"{phase}_us" for phase in PHASES},
    "xorlab_last_inference_timestamp_seconds": "last_inference",
}


def totals() -> dict[tuple[str, str], dict[str, float]]:
    """Per (model, version): the counters above summed over protocols and reasons, from every
    worker's files (so exact across workers), and the latest inference time."""
    found: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for family in _registry().collect():
        for sample in family.samples:
            key = _TOTALS.get(sample.name)
            if key is None:
                continue
            entry = found[(sample.labels.get("model", ""), sample.labels.get("version", ""))]
            if key == "last_inference":
                entry[key] = max(entry[key], sample.value)
            else:
                entry[key] += sample.value
    return found


CONTENT_TYPE = CONTENT_TYPE_LATEST
