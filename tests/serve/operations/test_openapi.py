"""The OpenAPI document (/openapi.json) against the app's real routes, through the Flask test client;
and against a real gunicorn (2 workers): schemathesis over every documented operation, and V2
responses against the Open Inference Protocol's own schemas."""

from __future__ import annotations

import re
import subprocess

import jsonschema
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from tests import ROOT
from tests.fixtures import MAX_ROWS
from tests.serve.clients import fresh
from tests.serve.operations import fuzz
from tools.live_server import running
from xorlab.serve.http.openapi import document

OIP = yaml.safe_load((ROOT / "tests" / "schemas" / "open_inference_rest.yaml").read_text())
BODY = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [0, 1]}]}


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


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/mlp:predict",
        "/v1/models/mlp:explain",
        "/v1/models/mlp",
        "/v2/models/mlp/infer",
        "/v2/logging",
        "/v2/systemsharedmemory/status",
        "/v2/trace/setting",
    ],
)
def test_options_lists_exactly_the_methods_a_route_answers(client, path):
    # OPTIONS on ':predict' listed GET (the status route's), while GET on it was a 405 "allowed: OPTIONS, POST".
    allowed = {m.strip() for m in client.options(path).headers["Allow"].split(",")}
    for method in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"):
        r = client.open(path, method=method, json={})
        assert (r.status_code != 405) == (method in allowed), (method, r.status_code, allowed)
        if r.status_code == 405:
            assert {m.strip() for m in r.headers["Allow"].split(",")} == allowed


@pytest.mark.parametrize(
    ("schema", "body"),
    [
        ("V1PredictRequest", {"instances": []}),
        ("V1PredictRequest", {"instances": [[0, 1, 1]]}),
        ("V1PredictRequest", {"instances": [[0, 1e39]]}),
        ("V1PredictRequest", {"instances": [[0, 1]] * (MAX_ROWS + 1)}),
        ("InferenceRequest", {"inputs": []}),
        ("InferenceRequest", {"inputs": [{"name": "z", "datatype": "FP32", "shape": [1, 2], "data": [0, 1]}]}),
        (
            "InferenceRequest",
            {
                "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [0, 1]}],
                "parameters": {"classification": 1},
            },
        ),
        (
            "InferenceRequest",
            {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [0, 1]}], "outputs": []},
        ),
    ],
)
def test_the_document_does_not_allow_what_the_server_refuses(client, schema, body):
    # The document allowed empty batches that the server refuses (schemathesis: "schema-valid
    # request rejected"); each of these is refused by the server and outside the document.
    doc = client.get("/openapi.json").json
    path = "/v1/models/mlp:predict" if schema.startswith("V1") else "/v2/models/mlp/infer"
    assert client.post(path, json=body).status_code == 400
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, {"$ref": f"#/components/schemas/{schema}", "components": doc["components"]})


def test_openapi_json_is_served_and_loads_as_openapi(client):
    r = client.get("/openapi.json")
    assert r.status_code == 200 and r.json == document(MAX_ROWS, admin_token=False)  # the app's row limit; no token
    assert r.json["components"]["schemas"]["V1PredictRequest"]["properties"]["instances"]["maxItems"] == MAX_ROWS
    operations = [op for op in schemathesis.openapi.from_dict(r.json).get_all_operations()]
    assert len(operations) == sum(len(ops) for ops in document()["paths"].values())


# ---- against a real gunicorn -----------------------------------------------------------------------


def oip_schema(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}", "components": OIP["components"]}


@pytest.mark.parametrize(
    ("method", "path", "body", "component"),
    [
        ("GET", "/v2", None, "metadata_server_response"),
        ("GET", "/v2/models/mlp", None, "metadata_model_response"),
        ("GET", "/v2/models/mlp/versions/1", None, "metadata_model_response"),
        ("POST", "/v2/models/mlp/infer", {**BODY, "id": "7"}, "inference_response"),
        ("POST", "/v2/models/mlp/versions/1/infer", BODY, "inference_response"),
        ("POST", "/v2/models/mlp/infer", {"inputs": []}, "inference_error_response"),
        ("GET", "/v2/models/nope", None, "metadata_model_error_response"),
    ],
)
def test_v2_responses_follow_the_open_inference_protocol_schemas(admin_server, method, path, body, component):
    r = fresh(method, admin_server.url + path, json=body)
    jsonschema.validate(r.json(), oip_schema(component))
    assert r.headers["Content-Type"] == "application/json"


# The document of a server with an admin token (admin_server's), with the repository's schemathesis.toml:
# what it expects of the routes that answer 501 by design, and of V2 infer (see the file).
OPENAPI = schemathesis.openapi.from_dict(document(), config=SchemathesisConfig.from_path(fuzz.CONFIG))


@OPENAPI.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_to_the_openapi_document(admin_server, case):
    case.call_and_validate(base_url=admin_server.url)  # every check schemathesis has that applies to one response


@pytest.mark.slow
@pytest.mark.parametrize("token", [True, False], ids=["admin token", "no admin token"])
def test_schemathesis_finds_no_failure_with_every_check(admin_server, tmp_path, token):
    """`schemathesis run /openapi.json --checks all` as a user runs it (every phase: examples,
    coverage, fuzzing, stateful), against a server with an admin token and one without. It found
    7 failures once: empty batches the document allowed, an Allow header naming GET where GET was a
    405, a documented route answering 501 as if it were a fault."""

    def run(url: str) -> None:
        done = subprocess.run(
            fuzz.command(url, examples=6, seed=3, workers=2), cwd=tmp_path, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
        cases = re.search(r"Test cases:\s+(\d+) generated, (\d+) passed\n", done.stdout)
        assert cases and cases[1] == cases[2] and int(cases[1]) > 0, done.stdout[-3000:]

    if token:
        run(admin_server.url)
    else:
        (tmp_path / "run").mkdir()
        with running(tmp_path / "run", admin_server.root, workers=1) as plain:
            run(plain.url)
        assert "Traceback" not in plain.log.read_text()
    assert "Traceback" not in admin_server.log.read_text()
