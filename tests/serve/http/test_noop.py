"""The no-op route (the benchmark's baseline), through the Flask test client: it must go through the
same bookkeeping as an inference request. (The benchmark checks each request it sends is answered
200 before it measures anything: bench/load.py.)"""

from __future__ import annotations

from prometheus_client import REGISTRY

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
