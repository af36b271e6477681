"""The gRPC front end through tritonclient.grpc (and raw stubs where the client cannot send what is
tested), against a real 2-worker gunicorn: every call, sync, async, streaming and asyncio
inference, the error codes and words for bad input (the HTTP front end's words), limits,
compression, metrics and the access log, load/unload reaching every worker, every worker serving
the port, a port in use refused, the port kept served across a SIGHUP reload."""

from __future__ import annotations

import asyncio
import json
import queue
import re
import signal
import socket
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
import tritonclient.grpc as tg
import tritonclient.grpc.aio as tga
import tritonclient.http as th
from google.protobuf import json_format
from prometheus_client.parser import text_string_to_metric_families
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc
from tritonclient.utils import InferenceServerException

from tests.fixtures import INPUTS, NETWORKS, build_repository, forward
from tests.serve import h2grpc
from tests.serve.clients import ADMIN_TOKEN, OWN_CONNECTION, X, grpc_inputs
from tools.live_server import HOST, XorlabServer, running

LIMIT = 16 * 1024 * 1024  # the default body limit, for HTTP and gRPC alike
MODELS = ", ".join(sorted(NETWORKS))


@pytest.fixture
def grpc_client(admin_server):
    c = tg.InferenceServerClient(admin_server.grpc)
    yield c
    c.close()


def expected(x: np.ndarray, name: str = "mlp") -> np.ndarray:
    return forward(NETWORKS[name][0], x)


def refused(call) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as caught:
        call()
    return caught.value


def http_error(admin_server, body: dict) -> str:
    r = requests.post(f"{admin_server.url}/v2/models/mlp/infer", json=body, timeout=30)
    assert r.status_code >= 400
    return r.json()["error"]


# ---- every call -------------------------------------------------------------------------------------


def test_health_metadata_config_index_and_statistics(admin_server, grpc_client):
    assert grpc_client.is_server_live() and grpc_client.is_server_ready()
    assert grpc_client.is_model_ready("mlp") and grpc_client.is_model_ready("mlp", "1")
    assert not grpc_client.is_model_ready("nope") and not grpc_client.is_model_ready("mlp", "2")
    meta = grpc_client.get_server_metadata(as_json=True)
    assert meta["name"] == "xorlab" and {
        "binary_tensor_data",
        "model_configuration",
        "statistics",
        "model_repository",
    } <= set(meta["extensions"])
    model = grpc_client.get_model_metadata("deep", as_json=True)
    assert (model["name"], model["versions"], model["platform"]) == ("deep", ["1"], "onnxruntime_onnx")
    assert [(t["name"], t["datatype"], t["shape"]) for t in model["inputs"] + model["outputs"]] == [
        ("x", "FP32", ["-1", "2"]),
        ("y", "FP32", ["-1", "1"]),
    ]
    # The configuration is the HTTP extension's, message for message.
    config = grpc_client.get_model_config("mlp").config
    over_http = requests.get(f"{admin_server.url}/v2/models/mlp/config", timeout=30).json()
    assert config == json_format.ParseDict(over_http, type(config)())
    assert (config.max_batch_size, config.backend, list(config.input[0].dims)) == (65536, "onnxruntime", [2])
    index = grpc_client.get_model_repository_index(as_json=True)["models"]
    assert [(m["name"], m["state"]) for m in index] == [(n, "READY") for n in sorted(NETWORKS)]
    stats = grpc_client.get_inference_statistics(as_json=True)["model_stats"]
    assert [s["name"] for s in stats] == sorted(NETWORKS)
    assert grpc_client.get_inference_statistics("mlp", "1").model_stats[0].version == "1"


def test_sync_infer_with_a_request_id_and_65536_rows(grpc_client):
    result = grpc_client.infer("mlp", grpc_inputs(), request_id="seven")
    assert result.get_response().id == "seven" and result.get_response().model_version == "1"
    np.testing.assert_allclose(result.as_numpy("y"), expected(X), atol=1e-5)
    big = np.random.default_rng(0).random((65536, 2), dtype=np.float32)
    np.testing.assert_allclose(
        grpc_client.infer("deep", grpc_inputs(big)).as_numpy("y"), expected(big, "deep"), atol=1e-5
    )


