"""Security: internal errors say nothing about the server's insides, no debug mode, request bodies
and the admin token never reach the logs, the admin routes tell a caller without the token
nothing, and every kind of response carries the security headers."""

from __future__ import annotations

import json
import logging
import re

import pytest
import requests
from werkzeug.routing import Rule

from tests import ROOT
from tests.fixtures import MAX_BODY
from tools.live_server import running
from xorlab.serve.app import create_app
from xorlab.serve.config import Settings
from xorlab.serve.dataplane import DataPlane
from xorlab.serve.http import page_files
from xorlab.serve.runtime import OnnxModel

SECRET = "s3cret-admin-token"
MARK = "BODYMARK-7f3a"  # put in every request body; must never appear in the server's log


class Boom(RuntimeError):
    pass


def _example_path(rule: Rule) -> str:
    # A real model for <name>, its version for <version>, anything for other arguments.
    values = {"name": "mlp", "version": "1"}
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values.get(m.group(1), "x"), rule.rule)


def _every_route(app_) -> list[tuple[str, str]]:
    return sorted(
        (method, _example_path(rule))
        for rule in app_.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    )


@pytest.fixture
def caught(monkeypatch):
    """The xorlab.serve log records with an exception (where a 500's details go)."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record):
            if record.exc_info:  # not the models' "ready" lines
                records.append(record)

    handler = Collect()
    logger = logging.getLogger("xorlab.serve")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def test_an_internal_error_on_any_route_says_nothing_but_internal_server_error(xor_repo, monkeypatch, caught):
    fresh = create_app({"models": str(xor_repo)})  # an app of its own: this test breaks it
    client = fresh.test_client()
    routes = _every_route(fresh)
    assert len(routes) >= 15

    def explode(self):
        raise Boom(f"failed at {__file__} with token {SECRET}")

    monkeypatch.setattr(DataPlane, "refresh", explode)  # runs first in every request
    for method, path in routes + [("GET", "/nowhere")]:
        r = client.open(path, method=method, json={"instances": [[0, 1]]} if method == "POST" else None)
        assert (r.status_code, r.content_type, r.json) == (
            500,
            "application/json",
            {"error": "internal server error"},
        ), path
    assert len(caught) == len(routes) + 1
    assert all(rec.exc_info and rec.exc_info[0] is Boom for rec in caught)  # the details are in the log only


def test_an_error_inside_inference_is_a_plain_500(xor_repo, monkeypatch, caught):
    client = create_app({"models": str(xor_repo)}).test_client()

    def explode(self, x):
        raise Boom(f"onnxruntime failed in {__file__}")

    monkeypatch.setattr(OnnxModel, "predict", explode)
    v1 = client.post("/v1/models/mlp:predict", json={"instances": [[0, 1]]})
    v2 = client.post(
        "/v2/models/mlp/infer", json={"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [0, 1]}]}
    )
    for r in (v1, v2):
        assert (r.status_code, r.get_data()) == (500, b'{"error":"internal server error"}')
    assert len(caught) == 2


def test_debug_mode_is_off_even_when_asked_for(xor_repo, monkeypatch):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    app_ = create_app({"models": str(xor_repo)})
    assert not app_.debug and not app_.config["PROPAGATE_EXCEPTIONS"]
    client = app_.test_client()
    r = client.get("/console")
    assert r.status_code == 404 and r.content_type == "application/json"
    # The debugger's resources are not served: the query is ignored by whatever route answers.
    debugger = client.get("/v1/models?__debugger__=yes&cmd=resource&f=debugger.js")
    assert debugger.status_code == 200 and debugger.content_type == "application/json"
    assert debugger.get_data() == client.get("/v1/models").get_data()


def test_an_empty_admin_token_turns_the_admin_routes_off():
    assert Settings.from_env({"XORLAB_ADMIN_TOKEN": ""}).admin_token is None


def test_security_headers_on_every_kind_of_response():
    # The committed repository: it has the report's pictures.
    app_ = create_app({"models": str(ROOT / "models"), "max_body_bytes": MAX_BODY})
    client = app_.test_client()
    files = [f"/static/{name}" for name in page_files.STATIC] + [
        f"/pictures/{name}" for name in app_.extensions["xorlab"].registry.pictures
    ]
    responses = [client.open(path, method=method, data=b"{}") for method, path in _every_route(app_)]
    responses += [client.get(path) for path in files]
    assert all(r.status_code == 200 for r in responses[-len(files) :]) and len(files) >= 4
    responses += [
        client.get("/", headers={"Accept": "text/html"}),  # the page (without it: KServe V1's liveness JSON)
        client.get("/nowhere"),  # 404
        client.get("/v2/models/mlp/infer"),  # 405
        client.post("/v1/models/mlp:predict", data=b" " * (MAX_BODY + 1)),  # 413
        client.post("/v1/models/mlp:predict", data=b"{"),  # 400
    ]
    kinds = {r.mimetype for r in responses}
    assert {"application/json", "text/plain", "text/html", "text/css", "image/png"} <= kinds
    for r in responses:
        assert r.headers["X-Content-Type-Options"] == "nosniff", r.request.path
        csp = r.headers["Content-Security-Policy"]
        if r.mimetype == "text/html":  # the report page: its own policy, nothing inline, no framing
            assert "default-src" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        else:
            assert csp == "default-src 'none'; frame-ancestors 'none'"


# ---- against a real gunicorn ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def debug_server(tmp_path_factory, xor_repo):
    """A real gunicorn logging at DEBUG, the most a log ever says, the admin API on with SECRET."""
    with running(
        tmp_path_factory.mktemp("security"), xor_repo, XORLAB_ADMIN_TOKEN=SECRET, XORLAB_LOG_LEVEL="DEBUG"
    ) as srv:
        yield srv


def test_admin_routes_tell_a_caller_without_the_token_nothing(debug_server):
    def ask(path: str, headers: dict) -> tuple[int, bytes]:
        r = requests.post(debug_server.url + path, headers=headers, timeout=30)
        return r.status_code, r.content

    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": SECRET}):
        # The same answer for a model that exists and one that does not, for load and unload.
        answers = {ask(f"/v2/repository/models/{m}/{a}", headers) for m in ("mlp", "nope") for a in ("load", "unload")}
        assert len(answers) == 1, answers
        status, body = answers.pop()
        assert status in (401, 403) and b"mlp" not in body and b"nope" not in body
    assert SECRET not in requests.get(debug_server.url + "/openapi.json", timeout=30).text


def test_request_bodies_and_the_token_never_reach_the_log(debug_server):
    # Last in this module: it stops the server to read the whole log.
    url = debug_server.url
    v2 = {"id": MARK, "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [0.5, 0.3141592]}]}
    sent = [
        requests.post(
            f"{url}/v1/models/mlp:predict", data=json.dumps({"instances": [[0.5, 0.3141592]], "note": MARK}), timeout=30
        ),
        requests.post(f"{url}/v2/models/mlp/infer", json=v2, timeout=30),
        requests.post(
            f"{url}/v2/models/mlp/infer", json={"inputs": [{"name": MARK}]}, timeout=30
        ),  # echoed in the answer
        requests.post(f"{url}/v1/models/mlp:predict", data=MARK.encode() * 10, timeout=30),
        requests.post(
            f"{url}/v1/models/mlp:predict",
            data=MARK.encode() * 10_000,
            timeout=30,
            headers={"Transfer-Encoding": "chunked"},
        ),
        requests.post(
            f"{url}/v2/repository/models/mlp/unload", headers={"Authorization": f"Bearer {MARK}"}, timeout=30
        ),
        requests.post(
            f"{url}/v2/repository/models/mlp/load", headers={"Authorization": f"Bearer {SECRET}"}, timeout=30
        ),
        requests.post(f"{url}/v2/repository/index", data=json.dumps({"ready": True, "x": MARK}), timeout=30),
    ]
    assert [r.status_code for r in sent] == [200, 200, 400, 400, 400, 403, 200, 200]
    assert sent[1].json()["id"] == MARK and MARK in sent[2].json()["error"]  # the bodies did arrive
    debug_server.stop()
    log = debug_server.log.read_text()
    requests_logged = [json.loads(line) for line in log.splitlines() if '"logger":"xorlab.access"' in line]
    assert len(requests_logged) >= len(sent)  # the requests were logged ...
    assert MARK not in log and "0.3141592" not in log  # ... without their bodies
    assert SECRET not in log
