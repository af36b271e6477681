"""The no-op route (the benchmark's baseline) and the benchmark's own requests, through the Flask
test client: the baseline must go through the same bookkeeping as an inference request, and every
request bench/ sends must be one the service accepts, or the benchmark would measure errors."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from prometheus_client import REGISTRY

from bench.payloads import BIG_ROWS, xorlab_scenarios
from xorlab.serve.app import create_app
from tests.fixtures import MAX_BODY


def test_noop_answers_an_empty_object_and_is_counted_and_tagged(client):
    labels = {"method": "POST", "route": "/noop", "status": "200"}
    before = REGISTRY.get_sample_value("xorlab_http_requests_total", labels) or 0.0
    r = client.post("/noop", data=b'{"anything": [1, 2]}', headers={"X-Request-ID": "noop-1"})
    assert (r.status_code, r.get_data(), r.content_type) == (200, b"{}", "application/json")
    assert r.headers["X-Request-ID"] == "noop-1"
    assert REGISTRY.get_sample_value("xorlab_http_requests_total", labels) - before == 1


def test_noop_refuses_a_body_over_the_limit_like_any_route(client):
    r = client.post("/noop", data=b"x" * (MAX_BODY + 1))
    assert r.status_code == 413 and r.json["error"] == f"request body too large: the limit is {MAX_BODY} bytes"


def test_noop_only_takes_post(client):
    r = client.get("/noop")
    assert r.status_code == 405 and "POST" in r.headers["Allow"]


@pytest.fixture(scope="module")
def full_client(xor_repo):
    # Default limits: the benchmark sends 10,000 rows.
    return create_app({"models": str(xor_repo)}).test_client()


@pytest.mark.parametrize("scenario", xorlab_scenarios(), ids=lambda s: s.key)
def test_every_benchmark_request_is_answered_200_with_one_output_per_row(full_client, scenario):
    headers = {"Content-Type": scenario.content_type}
    if scenario.header_length is not None:
        headers["Inference-Header-Content-Length"] = str(scenario.header_length)
    r = full_client.post(scenario.path, data=scenario.body, headers=headers)
    assert r.status_code == 200, r.get_data()[:300]
    rows = BIG_ROWS if scenario.key.endswith("10k") else 1
    body = r.get_data()
    if scenario.key == "noop":
        assert body == b"{}"
    elif scenario.key.startswith("v1"):
        assert len(orjson.loads(body)["predictions"]) == rows
    else:
        header_length = r.headers.get("Inference-Header-Content-Length")
        if scenario.header_length is None:
            assert header_length is None and len(orjson.loads(body)["outputs"][0]["data"]) == rows
        else:  # binary in, binary out: 4 bytes per row after the JSON header
            y = np.frombuffer(body[int(header_length):], dtype="<f4")
            assert y.shape == (rows,) and ((0 <= y) & (y <= 1)).all()