def test_async_infer(grpc_client):
    answers: queue.Queue = queue.Queue()
    for k in range(4):
        grpc_client.async_infer(
            "mlp",
            grpc_inputs(X[k : k + 1]),
            callback=lambda result, error: answers.put((result, error)),
            request_id=str(k),
        )
    got = [answers.get(timeout=30) for _ in range(4)]
    assert all(error is None for _, error in got)
    ids = {r.get_response().id: float(r.as_numpy("y")[0, 0]) for r, _ in got}
    assert ids == pytest.approx({str(k): float(expected(X)[k, 0]) for k in range(4)}, abs=1e-5)


def test_stream_infer_answers_in_order_and_a_bad_request_does_not_end_the_stream(grpc_client):
    answers: queue.Queue = queue.Queue()
    grpc_client.start_stream(callback=lambda result, error: answers.put((result, error)))
    try:
        grpc_client.async_stream_infer("mlp", grpc_inputs(), request_id="a")
        grpc_client.async_stream_infer("mlp", grpc_inputs(np.zeros((2, 3), np.float32)), request_id="bad")
        grpc_client.async_stream_infer("nope", grpc_inputs(), request_id="unknown")
        grpc_client.async_stream_infer("mlp", grpc_inputs(X[:1]), request_id="b", enable_empty_final_response=True)
        got = [answers.get(timeout=30) for _ in range(4)]
    finally:
        grpc_client.stop_stream()
    (first, e1), (_, e2), (_, e3), (last, e4) = got
    assert e1 is None and first.get_response().id == "a"
    assert "input 'x' has shape [2, 3]; expected [N, 2] with N >= 1" in str(e2)
    assert f"model 'nope' not found; available models: {MODELS}" in str(e3)
    assert e4 is None and last.get_response().id == "b"
    # Asked to mark the last response, as a decoupled-aware client does: the one answer is the last.
    assert last.get_response().parameters["triton_final_response"].bool_param is True


def test_the_asyncio_client_infers_and_streams(admin_server):
    async def main():
        async with tga.InferenceServerClient(admin_server.grpc) as c:
            tensor = tga.InferInput("x", [4, 2], "FP32")
            tensor.set_data_from_numpy(X)
            one = await c.infer("mlp", [tensor])

            async def requests_():
                for k in range(3):
                    yield {"model_name": "mlp", "inputs": [tensor], "request_id": f"s{k}"}

            streamed = []
            async for result, error in c.stream_infer(requests_()):
                streamed.append((result.get_response().id, error))
                if len(streamed) == 3:
                    break
            return one.as_numpy("y"), streamed

    y, streamed = asyncio.run(main())
    np.testing.assert_allclose(y, expected(X), atol=1e-5)
    assert streamed == [("s0", None), ("s1", None), ("s2", None)]


def typed_request(values: list[float], shape=(4, 2)) -> pb.ModelInferRequest:
    # What the kserve SDK sends without binary data: typed contents (tritonclient always sends raw).
    request = pb.ModelInferRequest(model_name="mlp")
    tensor = request.inputs.add(name="x", datatype="FP32", shape=list(shape))
    tensor.contents.fp32_contents.extend(values)
    return request


def test_typed_contents_and_the_request_id_metadata(admin_server):
    with grpc.insecure_channel(admin_server.grpc) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        response, call = stub.ModelInfer.with_call(
            typed_request(X.ravel().tolist()), metadata=(("x-request-id", "trace-42"),)
        )
        np.testing.assert_allclose(
            np.frombuffer(response.raw_output_contents[0], "<f4"), expected(X).ravel(), atol=1e-5
        )
        assert dict(call.trailing_metadata())["x-request-id"] == "trace-42"
        _, plain = stub.ServerLive.with_call(pb.ServerLiveRequest())
        assert re.fullmatch(r"[0-9a-f]{32}", dict(plain.trailing_metadata())["x-request-id"])
    time.sleep(0.2)
    lines = [json.loads(line) for line in admin_server.log.read_text().splitlines() if '"trace-42"' in line]
    assert [(r["protocol"], r["method"], r["path"], r["status"], r["model"]) for r in lines] == [
        ("grpc", "POST", "/inference.GRPCInferenceService/ModelInfer", 0, "mlp")
    ]


