"""What the field's tools ask of the HTTP API beyond the core protocol, through the Flask test client:
Triton's model configuration and statistics extensions, compressed request bodies, parameters
that would change an answer, KServe V1's liveness and explain. (The real clients against a real
server: test_field_clients.py; gRPC: test_grpc.py.)"""

from __future__ import annotations

import gzip
import json
import zlib

import pytest
from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2 as triton_model_config  # Triton's own generated schema

from tests.fixtures import INPUTS, MAX_BODY
from tests.serve.clients import holds
from xorlab.serve.app import create_app

BODY = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [4, 2], "data": INPUTS}]}
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


# ---- model configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v2/models/mlp/config", "/v2/models/mlp/versions/1/config"])
def test_model_config_is_the_config_pbtxt_on_disk_as_tritons_schema_reads_it(client, xor_repo, path):
    r = client.get(path)
    assert r.status_code == 200 and r.content_type == "application/json"
    # The file as tritonclient's copy of Triton's schema parses it: every field it sets is served
    # with the same value (enums by name, int64 as numbers where protobuf's mapping has strings).
    on_disk = text_format.Parse((xor_repo / "mlp" / "config.pbtxt").read_text(), triton_model_config.ModelConfig())
    written = json_format.MessageToDict(on_disk, preserving_proto_field_name=True)
    assert set(written) == {"name", "platform", "max_batch_size", "input", "output", "instance_group", "version_policy"}
    assert holds(r.json, written)
    assert r.json["version_policy"] == {"latest": {"num_versions": 1}}
    assert [(g["count"], g["kind"]) for g in r.json["instance_group"]] == [(1, "KIND_CPU")]
    # What Triton adds when it normalizes an ONNX model's configuration.
    assert (r.json["backend"], r.json["default_model_filename"], r.json["instance_group"][0]["name"]) == (
        "onnxruntime",
        "model.onnx",
        "mlp_0",
    )
    # What perf_analyzer reads must not be there: it would take this model for a batching or decoupled one.
    assert not {"dynamic_batching", "sequence_batching", "model_transaction_policy", "response_cache"} & set(r.json)
    # And the whole answer parses back into Triton's schema: nothing in it that Triton's has not.
    json_format.ParseDict(r.json, triton_model_config.ModelConfig())


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        (
            "/v2/models/nope/config",
            404,
            "model 'nope' not found; available models: deep, mlp, mlp-backprop, perceptron",
        ),
        ("/v2/models/mlp/versions/2/config", 404, "model 'mlp' has no version '2'; available versions: 1"),
        ("/v2/models/nope/stats", 404, "model 'nope' not found; available models: deep, mlp, mlp-backprop, perceptron"),
    ],
)
def test_config_and_stats_of_unknown_models(client, path, status, message):
    r = client.get(path)
    assert (r.status_code, r.json) == (status, {"error": message})


def test_server_metadata_advertises_the_extensions_served_and_not_classification(client):
    extensions = client.get("/v2").json["extensions"]
    assert {"binary_tensor_data", "model_configuration", "statistics"} <= set(extensions)
    assert "classification" not in extensions


# ---- statistics -------------------------------------------------------------------------------------


def test_statistics_count_successes_failures_rows_and_phases(xor_repo):
    client = create_app(
        {"models": str(xor_repo)}
    ).test_client()  # its own registry of metrics is the process's: count deltas

    def stats() -> dict:
        r = client.get("/v2/models/deep/stats")
        assert r.status_code == 200
        [entry] = r.json["model_stats"]
        return entry

    before = stats()
    for rows in (1, 3, 4):
        assert client.post("/v1/models/deep:predict", json={"instances": INPUTS[:rows]}).status_code == 200
    assert client.post("/v2/models/deep/infer", json=BODY).status_code == 200
    assert client.post("/v2/models/deep/infer", json={"inputs": []}).status_code == 400
    after = stats()
    assert (after["name"], after["version"]) == ("deep", "1")
    assert after["inference_count"] - before["inference_count"] == 1 + 3 + 4 + 4
    assert after["execution_count"] - before["execution_count"] == 4
    got = {
        k: after["inference_stats"][k]["count"] - before["inference_stats"][k]["count"]
        for k in after["inference_stats"]
    }
    assert got == {
        "success": 4,
        "fail": 1,
        "queue": 4,
        "compute_input": 4,
        "compute_infer": 4,
        "compute_output": 4,
        "cache_hit": 0,
        "cache_miss": 0,
    }
    stats_ = after["inference_stats"]
    assert stats_["success"]["ns"] == sum(
        stats_[p]["ns"] for p in ("queue", "compute_input", "compute_infer", "compute_output")
    )
    assert stats_["compute_infer"]["ns"] > before["inference_stats"]["compute_infer"]["ns"]
    assert after["last_inference"] >= before["last_inference"] > 0 or before["execution_count"] == 0
    # perf_analyzer reads every count and duration as an unsigned integer, the version as a string.
    assert all(type(v) is int and v >= 0 for d in stats_.values() for v in d.values())
    assert (after["response_stats"], after["batch_stats"], after["memory_usage"]) == ({}, [], [])


