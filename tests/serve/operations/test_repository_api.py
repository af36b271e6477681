"""Operations through the Flask test client: metrics, request ids and log lines, the OpenAPI
document against the real routes, the token-protected load/unload API."""

from __future__ import annotations

import json
import logging
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from tests.fixtures import MAX_ROWS
from xorlab.serve import logs, metrics
from xorlab.serve.app import create_app
from xorlab.serve.http.openapi import document
from xorlab.serve.logs import JsonFormatter

TOKEN = "s3cret-token"


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_inference_metrics_count_successes_rows_and_failures(client):
    before = {
        "ok": sample("nv_inference_request_success_total", model="mlp", version="1", protocol="http"),
        "rows": sample("nv_inference_count_total", model="mlp", version="1", protocol="http"),
        "bad": sample("nv_inference_request_failure_total", model="mlp", version="1", protocol="http", reason="invalid_request"),
        "hist": sample("nv_inference_request_duration_us_count", model="mlp", version="1", protocol="http"),
        "route": sample("xorlab_http_requests_total", method="POST", route="/v2/models/<name>/infer", status="200"),
    }
    client.post("/v1/models/mlp:predict", json={"instances": [[0, 1], [1, 1], [0, 0]]})
    client.post("/v2/models/mlp/infer", json={"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [0, 1]}]})
    client.post("/v1/models/mlp:predict", json={"instances": []})
    client.post("/v1/models/unknown:predict", json={"instances": [[0, 1]]})  # no model label for it
    assert sample("nv_inference_request_success_total", model="mlp", version="1", protocol="http") - before["ok"] == 2
    assert sample("nv_inference_count_total", model="mlp", version="1", protocol="http") - before["rows"] == 4
    assert sample("nv_inference_request_failure_total", model="mlp", version="1", protocol="http", reason="invalid_request") - before["bad"] == 1
    assert sample("nv_inference_request_duration_us_count", model="mlp", version="1", protocol="http") - before["hist"] == 3
    assert sample("xorlab_http_requests_total", method="POST", route="/v2/models/<name>/infer", status="200") - before["route"] == 1
    assert REGISTRY.get_sample_value("nv_inference_request_success_total", {"model": "unknown", "version": ""}) is None


@pytest.mark.parametrize(("method", "path", "route"), [
    ("HEAD", "/v2/models/mlp/infer", "/v2/models/<name>/infer"),
    ("GET", "/v2/models/mlp/versions/1/infer", "/v2/models/<name>/versions/<version>/infer"),
    ("HEAD", "/v1/models/mlp:predict", "/v1/models/<name>:predict"),
    ("PUT", "/v2/health/ready", "/v2/health/ready"),
])  # fmt: skip
def test_a_method_a_route_does_not_allow_is_counted_under_that_route(client, method, path, route):
    # Werkzeug leaves no rule on a 405; such requests were counted under "(unmatched)".
    before = sample("xorlab_http_requests_total", method=method, route=route, status="405")
    assert client.open(path, method=method).status_code == 405
    assert sample("xorlab_http_requests_total", method=method, route=route, status="405") - before == 1


def test_metrics_route_serves_the_prometheus_text_format(client):
    r = client.get("/metrics")
    assert r.status_code == 200 and r.content_type == metrics.CONTENT_TYPE == "text/plain; version=1.0.0; charset=utf-8"
    assert "# TYPE nv_inference_request_success_total counter" in r.get_data(as_text=True)


@pytest.fixture
def access_lines():
    """The request log lines, formatted as the server writes them."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("xorlab.access")
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


def test_request_id_is_echoed_and_the_request_logged_as_one_json_line_without_the_body(client, access_lines):
    r = client.post("/v1/models/deep:predict", json={"instances": [[0.125, 0.875]]}, headers={"X-Request-ID": "trace-42"})
    assert r.headers["X-Request-ID"] == "trace-42"
    [line] = access_lines
    entry = json.loads(line)
    assert {k: entry[k] for k in ("level", "logger", "method", "path", "status", "model", "request_id")} == {
        "level": "INFO", "logger": "xorlab.access", "method": "POST", "path": "/v1/models/deep:predict",
        "status": 200, "model": "deep", "request_id": "trace-42",
    }  # fmt: skip
    assert entry["duration_ms"] >= 0 and re.match(r"\d{4}-\d\d-\d\dT", entry["time"])
    assert "0.125" not in line and "instances" not in line


@pytest.mark.parametrize("incoming", [None, "", "x" * 129, "bad id with spaces", "inject\"quote"])
def test_a_missing_or_unsafe_request_id_is_replaced_by_a_generated_one(client, incoming):
    headers = {"X-Request-ID": incoming} if incoming is not None else {}
    r = client.get("/v2/health/live", headers=headers)
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-ID"])


@pytest.mark.parametrize("incoming", ["abc\n", "abc\r\n", "\nabc", "abc\n\n"])
def test_a_request_id_is_matched_whole(incoming):
    # The one check for both front ends (an HTTP header cannot carry a newline past gunicorn; gRPC
    # metadata can: tests/serve/test_grpc.py sends one over raw HTTP/2).
    assert re.fullmatch(r"[0-9a-f]{32}", logs.request_id(incoming))
    assert logs.request_id("abc") == "abc"


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def test_the_openapi_document_has_exactly_the_apps_routes(app):
    routes = {
        (_openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, ops in document()["paths"].items() for method in ops}
    assert documented == routes


@pytest.mark.parametrize("path", ["/v1/models/mlp:predict", "/v1/models/mlp:explain", "/v1/models/mlp", "/v2/models/mlp/infer",
                                  "/v2/logging", "/v2/systemsharedmemory/status", "/v2/trace/setting"])
def test_options_lists_exactly_the_methods_a_route_answers(client, path):
    # OPTIONS on ':predict' listed GET (the status route's), while GET on it was a 405 "allowed: OPTIONS, POST".
    allowed = {m.strip() for m in client.options(path).headers["Allow"].split(",")}
    for method in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"):
        r = client.open(path, method=method, json={})
        assert (r.status_code != 405) == (method in allowed), (method, r.status_code, allowed)
        if r.status_code == 405:
            assert {m.strip() for m in r.headers["Allow"].split(",")} == allowed


@pytest.mark.parametrize(("schema", "body"), [
    ("V1PredictRequest", {"instances": []}),
    ("V1PredictRequest", {"instances": [[0, 1, 1]]}),
    ("V1PredictRequest", {"instances": [[0, 1e39]]}),
    ("V1PredictRequest", {"instances": [[0, 1]] * (MAX_ROWS + 1)}),
    ("InferenceRequest", {"inputs": []}),
    ("InferenceRequest", {"inputs": [{"name": "z", "datatype": "FP32", "shape": [1, 2], "data": [0, 1]}]}),
    ("InferenceRequest", {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [0, 1]}],
                          "parameters": {"classification": 1}}),
    ("InferenceRequest", {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [0, 1]}], "outputs": []}),
])  # fmt: skip
def test_the_document_does_not_allow_what_the_server_refuses(client, schema, body):
    # The document allowed empty batches that the server refuses (schemathesis: "schema-valid
    # request rejected"); each of these is refused by the server and outside the document.
    import jsonschema

    doc = client.get("/openapi.json").json
    path = "/v1/models/mlp:predict" if schema.startswith("V1") else "/v2/models/mlp/infer"
    assert client.post(path, json=body).status_code == 400
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, {"$ref": f"#/components/schemas/{schema}", "components": doc["components"]})


def test_openapi_json_is_served_and_loads_as_openapi(client):
    import schemathesis

    r = client.get("/openapi.json")
    assert r.status_code == 200 and r.json == document(MAX_ROWS, admin_token=False)  # the app's row limit; no token
    assert r.json["components"]["schemas"]["V1PredictRequest"]["properties"]["instances"]["maxItems"] == MAX_ROWS
    operations = [op for op in schemathesis.openapi.from_dict(r.json).get_all_operations()]
    assert len(operations) == sum(len(ops) for ops in document()["paths"].values())


# ---- load / unload ---------------------------------------------------------------------------------


@pytest.fixture
def admin_client(xor_repo):
    return create_app({"models": str(xor_repo), "admin_token": TOKEN}).test_client()


AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize(("method", "path", "api"), [
    ("POST", "/v2/repository/models/mlp/load", "repository"),
    ("POST", "/v2/repository/models/mlp/unload", "repository"),
    ("GET", "/v2/logging", "logging"),
    ("POST", "/v2/logging", "logging"),
])  # fmt: skip
def test_admin_routes_are_off_without_a_token(client, method, path, api):
    # Not a 404 "no route", which reads as a wrong address: gRPC's answer, in its words (501 for
    # its UNIMPLEMENTED; tests/serve/test_grpc.py compares the two).
    r = client.open(path, method=method, headers=AUTH, json={})
    assert (r.status_code, r.json) == (501, {"error": f"the {api} API is off: the server has no XORLAB_ADMIN_TOKEN"})
    extensions = client.get("/v2").json["extensions"]
    assert "model_repository" not in extensions and "logging" not in extensions


@pytest.mark.parametrize(("action", "parameters", "named"), [
    ("load", {"config": "{\"max_batch_size\": 4}"}, "config"),
    ("load", {"file:1/model.onnx": "AAAA"}, "file:1/model.onnx"),
    ("load", {"config": "{}", "file:1/model.onnx": "AAAA"}, "config, file:1/model.onnx"),
    ("unload", {"unload_dependents": False, "config": "{}"}, "config"),
])  # fmt: skip
def test_a_load_that_would_change_the_files_is_refused_by_name(admin_client, action, parameters, named):
    # It answered 200 {} and ignored them (max_batch_size unchanged); gRPC refused them by name.
    r = admin_client.post(f"/v2/repository/models/mlp/{action}", headers=AUTH, json={"parameters": parameters})
    assert (r.status_code, r.json) == (400, {"error": f"the repository API does not take the parameter(s) {named}; "
                                                      f"it loads what the repository on disk holds"})  # fmt: skip
    assert admin_client.get("/v2/models/mlp/ready").status_code == 200
    assert admin_client.get("/v2/models/mlp/config").json["max_batch_size"] == 65536


@pytest.mark.parametrize("body", [b"[]", b"{\"parameters\": []}", b"{"])
def test_a_load_body_that_is_not_tritons_is_refused(admin_client, body):
    r = admin_client.post("/v2/repository/models/mlp/load", headers=AUTH, data=body)
    assert r.status_code == 400 and r.json["error"]


@pytest.mark.parametrize("action", ["load", "unload"])
@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({}, 401, "this route needs 'Authorization: Bearer <token>'"),
        ({"Authorization": "Bearer wrong"}, 403, "the token is not valid for this route"),
        ({"Authorization": TOKEN}, 403, "the token is not valid for this route"),
        ({"Authorization": f"Bearer {TOKEN}x"}, 403, "the token is not valid for this route"),
    ],
)
def test_admin_routes_need_the_token(admin_client, action, headers, status, message):
    r = admin_client.post(f"/v2/repository/models/nope/{action}", headers=headers)  # says nothing about 'nope'
    assert (r.status_code, r.json) == (status, {"error": message})
    if status == 401:
        assert r.headers["WWW-Authenticate"] == "Bearer"


def test_unload_then_load_a_model(admin_client):
    assert "model_repository" in admin_client.get("/v2").json["extensions"]
    assert admin_client.post("/v2/repository/models/mlp/unload", headers=AUTH).status_code == 200
    ready = admin_client.get("/v2/models/mlp/ready")
    assert ready.status_code == 503 and ready.json["error"] == "model 'mlp' is not ready: unloaded through the repository API"
    assert admin_client.post("/v1/models/deep:predict", json={"instances": [[0, 1]]}).status_code == 200
    assert admin_client.post("/v2/repository/models/mlp/load", headers=AUTH).status_code == 200
    assert admin_client.get("/v2/models/mlp/ready").status_code == 200


def test_unload_and_load_of_an_unknown_model_are_404_and_change_nothing(admin_client):
    shared = admin_client.application.extensions["xorlab"].shared
    before = shared.generation()
    r = admin_client.post("/v2/repository/models/nope/unload", headers=AUTH)
    assert r.status_code == 404 and r.json["error"].startswith("model 'nope' not found")
    r = admin_client.post("/v2/repository/models/nope/load", headers=AUTH)
    assert r.status_code == 404 and r.json["error"].startswith("model 'nope' is not in the repository's manifest; it names: ")
    assert shared.generation() == before  # no worker is asked to re-read anything


def test_load_rereads_the_repository_and_reports_a_model_that_fails(tmp_path):
    from tests.fixtures import build_repository

    root = tmp_path / "models"
    manifest = build_repository(root)
    client = create_app({"models": str(root), "admin_token": TOKEN}).test_client()
    (root / manifest["models"]["deep"]["artifacts"]["onnx"]["path"]).write_bytes(b"broken")
    r = client.post("/v2/repository/models/deep/load", headers=AUTH)
    assert r.status_code == 400 and r.json["error"].startswith("failed to load 'deep': artifact 'deep/1/model.onnx' has 6 bytes")


def test_a_change_through_one_workers_control_is_seen_by_every_other(tmp_path):
    # Each worker maps the shared generation number (shared_state.py); the ones made before a change,
    # and one made after it (a worker started by a reload), all see it and read the same state.
    from xorlab.serve.shared_state import SharedState

    first, second = SharedState(str(tmp_path)), SharedState(str(tmp_path))
    assert first.generation() == second.generation() == 0 and second.state().unloaded == frozenset()
    first.update(unload="deep")
    assert second.generation() == 1 and second.state().unloaded == {"deep"}
    second.update(load="deep")
    third = SharedState(str(tmp_path))  # made after two changes: the number is kept, not reset
    assert first.generation() == third.generation() == 2
    assert third.state().unloaded == frozenset() and third.state().loads == {"deep": 1}


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=0, max_value=4e9, allow_nan=False), st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_log_times_are_what_datetime_writes(first, then):
    # logs._utc keeps one second's text (made by datetime) and writes the milliseconds itself; any
    # two times in a row, the second one reusing the first's cached text or not, read as datetime's.
    import datetime as dt

    from xorlab.serve import logs

    for created in (first, then, first):
        assert logs._utc(created) == dt.datetime.fromtimestamp(created, dt.timezone.utc).isoformat(timespec="milliseconds")
