"""Every route and every bad input, through the Flask test client."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from tests.fixtures import INPUTS, MAX_BODY, MAX_ROWS
from tests.serve.clients import binary_request

MODELS = ["deep", "mlp", "mlp-backprop", "perceptron"]


def v2_request(data=None, shape=(4, 2), **extra) -> dict:
    x = {"name": "x", "datatype": "FP32", "shape": list(shape), "data": INPUTS if data is None else data}
    return {"inputs": [x], **extra}


def split_binary_response(response) -> tuple[dict, bytes]:
    n = int(response.headers["Inference-Header-Content-Length"])
    return json.loads(response.data[:n]), response.data[n:]


# ---- the good paths ------------------------------------------------------------------------------


def test_v1_lists_models(client):
    r = client.get("/v1/models")
    assert (r.status_code, r.json) == (200, {"models": MODELS})


def test_v1_model_status(client):
    r = client.get("/v1/models/mlp")
    assert (r.status_code, r.json) == (200, {"name": "mlp", "ready": True})


@pytest.mark.parametrize("name", MODELS)
def test_v1_predict_reproduces_the_manifest_truth_table(client, xor_manifest, name):
    r = client.post(f"/v1/models/{name}:predict", json={"instances": INPUTS})
    assert r.status_code == 200 and r.content_type == "application/json"
    assert r.json["predictions"] == pytest.approx(xor_manifest["models"][name]["truth_table_outputs"], abs=1e-5)


@pytest.mark.parametrize("path", ["/v2", "/v2/"])
def test_v2_server_metadata_advertises_binary_tensor_data(client, path):
    r = client.get(path)
    assert r.status_code == 200
    assert r.json["name"] == "xorlab" and "binary_tensor_data" in r.json["extensions"]


def test_v2_health(client):
    assert (client.get("/v2/health/live").json, client.get("/v2/health/ready").json) == (
        {"live": True},
        {"ready": True},
    )


@pytest.mark.parametrize("path", ["/v2/models/mlp", "/v2/models/mlp/versions/1"])
def test_v2_model_metadata(client, path):
    r = client.get(path)
    assert r.status_code == 200
    assert r.json == {
        "name": "mlp",
        "versions": ["1"],
        "platform": "onnxruntime_onnx",
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 2]}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 1]}],
    }


@pytest.mark.parametrize("path", ["/v2/models/deep/ready", "/v2/models/deep/versions/1/ready"])
def test_v2_model_ready(client, path):
    assert (client.get(path).status_code, client.get(path).json) == (200, {"name": "deep", "ready": True})


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("nested", [True, False], ids=["nested", "flat"])
def test_v2_infer_json(client, xor_manifest, name, nested):
    data = INPUTS if nested else [v for row in INPUTS for v in row]
    r = client.post(f"/v2/models/{name}/infer", json=v2_request(data, id="req-1"))
    assert r.status_code == 200 and r.content_type == "application/json"
    body = r.json
    assert (body["model_name"], body["model_version"], body["id"]) == (name, "1", "req-1")
    [y] = body["outputs"]
    assert (y["name"], y["datatype"], y["shape"]) == ("y", "FP32", [4, 1])
    assert y["data"] == pytest.approx(xor_manifest["models"][name]["truth_table_outputs"], abs=1e-5)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_v2_infer_json_with_any_or_no_content_type(client, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    r = client.post("/v2/models/mlp/versions/1/infer", data=json.dumps(v2_request()), headers=headers)
    assert r.status_code == 200 and "id" not in r.json


def test_v2_infer_honours_requested_outputs(client):
    r = client.post(
        "/v2/models/mlp/infer", json=v2_request(outputs=[{"name": "y", "parameters": {"binary_data": False}}])
    )
    assert r.status_code == 200 and [o["name"] for o in r.json["outputs"]] == ["y"]


def test_v2_infer_binary_in_binary_out(client, xor_manifest):
    body, headers = binary_request(INPUTS, binary_data_output=True)
    r = client.post("/v2/models/mlp/infer", data=body, headers=headers)
    assert r.status_code == 200 and r.content_type == "application/octet-stream"
    header, raw = split_binary_response(r)
    [y] = header["outputs"]
    assert (y["shape"], y["parameters"], "data" in y) == ([4, 1], {"binary_data_size": 16}, False)
    assert list(struct.unpack("<4f", raw)) == pytest.approx(
        xor_manifest["models"]["mlp"]["truth_table_outputs"], abs=1e-5
    )


def test_v2_infer_binary_in_json_out(client, xor_manifest):
    body, headers = binary_request(INPUTS)
    r = client.post("/v2/models/deep/infer", data=body, headers=headers)
    assert r.status_code == 200 and "Inference-Header-Content-Length" not in r.headers
    assert r.json["outputs"][0]["data"] == pytest.approx(
        xor_manifest["models"]["deep"]["truth_table_outputs"], abs=1e-5
    )


def test_v2_infer_per_output_binary_flag_overrides_the_request_default(client):
    body, headers = binary_request(
        INPUTS, outputs=[{"name": "y", "parameters": {"binary_data": False}}], binary_data_output=True
    )
    r = client.post("/v2/models/mlp/infer", data=body, headers=headers)
    assert r.status_code == 200 and "data" in r.json["outputs"][0]


def test_v2_infer_json_in_binary_out(client):
    r = client.post(
        "/v2/models/mlp/infer", json=v2_request(outputs=[{"name": "y", "parameters": {"binary_data": True}}])
    )
    header, raw = split_binary_response(r)
    assert header["outputs"][0]["parameters"]["binary_data_size"] == len(raw) == 16


def test_v2_repository_index(client):
    for body in (None, {}, {"ready": True}):
        r = client.post("/v2/repository/index", json=body) if body is not None else client.post("/v2/repository/index")
        assert r.status_code == 200
        assert r.json == [{"name": m, "version": "1", "state": "READY", "reason": ""} for m in MODELS]


def test_report_says_who_solves_xor_from_the_served_models(client, xor_manifest):
    r = client.get("/v1/report")
    assert r.status_code == 200
    report = r.json
    assert report["truth_table"] == xor_manifest["truth_table"]
    for name, entry in xor_manifest["models"].items():
        got = report["models"][name]
        assert got["truth_table_outputs"] == pytest.approx(entry["truth_table_outputs"], abs=1e-5)
        assert (got["solved"], got["parameters"], got["final_loss"]) == (
            entry["solved"],
            entry["parameters"],
            entry["final_loss"],
        )
    assert report["models"]["perceptron"]["accuracy"] == 0.5 and report["models"]["perceptron"]["solved"] is False
    assert report["verdict"].startswith("mlp, mlp-backprop and deep solve XOR; perceptron cannot:")
    assert "not linearly separable" in report["verdict"]


# ---- client mistakes: exact status and message ---------------------------------------------------

V1_BAD = [
    (b"", 400, "the request body is empty; expected a JSON object"),
    (b"{", 400, "the request body is not valid JSON"),
    (b'{"instances": [[NaN, 1]]}', 400, "the request body is not valid JSON"),
    (b'{"instances": [[Infinity, 1]]}', 400, "the request body is not valid JSON"),
    (b"[[0, 1]]", 400, "the request has no 'instances'; expected {\"instances\": [[x1, x2], ...]}"),
    (b'{"instances": "0,1"}', 400, "'instances' must be a list of rows"),
    (b'{"instances": []}', 400, "'instances' is an empty batch; expected at least one row of 2 numbers"),
    (
        json.dumps({"instances": [[0, 1]] * (MAX_ROWS + 1)}).encode(),
        400,
        f"'instances' has {MAX_ROWS + 1} rows; the limit is {MAX_ROWS} rows per request",
    ),
    (b'{"instances": [[0, 1, 1]]}', 400, "'instances' has shape [1, 3]; expected [N, 2]: rows of two numbers"),
    (b'{"instances": [0, 1]}', 400, "'instances' has shape [2]; expected [N, 2]"),
    (b'{"instances": [[[0, 1]]]}', 400, "'instances' has shape [1, 1, 2]; expected [N, 2]"),
    (b'{"instances": [[0], [1, 1]]}', 400, "'instances' is ragged: every row must have the same number of values"),
    (b'{"instances": [["0", 1]]}', 400, "'instances' must hold numbers only, found strings"),
    (b'{"instances": [[true, false]]}', 400, "'instances' must hold numbers only, found booleans"),
    (b'{"instances": [[null, 1]]}', 400, "'instances' must hold numbers only, found non-numbers"),
    (b'{"instances": [[{"a": 1}, 1]]}', 400, "'instances' must hold numbers only, found non-numbers"),
    (b'{"instances": [[1e39, 1]]}', 400, "'instances' holds a number outside the FP32 range"),
    (b'{"instances": [[1e400, 1]]}', 400, "the request body is not valid JSON"),
]


@pytest.mark.parametrize(("body", "status", "message"), V1_BAD, ids=range(len(V1_BAD)))
def test_v1_predict_refuses_bad_input(client, body, status, message):
    r = client.post("/v1/models/mlp:predict", data=body, content_type="application/json")
    assert r.status_code == status and r.content_type == "application/json"
    assert r.json["error"].startswith(message)


def _input(**changes) -> dict:
    x = {"name": "x", "datatype": "FP32", "shape": [2, 2], "data": [[0, 1], [1, 0]]}
    x.update(changes)
    return {"inputs": [{k: v for k, v in x.items() if v is not None}]}


V2_BAD = [
    (b"{", "the request body is not valid JSON"),
    (
        b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [NaN, 1]}]}',
        "the request body is not valid JSON",
    ),
    (b"[]", "the request body must be a JSON object with 'inputs'"),
    ({}, "'inputs' must be a list of exactly one tensor, 'x'"),
    ({"inputs": {}}, "'inputs' must be a list of exactly one tensor, 'x'"),
    ({"inputs": [_input()["inputs"][0]] * 2}, "'inputs' must be a list of exactly one tensor, 'x'"),
    ({**_input(), "id": 7}, "'id' must be a string"),
    ({**_input(), "parameters": []}, "'parameters' of the request must be an object"),
    (_input(name="input0"), "unknown input 'input0'; the model's input is 'x'"),
    (_input(datatype="FP64"), "input 'x' has datatype 'FP64'; expected 'FP32'"),
    (_input(datatype=None), "input 'x' has datatype None; expected 'FP32'"),
    (_input(shape=[4]), "input 'x' has shape [4]; expected [N, 2] with N >= 1"),
    (_input(shape=[2, 2, 1]), "input 'x' has shape [2, 2, 1]; expected [N, 2] with N >= 1"),
    (_input(shape=[2, 3]), "input 'x' has shape [2, 3]; expected [N, 2]"),
    (_input(shape=[-2, 2]), "input 'x' has shape [-2, 2]; expected [N, 2]"),
    (_input(shape=[2.0, 2]), "input 'x' has shape [2.0, 2]; expected [N, 2]"),
    (_input(shape=[True, 2]), "input 'x' has shape [True, 2]; expected [N, 2]"),
    (_input(shape="2,2"), "input 'x' has shape '2,2'; expected [N, 2]"),
    (_input(shape=[0, 2], data=[]), "input 'x' is an empty batch; expected at least one row of 2 numbers"),
    (
        _input(shape=[MAX_ROWS + 1, 2], data=[[0, 1]] * (MAX_ROWS + 1)),
        f"input 'x' has {MAX_ROWS + 1} rows; the limit is {MAX_ROWS} rows per request",
    ),
    (_input(shape=[10**12, 2]), f"input 'x' has {10**12} rows; the limit is {MAX_ROWS}"),
    (_input(data=None), "input 'x' has no 'data' (and no binary_data_size parameter)"),
    (_input(data="0,1,1,0"), "input 'x': 'data' must be a list of numbers, nested or flat"),
    (_input(data=[0, 1, 1]), "input 'x': 'data' does not match shape [2, 2]"),
    (_input(data=[[0], [1]]), "input 'x': 'data' has 2 values; shape [2, 2] needs 4"),
    (_input(data=[[0, 1, 1], [0]]), "input 'x' 'data' is ragged"),
    (_input(data=[[0, 1], ["1", 0]]), "input 'x' 'data' must hold numbers only, found strings"),
    (_input(data=[True, False, True, True]), "input 'x' 'data' must hold numbers only, found booleans"),
    (_input(data=[[0, 1], [1, -1e39]]), "input 'x' 'data' holds a number outside the FP32 range"),
    (_input(data=[[[0, 1]], [[1, 0]]]), "input 'x': 'data' is nested as [2, 1, 2]; expected [2, 2] or flat"),
    ({**_input(), "outputs": [{"name": "z"}]}, "unknown output 'z'; the model's output is 'y'"),
    ({**_input(), "outputs": []}, "'outputs' must be a non-empty list"),
    ({**_input(), "outputs": ["y"]}, "unknown output None; the model's output is 'y'"),
]


@pytest.mark.parametrize(("body", "message"), V2_BAD, ids=range(len(V2_BAD)))
def test_v2_infer_refuses_bad_input(client, body, message):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = client.post("/v2/models/mlp/infer", data=data)
    assert r.status_code == 400 and r.content_type == "application/json"
    assert r.json["error"].startswith(message)


def _binary(header_length=None, size=16, raw=None, extra: dict | None = None) -> tuple[bytes, dict]:
    x = {"name": "x", "datatype": "FP32", "shape": [2, 2], "parameters": {"binary_data_size": size}, **(extra or {})}
    head = json.dumps({"inputs": [x]}).encode()
    raw = np.array([[0, 1], [1, 0]], dtype="<f4").tobytes() if raw is None else raw
    return head + raw, {"Inference-Header-Content-Length": str(len(head)) if header_length is None else header_length}


BINARY_BAD = [
    (_binary(header_length="abc"), "Inference-Header-Content-Length must be the JSON header's length in bytes"),
    (_binary(header_length="-5"), "Inference-Header-Content-Length must be"),
    (_binary(header_length="0"), "Inference-Header-Content-Length must be"),
    (_binary(header_length="100000"), "Inference-Header-Content-Length must be"),
    (_binary(header_length="10"), "the request body is not valid JSON"),
    (_binary(size=12), "input 'x': binary_data_size is 12; shape [2, 2] of FP32 needs 16 bytes"),
    (_binary(size="16"), "input 'x': binary_data_size is '16'; shape [2, 2] of FP32 needs 16 bytes"),
    (_binary(raw=b"\0" * 8), "input 'x': binary_data_size is 16 but only 8 bytes follow the JSON header"),
    (
        _binary(raw=b"\0" * 20),
        "the body has 20 bytes of binary tensor data after the JSON header; "
        "the inputs' binary_data_size account for 16",
    ),
    (_binary(extra={"data": [0, 1, 1, 0]}), "input 'x' has both 'data' and binary_data_size; send one"),
    (
        _binary(raw=np.array([0, np.nan, 1, 0], "<f4").tobytes()),
        "input 'x' holds NaN or Infinity; expected finite numbers",
    ),
    (_binary(raw=np.array([0, np.inf, 1, 0], "<f4").tobytes()), "input 'x' holds NaN or Infinity"),
]


@pytest.mark.parametrize(("request_", "message"), BINARY_BAD, ids=range(len(BINARY_BAD)))
def test_v2_infer_refuses_bad_binary_tensor_data(client, request_, message):
    body, headers = request_
    r = client.post("/v2/models/mlp/infer", data=body, headers=headers)
    assert r.status_code == 400 and r.json["error"].startswith(message)


def test_json_body_with_extra_bytes_and_no_binary_inputs_is_refused(client):
    head = json.dumps(_input()).encode()
    r = client.post(
        "/v2/models/mlp/infer", data=head + b"junk", headers={"Inference-Header-Content-Length": str(len(head))}
    )
    assert r.status_code == 400 and "the body has 4 bytes of binary tensor data" in r.json["error"]


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        (
            "post",
            "/v1/models/nope:predict",
            404,
            "model 'nope' not found; available models: deep, mlp, mlp-backprop, perceptron",
        ),
        ("get", "/v1/models/nope", 404, "model 'nope' not found"),
        ("get", "/v2/models/nope", 404, "model 'nope' not found"),
        ("get", "/v2/models/nope/ready", 404, "model 'nope' not found"),
        ("post", "/v2/models/nope/infer", 404, "model 'nope' not found"),
        ("get", "/v2/models/mlp/versions/2", 404, "model 'mlp' has no version '2'; available versions: 1"),
        ("get", "/v2/models/mlp/versions/2/ready", 404, "model 'mlp' has no version '2'"),
        ("post", "/v2/models/mlp/versions/x/infer", 404, "model 'mlp' has no version 'x'"),
        ("get", "/nowhere", 404, "no route for GET /nowhere"),
        (
            "get",
            "/v2/models/mlp/infer",
            405,
            "method GET is not allowed for /v2/models/mlp/infer; allowed: OPTIONS, POST",
        ),
        (
            "get",
            "/v1/models/mlp:predict",
            405,
            "method GET is not allowed for /v1/models/mlp:predict; allowed: OPTIONS, POST",
        ),
        (
            "post",
            "/v2/health/ready",
            405,
            "method POST is not allowed for /v2/health/ready; allowed: GET, HEAD, OPTIONS",
        ),
        ("delete", "/v1/report", 405, "method DELETE is not allowed for /v1/report"),
        (
            "get",
            "/v2/repository/index",
            405,
            "method GET is not allowed for /v2/repository/index; allowed: OPTIONS, POST",
        ),
    ],
)
def test_unknown_things_and_wrong_methods(client, method, path, status, message):
    r = getattr(client, method)(path, json={"instances": [[0, 1]]} if method == "post" else None)
    assert r.status_code == status and r.content_type == "application/json"
    assert r.json["error"].startswith(message)
    if status == 405:
        assert "POST" in r.headers["Allow"] or "GET" in r.headers["Allow"]


@pytest.mark.parametrize("path", ["/v1/models/mlp:predict", "/v2/models/mlp/infer", "/v2/repository/index"])
def test_body_over_the_limit_is_413(client, path):
    r = client.post(path, data=b" " * (MAX_BODY + 1))
    assert r.status_code == 413 and r.content_type == "application/json"
    assert r.json == {"error": f"request body too large: the limit is {MAX_BODY} bytes"}
    assert r.headers["Connection"] == "close"


def test_a_body_at_the_limit_is_read(client):
    body = json.dumps({"instances": [[0, 1]]}).encode()
    r = client.post("/v1/models/mlp:predict", data=body + b" " * (MAX_BODY - len(body)))
    assert r.status_code == 200


def test_a_chunked_body_over_the_limit_is_413(client):
    # No Content-Length: the body is refused once it grows past the limit, not truncated.
    import io

    r = client.post(
        "/v1/models/mlp:predict",
        input_stream=io.BytesIO(b" " * (MAX_BODY + 1)),
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert r.status_code == 413 and r.json["error"] == f"request body too large: the limit is {MAX_BODY} bytes"


def test_a_chunked_body_within_the_limit_is_read(client):
    import io

    body = json.dumps({"instances": [[0, 1]]}).encode()
    r = client.post(
        "/v1/models/mlp:predict", input_stream=io.BytesIO(body), environ_overrides={"wsgi.input_terminated": True}
    )
    assert r.status_code == 200 and len(r.json["predictions"]) == 1
