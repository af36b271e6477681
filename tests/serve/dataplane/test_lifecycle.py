"""One request lifecycle in the data plane: every front end (Flask's views, the fast path, gRPC,
the report's form) asks `DataPlane.infer` for the model's answer, and nothing else calls a model;
and the admission pieces every front end shares (xorlab/serve/admission.py)."""

from __future__ import annotations

import ast
import gzip
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as tg
from prometheus_client import REGISTRY

from tests.fixtures import INPUTS, MAX_BODY, MAX_ROWS, NETWORKS, forward
from tools.live_server import HOST, free_port
from xorlab.serve import admission, dataplane
from xorlab.serve.app import create_app
from xorlab.serve.grpc.server import GrpcServer

SERVE = Path(dataplane.__file__).parent
X = np.array(INPUTS, dtype=np.float32)


def test_only_the_data_plane_calls_a_model():
    # Every `.predict(` in the serving package: the data plane's one inference path, and the
    # runtime's own check of a model against the manifest as it loads.
    callers = set()
    for path in SERVE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(function):
                    if (
                        isinstance(node, ast.Call)
                        and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "predict"
                    ):
                        callers.add((path.relative_to(SERVE).as_posix(), function.name))
    assert callers == {("dataplane.py", "infer"), ("runtime.py", "load")}


@pytest.fixture
def recorded(xor_repo):
    """An app on the fixture repository whose data plane notes every request its `infer` serves."""
    app = create_app({"models": str(xor_repo), "max_rows": MAX_ROWS, "max_body_bytes": MAX_BODY})
    plane = app.extensions["xorlab"]
    calls = []
    infer = plane.infer

    def noting(call, name, version, decode):
        calls.append((call.protocol, name))
        return infer(call, name, version, decode)

    plane.infer = noting
    return app, plane, calls


def test_the_fast_path_flask_grpc_and_the_form_each_go_through_the_one_lifecycle(recorded):
    app, plane, calls = recorded
    client, y = app.test_client(), forward(NETWORKS["mlp"][0], X)
    body = json.dumps({"instances": INPUTS}).encode()
    # The fast path (a plain body), then Flask's view (a compressed one: the fast path hands it over).
    for headers, data in (({}, body), ({"Content-Encoding": "gzip"}, gzip.compress(body))):
        r = client.post("/v1/models/mlp:predict", data=data, headers=headers)
        np.testing.assert_allclose(np.array(r.get_json()["predictions"]), y[:, 0], atol=1e-5)
    r = client.post(
        "/v2/models/mlp/infer", json={"inputs": [{"name": "x", "datatype": "FP32", "shape": [4, 2], "data": INPUTS}]}
    )
    assert r.status_code == 200
    assert client.post("/", data={"x1": "0", "x2": "1", "model": "mlp"}).status_code == 200
    assert client.post("/v1/models/nope:predict", json={"instances": INPUTS}).status_code == 404
    # gRPC: the worker's server on the same data plane.
    address = f"{HOST}:{free_port()}"
    server = GrpcServer(plane, address, threads=2)
    try:
        tensor = tg.InferInput("x", [4, 2], "FP32")
        tensor.set_data_from_numpy(X)
        with tg.InferenceServerClient(address) as c:
            np.testing.assert_allclose(c.infer("mlp", [tensor]).as_numpy("y"), y, atol=1e-5)
    finally:
        server.stop(0).wait(5)
        server.thread.join(5)
        server.loop.close()  # a worker's loop ends with its process; this one must not outlive the test
    assert calls == [("http", "mlp")] * 4 + [("http", "nope"), ("grpc", "mlp")]


# ---- admission -------------------------------------------------------------------------------------


def test_in_flight_refuses_past_either_limit_but_always_lets_one_in():
    slots = admission.InFlight(max_bytes=100, max_calls=3)
    assert slots.take(500) is None  # alone, past the byte limit: the body limit is the message's bound
    assert "bytes of requests are in progress" in slots.take(1)
    slots.give(500)
    assert [slots.take(40), slots.take(40), slots.take(30)] == [
        None,
        None,
        "80 bytes of requests are in progress in this worker (limit 100)",
    ]
    assert slots.take(10) is None
    assert slots.take(1) == "3 calls are in progress in this worker (its limit)"
    for size in (40, 40, 10):
        slots.give(size)
    assert (slots.calls, slots.bytes) == (0, 0)


def test_a_burst_of_refusals_is_counted_each_and_logged_once():
    lines: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = lines.append
    logger = logging.getLogger("xorlab.serve")
    logger.addHandler(handler)
    before = REGISTRY.get_sample_value("xorlab_overload_refusals_total", {"protocol": "grpc", "reason": "test"}) or 0.0
    try:
        for _ in range(5):
            admission.refused("grpc", "test", "5 calls are in progress")
    finally:
        logger.removeHandler(handler)
    assert (
        REGISTRY.get_sample_value("xorlab_overload_refusals_total", {"protocol": "grpc", "reason": "test"})
        == before + 5
    )
    assert [r.getMessage().split(";")[0] for r in lines] == ["overload: grpc request refused: 5 calls are in progress"]