def test_stats_of_every_model_is_a_route_not_a_model_named_stats(client):
    r = client.get("/v2/models/stats")
    assert r.status_code == 200
    assert [s["name"] for s in r.json["model_stats"]] == ["deep", "mlp", "mlp-backprop", "perceptron"]


def test_stats_of_an_unloaded_model_say_it_is_not_ready(xor_repo):
    client = create_app({"models": str(xor_repo), "admin_token": "t"}).test_client()
    assert client.post("/v2/repository/models/deep/unload", headers={"Authorization": "Bearer t"}).status_code == 200
    r = client.get("/v2/models/deep/stats")
    assert r.status_code == 503 and r.json["error"].startswith("model 'deep' is not ready")
    assert "deep" not in [s["name"] for s in client.get("/v2/models/stats").json["model_stats"]]
    assert client.get("/v2/models/deep/config").status_code == 503


# ---- compressed request bodies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("x-gzip", gzip.compress),
        ("GZIP", gzip.compress),
        ("deflate", gzip.compress),
        ("gzip, identity", gzip.compress),
        ("identity", lambda b: b),
    ],
)
@pytest.mark.parametrize("path", ["/v2/models/mlp/infer", "/v1/models/mlp:predict"])
def test_compressed_bodies_are_decoded(client, encoding, compress, path):
    body = BODY if path.endswith("infer") else {"instances": INPUTS}
    r = client.post(path, data=compress(json.dumps(body).encode()), headers={"Content-Encoding": encoding})
    assert r.status_code == 200, r.json


def test_a_compressed_binary_request_keeps_its_header_length_uncompressed(client):
    # tritonclient sends Inference-Header-Content-Length as the uncompressed JSON header's length.
    raw = bytes(8 * 4)
    head = json.dumps(
        {"inputs": [{"name": "x", "datatype": "FP32", "shape": [4, 2], "parameters": {"binary_data_size": len(raw)}}]}
    ).encode()
    r = client.post(
        "/v2/models/mlp/infer",
        data=gzip.compress(head + raw),
        headers={"Content-Encoding": "gzip", "Inference-Header-Content-Length": str(len(head))},
    )
    assert r.status_code == 200 and r.json["outputs"][0]["shape"] == [4, 1]


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-15)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("encoding", "body", "status", "message"),
    [
        ("br", b"whatever", 415, "Content-Encoding 'br' is not supported; send gzip, deflate or identity (one coding)"),
        ("gzip, gzip", gzip.compress(gzip.compress(b"{}")), 415, "Content-Encoding 'gzip, gzip' is not supported"),
        ("gzip", b"not gzip at all", 400, "the gzip request body cannot be decoded"),
        ("gzip", gzip.compress(json.dumps(BODY).encode())[:-12], 400, "the gzip request body is truncated"),
        (
            "gzip",
            gzip.compress(json.dumps(BODY).encode()) + b"tail",
            400,
            "the gzip request body has 4 bytes after its end",
        ),
        (
            "deflate",
            raw_deflate(json.dumps(BODY).encode()),
            400,
            "the deflate request body cannot be decoded",
        ),  # no zlib header
    ],
)
def test_bad_or_unknown_encodings_are_refused(client, encoding, body, status, message):
    r = client.post("/v2/models/mlp/infer", data=body, headers={"Content-Encoding": encoding})
    assert r.status_code == status and r.json["error"].startswith(message), r.json
    if status == 415:
        assert r.headers["Accept-Encoding"] == "gzip, deflate"