def test_a_request_id_with_a_newline_is_replaced_not_echoed(admin_server):
    # grpc's own clients refuse to send such metadata; raw HTTP/2 sends it. Once, the id check let
    # "abc\n" through (`$` matches before a final newline), it was echoed in the trailing metadata,
    # grpc refused to send that, and the client got INTERNAL for a call that had succeeded.
    answer = h2grpc.call(
        admin_server.grpc, "ServerLive", pb.ServerLiveRequest().SerializeToString(), [("x-request-id", "abc\n")]
    )
    assert (answer.status, answer.message) == (0, "")
    assert pb.ServerLiveResponse.FromString(answer.messages[0]).live
    rid = answer.trailers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid)
    time.sleep(0.2)
    lines = [json.loads(line) for line in admin_server.log.read_text().splitlines() if rid in line]
    assert [(r["path"], r["status"]) for r in lines] == [("/inference.GRPCInferenceService/ServerLive", 0)]
    assert "Invalid metadata" not in admin_server.log.read_text() and "Traceback" not in admin_server.log.read_text()


# ---- refusals: the status codes, and the HTTP front end's words -------------------------------------------


@pytest.mark.parametrize(
    ("call", "code", "http_body"),
    [
        (lambda c: c.infer("nope", grpc_inputs()), "StatusCode.NOT_FOUND", None),
        (lambda c: c.infer("mlp", grpc_inputs(), model_version="2"), "StatusCode.NOT_FOUND", None),
        (
            lambda c: c.infer("mlp", grpc_inputs(np.zeros((2, 3), np.float32))),
            "StatusCode.INVALID_ARGUMENT",
            {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 3], "data": [0] * 6}]},
        ),
        (
            lambda c: c.infer("mlp", grpc_inputs(np.zeros((2, 2), np.int32), "INT32")),
            "StatusCode.INVALID_ARGUMENT",
            {"inputs": [{"name": "x", "datatype": "INT32", "shape": [2, 2], "data": [0] * 4}]},
        ),
        (
            lambda c: c.infer("mlp", grpc_inputs(np.zeros((65537, 2), np.float32))),
            "StatusCode.INVALID_ARGUMENT",
            {"inputs": [{"name": "x", "datatype": "FP32", "shape": [65537, 2], "data": [0, 0]}]},
        ),
        (
            lambda c: c.infer("mlp", grpc_inputs(np.full((1, 2), np.nan, np.float32))),
            "StatusCode.INVALID_ARGUMENT",
            None,
        ),
        (
            lambda c: c.infer("mlp", grpc_inputs(), outputs=[tg.InferRequestedOutput("y", class_count=1)]),
            "StatusCode.INVALID_ARGUMENT",
            {
                "inputs": [{"name": "x", "datatype": "FP32", "shape": [4, 2], "data": INPUTS}],
                "outputs": [{"name": "y", "parameters": {"classification": 1}}],
            },
        ),
        (
            lambda c: c.infer("mlp", grpc_inputs(), outputs=[tg.InferRequestedOutput("z")]),
            "StatusCode.INVALID_ARGUMENT",
            {
                "inputs": [{"name": "x", "datatype": "FP32", "shape": [4, 2], "data": INPUTS}],
                "outputs": [{"name": "z"}],
            },
        ),
        (
            lambda c: c.infer("mlp", grpc_inputs(), sequence_id=3),
            "StatusCode.INVALID_ARGUMENT",
            {
                "inputs": [
                    {"name": "x", "datatype": "FP32", "shape": [4, 2], "data": INPUTS},
                ],
                "parameters": {"sequence_start": False, "sequence_id": 3, "sequence_end": False},
            },
        ),  # what tritonclient sends
        (lambda c: c.get_model_metadata("mlp", "7"), "StatusCode.NOT_FOUND", None),
        (lambda c: c.get_model_config("nope"), "StatusCode.NOT_FOUND", None),
        (lambda c: c.get_inference_statistics("nope"), "StatusCode.NOT_FOUND", None),
        (lambda c: c.get_system_shared_memory_status(), "StatusCode.UNIMPLEMENTED", None),
    ],
    ids=[
        "unknown model",
        "unknown version",
        "shape",
        "datatype",
        "too many rows",
        "NaN",
        "classification",
        "unknown output",
        "sequence",
        "metadata version",
        "config",
        "stats",
        "shared memory",
    ],
)
def test_bad_input_gets_the_right_code_and_the_http_words(admin_server, grpc_client, call, code, http_body):
    error = refused(lambda: call(grpc_client))
    assert error.status() == code, error
    if http_body is not None:  # the same request over HTTP is refused in the same words
        assert error.message() == http_error(admin_server, http_body)
    elif code == "StatusCode.NOT_FOUND":
        assert error.message().startswith(("model 'nope' not found", "model 'mlp' has no version"))


