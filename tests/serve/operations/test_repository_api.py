"""The repository API (load/unload, token-protected): through the Flask test client, what it refuses
and in which words, and one worker's change seen by every other; in a real gunicorn (2 workers),
each change reaching every worker."""

from __future__ import annotations

import pytest

from tests.serve.clients import ADMIN_TOKEN, AUTH, fresh
from xorlab.serve.app import create_app


@pytest.mark.parametrize(
    ("method", "path", "api"),
    [
        ("POST", "/v2/repository/models/mlp/load", "repository"),
        ("POST", "/v2/repository/models/mlp/unload", "repository"),
        ("GET", "/v2/logging", "logging"),
        ("POST", "/v2/logging", "logging"),
    ],
)
def test_admin_routes_are_off_without_a_token(client, method, path, api):
    # Not a 404 "no route", which reads as a wrong address: gRPC's answer, in its words (501 for
    # its UNIMPLEMENTED; tests/serve/grpc/test_grpc.py compares the two).
    r = client.open(path, method=method, headers=AUTH, json={})
    assert (r.status_code, r.json) == (501, {"error": f"the {api} API is off: the server has no XORLAB_ADMIN_TOKEN"})
    extensions = client.get("/v2").json["extensions"]
    assert "model_repository" not in extensions and "logging" not in extensions


@pytest.mark.parametrize(
    ("action", "parameters", "named"),
    [
        ("load", {"config": '{"max_batch_size": 4}'}, "config"),
        ("load", {"file:1/model.onnx": "AAAA"}, "file:1/model.onnx"),
        ("load", {"config": "{}", "file:1/model.onnx": "AAAA"}, "config, file:1/model.onnx"),
        ("unload", {"unload_dependents": False, "config": "{}"}, "config"),
    ],
)
def test_a_load_that_would_change_the_files_is_refused_by_name(admin_client, action, parameters, named):
    # It answered 200 {} and ignored them (max_batch_size unchanged); gRPC refused them by name.
    r = admin_client.post(f"/v2/repository/models/mlp/{action}", headers=AUTH, json={"parameters": parameters})
    assert (r.status_code, r.json) == (
        400,
        {
            "error": f"the repository API does not take the parameter(s) {named}; "
            f"it loads what the repository on disk holds"
        },
    )
    assert admin_client.get("/v2/models/mlp/ready").status_code == 200
    assert admin_client.get("/v2/models/mlp/config").json["max_batch_size"] == 65536


@pytest.mark.parametrize("body", [b"[]", b'{"parameters": []}', b"{"])
def test_a_load_body_that_is_not_tritons_is_refused(admin_client, body):
    r = admin_client.post("/v2/repository/models/mlp/load", headers=AUTH, data=body)
    assert r.status_code == 400 and r.json["error"]


@pytest.mark.parametrize("action", ["load", "unload"])
@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({}, 401, "this route needs 'Authorization: Bearer <token>'"),
        ({"Authorization": "Bearer wrong"}, 403, "the token is not valid for this route"),
        ({"Authorization": ADMIN_TOKEN}, 403, "the token is not valid for this route"),
        ({"Authorization": f"Bearer {ADMIN_TOKEN}x"}, 403, "the token is not valid for this route"),
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
    assert (
        ready.status_code == 503
        and ready.json["error"] == "model 'mlp' is not ready: unloaded through the repository API"
    )
    assert admin_client.post("/v1/models/deep:predict", json={"instances": [[0, 1]]}).status_code == 200
    assert admin_client.post("/v2/repository/models/mlp/load", headers=AUTH).status_code == 200
    assert admin_client.get("/v2/models/mlp/ready").status_code == 200


def test_unload_and_load_of_an_unknown_model_are_404_and_change_nothing(admin_client):
    shared = admin_client.application.extensions["xorlab"].shared
    before = shared.generation()
    r = admin_client.post("/v2/repository/models/nope/unload", headers=AUTH)
    assert r.status_code == 404 and r.json["error"].startswith("model 'nope' not found")
    r = admin_client.post("/v2/repository/models/nope/load", headers=AUTH)
    assert r.status_code == 404 and r.json["error"].startswith(
        "model 'nope' is not in the repository's manifest; it names: "
    )
    assert shared.generation() == before  # no worker is asked to re-read anything


def test_load_rereads_the_repository_and_reports_a_model_that_fails(tmp_path):
    from tests.fixtures import build_repository

    root = tmp_path / "models"
    manifest = build_repository(root)
    client = create_app({"models": str(root), "admin_token": ADMIN_TOKEN}).test_client()
    (root / manifest["models"]["deep"]["artifacts"]["onnx"]["path"]).write_bytes(b"broken")
    r = client.post("/v2/repository/models/deep/load", headers=AUTH)
    assert r.status_code == 400 and r.json["error"].startswith(
        "failed to load 'deep': artifact 'deep/1/model.onnx' has 6 bytes"
    )


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


def test_load_and_unload_reach_every_worker(admin_server):
    assert fresh("POST", f"{admin_server.url}/v2/repository/models/deep/unload").status_code == 401
    assert (
        fresh(
            "POST", f"{admin_server.url}/v2/repository/models/deep/unload", headers={"Authorization": "Bearer no"}
        ).status_code
        == 403
    )
    assert fresh("POST", f"{admin_server.url}/v2/repository/models/deep/unload", headers=AUTH).status_code == 200
    assert [fresh("GET", f"{admin_server.url}/v2/models/deep/ready").status_code for _ in range(12)] == [503] * 12
    assert fresh("POST", f"{admin_server.url}/v2/repository/models/deep/load", headers=AUTH).status_code == 200
    assert [fresh("GET", f"{admin_server.url}/v2/models/deep/ready").status_code for _ in range(12)] == [200] * 12