@pytest.mark.parametrize("compress", [gzip.compress, zlib.compress])
def test_a_decompression_bomb_is_413_at_the_body_limit(client, compress):
    bomb = compress(b"\0" * (MAX_BODY * 64))  # far past the limit once decoded; small on the wire
    assert len(bomb) < MAX_BODY
    r = client.post("/v2/models/mlp/infer", data=bomb, headers={"Content-Encoding": "gzip"})
    assert r.status_code == 413
    assert r.json["error"].startswith(f"request body too large: the limit is {MAX_BODY} bytes (decoded from gzip)")


def test_a_body_decoding_to_exactly_the_limit_is_read(client):
    body = json.dumps(BODY).encode()
    padded = body + b" " * (MAX_BODY - len(body))  # JSON allows trailing whitespace
    r = client.post("/v2/models/mlp/infer", data=gzip.compress(padded), headers={"Content-Encoding": "gzip"})
    assert r.status_code == 200


# ---- parameters that would change the answer -------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"outputs": [{"name": "y", "parameters": {"classification": 1}}]},
            "output 'y' is one probability per row, P(y=1), not class scores: "
            "the classification parameter (Triton's class_count) is not supported",
        ),
        (
            {"parameters": {"sequence_id": 7}},
            "the request has parameter 'sequence_id', which this server does not support "
            "(supported: binary_data_output, priority, timeout, triton_enable_empty_final_response)",
        ),
        (
            {"outputs": [{"name": "y", "parameters": {"shared_memory_region": "r"}}]},
            "output 'y' has parameter 'shared_memory_region', which this server does not support "
            "(supported: binary_data)",
        ),
        (
            {"inputs": [{**BODY["inputs"][0], "parameters": {"shared_memory_region": "r"}}]},
            "input 'x' has parameter 'shared_memory_region', which this server does not support "
            "(supported: binary_data_size)",
        ),
    ],
)
def test_parameters_that_would_change_the_answer_are_refused_by_name(client, change, message):
    r = client.post("/v2/models/mlp/infer", json={**BODY, **change})
    assert r.status_code == 400 and r.json["error"].startswith(message), r.json


def test_scheduling_parameters_do_not_change_the_answer_and_are_accepted(client):
    r = client.post("/v2/models/mlp/infer", json={**BODY, "parameters": {"priority": 1, "timeout": 1000}})
    assert r.status_code == 200


# ---- KServe V1: liveness at /, explain ---------------------------------------------------------------


@pytest.mark.parametrize(
    "accept", [None, "*/*", "application/json", "application/json, text/html;q=0.5", "text/*;q=0.5, */*"]
)
def test_root_answers_v1_liveness_to_clients_that_do_not_prefer_html(client, accept):
    r = client.get("/", headers={"Accept": accept} if accept else {})
    assert (r.status_code, r.content_type, r.json) == (200, "application/json", {"status": "alive"})
    assert "Accept" in r.headers["Vary"]


@pytest.mark.parametrize("accept", [BROWSER, "text/html", "text/html, application/json;q=0.9"])
def test_root_is_the_page_for_browsers(client, accept):
    r = client.get("/", headers={"Accept": accept})
    assert r.status_code == 200 and r.content_type == "text/html; charset=utf-8"
    assert "Accept" in r.headers["Vary"] and "<html" in r.get_data(as_text=True)


def test_explain_says_explanations_are_not_offered(client):
    r = client.post("/v1/models/mlp:explain", json={"instances": INPUTS})
    assert (r.status_code, r.json) == (
        501,
        {"error": "explanations are not offered: model 'mlp' has no explainer; use :predict for its predictions"},
    )
    unknown = client.post("/v1/models/nope:explain", json={"instances": INPUTS})
    assert unknown.status_code == 404 and unknown.json["error"].startswith("model 'nope' not found")
    wrong_method = client.get("/v1/models/mlp:explain")
    assert wrong_method.status_code == 405 and "not found" not in wrong_method.json["error"]
