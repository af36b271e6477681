"""Metrics: what each request counts and how the route serves them, through the Flask test client;
exact across the workers of a real gunicorn (2 workers) and passing Prometheus' own lint there. They
never fail a scrape or a request: a worker's file caught in the instant it exists but is still empty
(a new worker after a kill or a reload) is skipped, and a sample that cannot be recorded is counted
and the request answered."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client import REGISTRY

from tests import ROOT
from tests.prerequisites import install
from tests.serve.clients import fresh, scrape
from xorlab.serve import metrics


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_inference_metrics_count_successes_rows_and_failures(client):
    before = {
        "ok": sample("nv_inference_request_success_total", model="mlp", version="1", protocol="http"),
        "rows": sample("nv_inference_count_total", model="mlp", version="1", protocol="http"),
        "bad": sample(
            "nv_inference_request_failure_total", model="mlp", version="1", protocol="http", reason="invalid_request"
        ),
        "hist": sample("nv_inference_request_duration_us_count", model="mlp", version="1", protocol="http"),
        "route": sample("xorlab_http_requests_total", method="POST", route="/v2/models/<name>/infer", status="200"),
    }
    client.post("/v1/models/mlp:predict", json={"instances": [[0, 1], [1, 1], [0, 0]]})
    client.post(
        "/v2/models/mlp/infer", json={"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [0, 1]}]}
    )
    client.post("/v1/models/mlp:predict", json={"instances": []})
    client.post("/v1/models/unknown:predict", json={"instances": [[0, 1]]})  # no model label for it
    assert sample("nv_inference_request_success_total", model="mlp", version="1", protocol="http") - before["ok"] == 2
    assert sample("nv_inference_count_total", model="mlp", version="1", protocol="http") - before["rows"] == 4
    assert (
        sample(
            "nv_inference_request_failure_total", model="mlp", version="1", protocol="http", reason="invalid_request"
        )
        - before["bad"]
        == 1
    )
    assert (
        sample("nv_inference_request_duration_us_count", model="mlp", version="1", protocol="http") - before["hist"]
        == 3
    )
    assert (
        sample("xorlab_http_requests_total", method="POST", route="/v2/models/<name>/infer", status="200")
        - before["route"]
        == 1
    )
    assert REGISTRY.get_sample_value("nv_inference_request_success_total", {"model": "unknown", "version": ""}) is None


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [
        ("HEAD", "/v2/models/mlp/infer", "/v2/models/<name>/infer"),
        ("GET", "/v2/models/mlp/versions/1/infer", "/v2/models/<name>/versions/<version>/infer"),
        ("HEAD", "/v1/models/mlp:predict", "/v1/models/<name>:predict"),
        ("PUT", "/v2/health/ready", "/v2/health/ready"),
    ],
)
def test_a_method_a_route_does_not_allow_is_counted_under_that_route(client, method, path, route):
    # Werkzeug leaves no rule on a 405; such requests were counted under "(unmatched)".
    before = sample("xorlab_http_requests_total", method=method, route=route, status="405")
    assert client.open(path, method=method).status_code == 405
    assert sample("xorlab_http_requests_total", method=method, route=route, status="405") - before == 1


def test_metrics_route_serves_the_prometheus_text_format(client):
    r = client.get("/metrics")
    assert r.status_code == 200 and r.content_type == metrics.CONTENT_TYPE == "text/plain; version=1.0.0; charset=utf-8"
    assert "# TYPE nv_inference_request_success_total counter" in r.get_data(as_text=True)


# ---- across the workers of a real gunicorn ---------------------------------------------------------


def test_metrics_are_exact_across_workers(admin_server):
    def workers_counted() -> set[str]:
        return {p.name.split("_")[-1] for p in admin_server.run.glob("xorlab-serve-*/metrics/counter_*.db")}

    # At least 60 requests, and on until both workers have answered some (the kernel may hand a
    # busy machine's connections to one worker for a while); bounded, so the test cannot hang.
    n = 0
    while n < 60 or (len(workers_counted()) < 2 and n < 2000):
        r = fresh(
            "POST", f"{admin_server.url}/v1/models/perceptron:predict", json={"instances": [[0, 1]] * (1 + n % 3)}
        )
        assert r.status_code == 200
        n += 1
    assert len(workers_counted()) == 2  # the requests were spread over both workers
    for _ in range(6):  # any worker may answer the scrape; each must see every worker's counts
        assert scrape(admin_server, "nv_inference_request_success_total", "perceptron") == n
        assert scrape(admin_server, "nv_inference_count_total", "perceptron") == sum(1 + i % 3 for i in range(n))


def test_metrics_pass_promtool_but_for_tritons_names(admin_server):
    """Prometheus' own lint over a live scrape that has every family in it (successes and failures
    over both protocols): it may flag only the `nv_*` names kept as Triton has them, which
    docs/operating.md lists."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip(f"no promtool on PATH: {install('prometheus')}")
    import numpy as np
    import tritonclient.grpc as tg

    assert fresh("POST", f"{admin_server.url}/v1/models/mlp:predict", json={"instances": [[0, 1]]}).status_code == 200
    assert (
        fresh("POST", f"{admin_server.url}/v1/models/mlp:predict", json={"instances": [[0, 1, 1]]}).status_code == 400
    )
    with tg.InferenceServerClient(admin_server.grpc) as client:
        x = tg.InferInput("x", [1, 2], "FP32")
        x.set_data_from_numpy(np.zeros((1, 2), np.float32))
        client.infer("mlp", [x])
    text = fresh("GET", f"{admin_server.url}/metrics").text
    assert (
        "xorlab_inference_failure_duration_seconds_total{" in text
        and "nv_inference_compute_infer_duration_us_total{" in text
    )
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    problems = [line for line in (checked.stdout + checked.stderr).splitlines() if line.strip()]
    flagged = {line.split()[0] for line in problems}
    assert flagged <= set(metrics.TRITON_NAMES), problems
    assert all(line.endswith("metric names should not contain abbreviated units") for line in problems), problems
    operating = (ROOT / "docs" / "operating.md").read_text()
    assert all(f"`{name}`" in operating for name in metrics.TRITON_NAMES)