def test_typed_contents_that_do_not_match_are_refused(admin_server):
    with grpc.insecure_channel(admin_server.grpc) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        for request, message in [
            (typed_request([0.0, 1.0, 2.0]), "input 'x': 'data' does not match shape [4, 2]"),
            (typed_request([float("nan")] * 8), "input 'x' 'data' holds NaN or Infinity; expected finite numbers"),
            (
                pb.ModelInferRequest(
                    model_name="mlp",
                    inputs=[pb.ModelInferRequest.InferInputTensor(name="x", datatype="FP32", shape=[1, 2])],
                ),
                "input 'x' has no values: send raw_input_contents or contents.fp32_contents",
            ),
        ]:
            with pytest.raises(grpc.RpcError) as caught:
                stub.ModelInfer(request)
            assert (caught.value.code(), caught.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT, message)
        raw = pb.ModelInferRequest(model_name="mlp", raw_input_contents=[bytes(12)])
        raw.inputs.add(name="x", datatype="FP32", shape=[2, 2])
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelInfer(raw)
        assert (
            caught.value.details()
            == "input 'x': the raw_input_contents size is 12; shape [2, 2] of FP32 needs 16 bytes"
        )


def test_a_request_over_the_body_limit_is_resource_exhausted_naming_the_limit(admin_server):
    # grpc's receive limit is the body limit: it refuses a larger message itself, in its words,
    # from the message's length prefix (so before receiving it: tests/serve/hosting/test_admission.py).
    with grpc.insecure_channel(admin_server.grpc) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        for size in (LIMIT + 1024, 2 * LIMIT + 1024):
            request = pb.ModelInferRequest(model_name="mlp", raw_input_contents=[bytes(size)])
            request.inputs.add(name="x", datatype="FP32", shape=[size // 8, 2])
            with pytest.raises(grpc.RpcError) as caught:
                stub.ModelInfer(request)
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert f"Received message larger than max ({request.ByteSize()} vs. {LIMIT})" in caught.value.details()
        # A compressed message inflating past the limit (a bomb): the limit is on the decoded size.
        bomb = pb.ModelInferRequest(model_name="mlp", raw_input_contents=[bytes(LIMIT + 1024)])
        bomb.inputs.add(name="x", datatype="FP32", shape=[(LIMIT + 1024) // 8, 2])
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelInfer(bomb, compression=grpc.Compression.Gzip)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # Within the limit, a compressed request is served.
    with tg.InferenceServerClient(admin_server.grpc) as c:
        np.testing.assert_allclose(
            c.infer("mlp", grpc_inputs(), compression_algorithm="gzip").as_numpy("y"), expected(X), atol=1e-5
        )


# ---- the repository API ------------------------------------------------------------------------------------


def test_load_and_unload_need_the_token_and_reach_every_worker(admin_server):
    with tg.InferenceServerClient(admin_server.grpc) as c:
        assert refused(lambda: c.unload_model("deep")).status() == "StatusCode.UNAUTHENTICATED"
        assert (
            refused(lambda: c.unload_model("deep", headers={"authorization": "Bearer wrong"})).status()
            == "StatusCode.PERMISSION_DENIED"
        )
        assert (
            refused(lambda: c.unload_model("nope", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})).status()
            == "StatusCode.NOT_FOUND"
        )
        c.unload_model("deep", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})

    def deep_ready(headers: dict) -> bool:
        """One call on a connection of its own (so on either worker), named by its request id."""
        with tg.InferenceServerClient(admin_server.grpc, channel_args=OWN_CONNECTION) as c:
            return c.is_model_ready("deep", headers={"x-request-id": headers["X-Request-ID"]})

    def deep_unloaded(headers: dict) -> bool:
        with tg.InferenceServerClient(admin_server.grpc, channel_args=OWN_CONNECTION) as c:
            assert not c.is_model_ready("deep", headers={"x-request-id": headers["X-Request-ID"]})
            error = refused(lambda: c.infer("deep", grpc_inputs()))  # the same connection: the same worker
            assert error.status() == "StatusCode.UNAVAILABLE"
            assert error.message() == "model 'deep' is not ready: unloaded through the repository API"
        return True

    try:
        admin_server.on_every_worker(deep_unloaded, timeout=20)
    finally:
        with tg.InferenceServerClient(admin_server.grpc) as c:
            c.load_model("deep", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    admin_server.on_every_worker(deep_ready, timeout=20)


# ---- HTTP and gRPC give one answer to one question --------------------------------------------------------


def both_refuse(grpc_call, http_call) -> tuple[str, str]:
    """What the same call answers over gRPC and over HTTP, through tritonclient: (status, message)
    from gRPC; the HTTP message must be the same words."""
    grpc_error, http_error = refused(grpc_call), refused(http_call)
    assert grpc_error.message() == http_error.message()
    return grpc_error.status(), grpc_error.message()


@pytest.fixture(scope="module")
def untokened(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grpc-no-token")
    root = tmp / "models"
    build_repository(root, names=("mlp",))
    with running(tmp, root, workers=1) as srv:
        yield srv


def test_without_a_token_the_repository_and_logging_apis_are_off_in_the_same_words(untokened):
    # HTTP answered 404 "no route for POST /v2/repository/models/mlp/load", which reads as a wrong
    # address, where gRPC said the API was off.
    with tg.InferenceServerClient(untokened.grpc) as g, th.InferenceServerClient(f"{HOST}:{untokened.port}") as h:
        off = "the {} API is off: the server has no XORLAB_ADMIN_TOKEN"
        assert both_refuse(lambda: g.load_model("mlp"), lambda: h.load_model("mlp")) == (
            "StatusCode.UNIMPLEMENTED",
            off.format("repository"),
        )
        assert both_refuse(lambda: g.unload_model("mlp"), lambda: h.unload_model("mlp"))[1] == off.format("repository")
        assert both_refuse(lambda: g.get_log_settings(), lambda: h.get_log_settings()) == (
            "StatusCode.UNIMPLEMENTED",
            off.format("logging"),
        )
        assert both_refuse(
            lambda: g.update_log_settings({"log_info": False}), lambda: h.update_log_settings({"log_info": False})
        )[1] == off.format("logging")
        extensions = g.get_server_metadata(as_json=True)["extensions"]
        assert (
            extensions
            == h.get_server_metadata()["extensions"]
            == ["binary_tensor_data", "model_configuration", "statistics"]
        )
    assert requests.post(f"{untokened.url}/v2/repository/models/mlp/load", timeout=30).status_code == 501


def test_a_load_with_a_config_or_files_is_refused_by_name_on_both_protocols(admin_server):
    # HTTP answered 200 {} and ignored them (max_batch_size unchanged); gRPC refused them by name.
    auth = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    with tg.InferenceServerClient(admin_server.grpc) as g, th.InferenceServerClient(f"{HOST}:{admin_server.port}") as h:
        config = json.dumps({"max_batch_size": 4})
        status, message = both_refuse(
            lambda: g.load_model("mlp", headers=auth, config=config),
            lambda: h.load_model("mlp", headers=auth, config=config),
        )
        assert (status, message) == (
            "StatusCode.INVALID_ARGUMENT",
            "the repository API does not take the parameter(s) config; it loads what the repository on disk holds",
        )
        files = {"file:1/model.onnx": b"not a model"}
        _, message = both_refuse(
            lambda: g.load_model("mlp", headers=auth, config=config, files=files),
            lambda: h.load_model("mlp", headers=auth, config=config, files=files),
        )
        assert "the parameter(s) config, file:1/model.onnx;" in message
        assert h.get_model_config("mlp")["max_batch_size"] == g.get_model_config("mlp").config.max_batch_size == 65536


NOT_SUPPORTED = [  # (gRPC method, its call, the same call over HTTP): tritonclient's, each protocol's
    ("TraceSetting", lambda c: c.get_trace_settings(), "trace"),
    ("TraceSetting", lambda c: c.update_trace_settings("mlp", {"trace_level": ["TIMESTAMPS"]}), "trace"),
    ("SystemSharedMemoryStatus", lambda c: c.get_system_shared_memory_status(), "system_shared_memory"),
    (
        "SystemSharedMemoryRegister",
        lambda c: c.register_system_shared_memory("input", "/xorlab-input", 64),
        "system_shared_memory",
    ),
    ("SystemSharedMemoryUnregister", lambda c: c.unregister_system_shared_memory(), "system_shared_memory"),
    ("CudaSharedMemoryStatus", lambda c: c.get_cuda_shared_memory_status("input"), "cuda_shared_memory"),
    (
        "CudaSharedMemoryRegister",
        lambda c: c.register_cuda_shared_memory("input", b"aGFuZGxl", 0, 64),
        "cuda_shared_memory",
    ),
    ("CudaSharedMemoryUnregister", lambda c: c.unregister_cuda_shared_memory("input"), "cuda_shared_memory"),
]


@pytest.mark.parametrize(
    ("method", "call", "extension"), NOT_SUPPORTED, ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(NOT_SUPPORTED)]
)
def test_an_extension_not_supported_says_so_on_both_protocols_and_is_counted(admin_server, method, call, extension):
    # HTTP answered 404 "no route" and gRPC "Method not found!" (not counted at all): neither can
    # be told from a wrong address. The server metadata, which clients read first, leaves it out.
    before = grpc_calls(admin_server, method, "UNIMPLEMENTED")
    with tg.InferenceServerClient(admin_server.grpc) as g, th.InferenceServerClient(f"{HOST}:{admin_server.port}") as h:
        status, message = both_refuse(lambda: call(g), lambda: call(h))
        assert extension not in g.get_server_metadata(as_json=True)["extensions"]
        assert extension not in h.get_server_metadata()["extensions"]
    assert status == "StatusCode.UNIMPLEMENTED"
    assert message.startswith(f"Triton's {extension} extension is not supported by this server: ")
    assert grpc_calls(admin_server, method, "UNIMPLEMENTED") - before == 1


def grpc_calls(admin_server, method: str, code: str) -> float:
    text = requests.get(f"{admin_server.url}/metrics", timeout=30).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "xorlab_grpc_requests_total" and s.labels == {"method": method, "code": code}
    )


def test_log_settings_change_on_every_worker_over_either_protocol(admin_server):
    auth = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    with tg.InferenceServerClient(admin_server.grpc) as g, th.InferenceServerClient(f"{HOST}:{admin_server.port}") as h:
        assert "logging" in g.get_server_metadata(as_json=True)["extensions"]
        assert refused(lambda: g.get_log_settings()).status() == "StatusCode.UNAUTHENTICATED"
        assert (
            refused(lambda: h.get_log_settings(headers={"authorization": "Bearer wrong"})).message()
            == "the token is not valid for this route"
        )
        settings = g.update_log_settings({"log_verbose_level": 1}, headers=auth, as_json=True)["settings"]
        assert {name: list(value.values())[0] for name, value in settings.items()} == {
            "log_file": "",
            "log_info": True,
            "log_warning": True,
            "log_error": True,
            "log_verbose_level": 1,
            "log_format": "json",
        }
        refusal = both_refuse(
            lambda: g.update_log_settings({"log_format": "ISO8601"}, headers=auth),
            lambda: h.update_log_settings({"log_format": "ISO8601"}, headers=auth),
        )
        assert refusal[0] == "StatusCode.INVALID_ARGUMENT"
        try:

            def debugging(headers: dict) -> bool:  # a request on a connection of its own: on either worker
                r = requests.get(
                    f"{admin_server.url}/v2/logging",
                    headers={**headers, "Authorization": f"Bearer {ADMIN_TOKEN}"},
                    timeout=30,
                )
                assert r.json()["log_verbose_level"] == 1
                return True

            admin_server.on_every_worker(debugging, timeout=20)
            # The request lines are INFO: with INFO off, no worker writes them.
            h.update_log_settings({"log_info": False}, headers=auth)
            quiet = [f"quiet-{i}" for i in range(20)]
            for rid in quiet:
                assert requests.get(
                    f"{admin_server.url}/v2/health/live",
                    headers={"X-Request-ID": rid, "Connection": "close"},
                    timeout=30,
                ).ok
        finally:
            g.update_log_settings({"log_info": True, "log_verbose_level": 0}, headers=auth)
        assert h.get_log_settings(headers=auth)["log_info"] is True
    time.sleep(0.2)
    log = admin_server.log.read_text()
    assert not any(rid in log for rid in quiet)
    admin_server.on_every_worker(
        lambda headers: requests.get(f"{admin_server.url}/v2/health/live", headers=headers, timeout=30).ok, timeout=20
    )


# ---- metrics ------------------------------------------------------------------------------------------------


def test_grpc_calls_count_in_the_same_metrics_with_their_protocol(admin_server, grpc_client):
    def sample(name: str, **labels: str) -> float:
        text = requests.get(f"{admin_server.url}/metrics", timeout=30).text
        return sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == name and labels.items() <= s.labels.items()
        )

    model = {"model": "perceptron", "version": "1"}
    counted = {
        "ok": ("nv_inference_request_success_total", {**model, "protocol": "grpc"}),
        "bad": ("nv_inference_request_failure_total", {**model, "protocol": "grpc", "reason": "invalid_request"}),
        "ok_http": ("nv_inference_request_success_total", {**model, "protocol": "http"}),
        "calls": ("xorlab_grpc_requests_total", {"method": "ModelInfer", "code": "INVALID_ARGUMENT"}),
    }
    before = {key: sample(name, **labels) for key, (name, labels) in counted.items()}
    for _ in range(3):
        grpc_client.infer("perceptron", grpc_inputs())
    refused(lambda: grpc_client.infer("perceptron", grpc_inputs(np.zeros((1, 3), np.float32))))
    after = {key: sample(name, **labels) for key, (name, labels) in counted.items()}
    assert {key: after[key] - before[key] for key in counted} == {"ok": 3, "bad": 1, "ok_http": 0, "calls": 1}


# ---- the port: every worker, a port in use, off --------------------------------------------------------------


def migrating_requests() -> bool:
    """Whether this network namespace's kernel hands the connections queued on a closing
    SO_REUSEPORT listener to the others (Linux >= 5.14) rather than resetting them."""
    try:
        return Path("/proc/sys/net/ipv4/tcp_migrate_req").read_text().strip() == "1"
    except OSError:
        return False


def listening(pid: int) -> set[int]:
    """The ports process `pid` holds listening sockets on (from /proc: the inodes of LISTEN
    sockets by port, against the process's open sockets)."""
    ports = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":
                ports[fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
    held = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:[") and target[8:-1] in ports:
            held.add(ports[target[8:-1]])
    return held


def test_every_worker_serves_the_port_and_the_master_does_not(admin_server):
    workers = admin_server.workers()
    assert len(workers) == 2 and all(listening(pid) == {admin_server.port, admin_server.grpc_port} for pid in workers)
    # the master holds HTTP's socket only: grpc is never loaded there
    assert listening(admin_server.master) == {admin_server.port}


def test_a_port_already_in_use_is_refused_at_start(tmp_path, xor_repo):
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        srv = XorlabServer(tmp_path, xor_repo, grpc_port=port)
        code = srv.proc.wait(timeout=60)
    log = srv.log.read_text()
    assert code == 1, log
    assert f"XORLAB_GRPC_BIND {HOST}:{port}: cannot listen there (Address already in use)" in log
    assert "Booting worker" not in log  # refused by the master before any worker started


def test_grpc_bind_empty_turns_grpc_off(tmp_path, xor_repo):
    with running(tmp_path, xor_repo, grpc=False) as srv:
        assert "gRPC on" not in srv.log.read_text()
        assert all(listening(pid) == {srv.port} for pid in srv.workers())


# ---- stop and reload ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sighup_reload_keeps_the_grpc_port_served(tmp_path, xor_repo):
    """Old workers keep serving gRPC until a new one does: across a reload, every call on a
    persistent channel and on a new connection per call is answered, except one racing with an old
    worker's stop. grpc's server, stopping, cancels a call that reaches it between the start of its
    shutdown and the client's reading of its GOAWAY (core: Server::ShutdownAndNotify zombifies
    pending calls; one still there when the grace ends is cancelled with the rest), Triton's server
    as much as this one: at most one such call per old worker and client. Without the handover the
    port is dark while the new workers start, and without the old listener closed first a client
    reconnecting at the GOAWAY can land on it as it closes: either way thousands of UNAVAILABLE."""
    with running(tmp_path, xor_repo) as srv:
        ok, failures, stop = [0], [], threading.Event()

        def persistent() -> None:
            with tg.InferenceServerClient(srv.grpc) as c:
                while not stop.is_set():
                    try:
                        c.infer("mlp", grpc_inputs(), client_timeout=10)
                        ok[0] += 1
                    except InferenceServerException as exc:
                        failures.append(f"persistent: {exc}")

        def fresh() -> None:
            while not stop.is_set():
                try:  # its own connection each time (grpc's channels share them within a process)
                    with tg.InferenceServerClient(srv.grpc, channel_args=OWN_CONNECTION) as c:
                        c.infer("mlp", grpc_inputs(), client_timeout=10)
                        ok[0] += 1
                except InferenceServerException as exc:
                    failures.append(f"fresh: {exc}")

        threads = [threading.Thread(target=f) for f in (persistent, fresh)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        old = set(srv.workers())
        srv.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = set(srv.workers())
            if len(now) == 2 and not now & old and all(srv.grpc_port in listening(pid) for pid in now):
                break
            time.sleep(0.1)
        time.sleep(1.0)  # calls go on against the new workers only
        stop.set()
        for t in threads:
            t.join(timeout=30)
        assert not set(srv.workers()) & old, "the old workers did not stop"
        racing = [
            f
            for f in failures
            if f.endswith(("[StatusCode.CANCELLED] CANCELLED", "[StatusCode.UNAVAILABLE] Cancelling all calls"))
        ]
        # A new connection still in an old listener's queue when it closes is reset by the kernel
        # unless it hands such connections to the port's other listeners (net.ipv4.tcp_migrate_req,
        # which the deployment sets): the new-connection client, connecting one at a time, can meet
        # that once per old listener.
        reset = (
            []
            if migrating_requests()
            else [
                f
                for f in failures
                if f.startswith("fresh: [StatusCode.UNAVAILABLE] failed to connect to all addresses")
                and "Connection reset by peer" in f
            ]
        )
        assert sorted(failures) == sorted(racing + reset), failures[:5]
        assert len(reset) <= len(old) and len(racing + reset) <= len(old) * len(threads), failures[:5]
        assert ok[0] > 20


def test_sigterm_stops_within_the_graceful_timeout_with_a_stream_open(tmp_path, xor_repo):
    srv = XorlabServer(tmp_path, xor_repo)
    try:
        srv.wait_ready()
        c = tg.InferenceServerClient(srv.grpc)
        answers: queue.Queue = queue.Queue()
        c.start_stream(callback=lambda result, error: answers.put((result, error)))
        c.async_stream_infer("mlp", grpc_inputs())
        assert answers.get(timeout=30)[1] is None
        started = time.monotonic()
        code = srv.stop()
        assert code == 0 and time.monotonic() - started < 10  # XORLAB_GRACEFUL_TIMEOUT's default
        c.stop_stream()
        c.close()
    finally:
        if srv.proc.poll() is None:
            srv.proc.kill()
