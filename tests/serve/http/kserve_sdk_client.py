"""The kserve SDK's own clients against a running xorlab, as a KServe user calls them: V1 and V2
over REST (InferenceRESTClient) and V2 over gRPC (InferenceGRPCClient). One line per call: what the
SDK returned or raised; exit status 1 if any expectation fails.

Runs in the kserve venv (tools/kserve-requirements.txt; kserve's pins conflict with the project's),
started by test_field_clients.py. The addresses come from the environment, not argv: importing
kserve parses sys.argv with its model server's options.

    CHECK_REST_URL=http://127.0.0.1:8000 CHECK_GRPC_URL=127.0.0.1:8001 python kserve_sdk_client.py
"""

import asyncio
import os
import sys

import httpx
import numpy as np
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
MODEL = "mlp"
failures = []


async def check(label, coro, expect):
    try:
        value = await coro
        shown = value
    except Exception as exc:  # noqa: BLE001 - what the SDK raised is the point
        value, shown = exc, f"{type(exc).__name__}: {str(exc)[:200]}"
    ok = bool(expect(value))
    print(f"{'ok  ' if ok else 'FAIL'} {label}: {shown}", flush=True)
    if not ok:
        failures.append(label)


def v2_request(model, binary):
    tensor = InferInput(name="x", shape=list(X.shape), datatype="FP32")
    tensor.set_data_from_numpy(X, binary_data=binary)
    return InferRequest(model_name=model, infer_inputs=[tensor], request_id="k1")


def solves_xor(y) -> bool:
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    return y.shape == (4,) and bool(((y > 0.5) == np.array([0, 1, 1, 0], bool)).all())


def status_error(code):
    return lambda v: isinstance(v, httpx.HTTPStatusError) and v.response.status_code == code


async def main(rest, grpc_url):
    v1 = InferenceRESTClient(RESTConfig(protocol="v1", timeout=30))
    await check("REST v1 is_server_live (GET /, {'status': 'alive'})", v1.is_server_live(rest), lambda v: v is True)
    await check("REST v1 is_model_ready", v1.is_model_ready(rest, MODEL), lambda v: v is True)
    await check(
        "REST v1 is_model_ready, unknown model: 404", v1.is_model_ready(rest, "no-such-model"), status_error(404)
    )
    await check(
        "REST v1 infer (:predict)",
        v1.infer(rest, {"instances": X.tolist()}, model_name=MODEL),
        lambda v: isinstance(v, dict) and solves_xor(v.get("predictions")),
    )
    await check(
        "REST v1 explain: 501, explanations not offered",
        v1.explain(rest, MODEL, {"instances": X.tolist()}),
        lambda v: status_error(501)(v) and "explanations are not offered" in v.response.json()["error"],
    )
    await v1.close()

    v2 = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
    await check("REST v2 is_server_live", v2.is_server_live(rest), lambda v: v is True)
    await check("REST v2 is_server_ready", v2.is_server_ready(rest), lambda v: v is True)
    await check("REST v2 is_model_ready", v2.is_model_ready(rest, MODEL), lambda v: v is True)
    await check("REST v2 is_model_ready, unknown model", v2.is_model_ready(rest, "no-such-model"), lambda v: v is False)
    for binary in (False, True):
        await check(
            f"REST v2 infer ({'binary' if binary else 'JSON'} input)",
            v2.infer(rest, v2_request(MODEL, binary), model_name=MODEL),
            lambda v: v.id == "k1" and solves_xor(v.outputs[0].as_numpy()),
        )
    await v2.close()

    g = InferenceGRPCClient(grpc_url, timeout=30)
    await check("gRPC is_server_live", g.is_server_live(), lambda v: v is True)
    await check("gRPC is_server_ready", g.is_server_ready(), lambda v: v is True)
    await check("gRPC is_model_ready", g.is_model_ready(MODEL), lambda v: v is True)
    for binary in (False, True):
        await check(
            f"gRPC infer ({'raw_input_contents' if binary else 'typed contents'})",
            g.infer(v2_request(MODEL, binary)),
            lambda v: v.id == "k1" and solves_xor(v.outputs[0].as_numpy()),
        )
    await check(
        "gRPC infer, unknown model: NOT_FOUND",
        g.infer(v2_request("no-such-model", True)),
        lambda v: hasattr(v, "code") and v.code().name == "NOT_FOUND" and "no-such-model" in v.details(),
    )
    await g.close()


if __name__ == "__main__":
    asyncio.run(main(os.environ["CHECK_REST_URL"], os.environ["CHECK_GRPC_URL"]))
    print(f"{len(failures)} failed" + (f": {failures}" if failures else ""))
    sys.exit(1 if failures else 0)