# ---- never failing a scrape or a request ----------------------------------------------------------


def test_render_skips_a_metrics_file_not_yet_sized(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    (tmp_path / "counter_4242.db").write_bytes(b"")  # created, not yet truncated to its mmap size
    assert metrics.render().endswith(b"xorlab_metrics_record_failures_total 0\n")  # and no struct.error


def test_a_sample_that_cannot_be_recorded_is_counted_not_raised(monkeypatch, caplog):
    def broken(*args):
        raise FileNotFoundError("the metrics folder is gone")

    monkeypatch.setattr(metrics, "_failures", 0)
    for _ in range(3):
        metrics.safely(broken, "GET", "/", 200)
    assert metrics.render().endswith(b"xorlab_metrics_record_failures_total 3\n")
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1  # said once


FORKED = r"""
import os, sys
from xorlab.serve import metrics
metrics.observe_http("GET", "/parent", 200)
child = os.fork()
if child == 0:  # the child's samples go to its own file, under its own pid, and add to the parent's
    metrics.observe_http("GET", "/child", 200)
    os._exit(0)
os.waitpid(child, 0)
metrics.observe_http("GET", "/parent", 200)
files = sorted(f for f in os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"]) if f.startswith("counter_"))
print(files == sorted([f"counter_{os.getpid()}.db", f"counter_{child}.db"]))
sys.stdout.write(metrics.render().decode())
"""


def test_multiprocess_samples_go_to_each_process_own_file_across_a_fork(tmp_path):
    # The process id is kept, not asked for per sample (logs.pid): a forked child must still
    # write its own file, and the sums must hold.
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", FORKED],
        env={**__import__("os").environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    first, text = done.stdout.split("\n", 1)
    assert first == "True"
    assert 'xorlab_http_requests_total{method="GET",route="/parent",status="200"} 2.0' in text
    assert 'xorlab_http_requests_total{method="GET",route="/child",status="200"} 1.0' in text
