"""What the serving tests' clients share, whichever folder they are in: the admin token, requests
on a connection of their own, a V2 binary request, tritonclient's gRPC tensors, how a metric and a
served model configuration are read."""

from __future__ import annotations

import json

import numpy as np
import requests
import tritonclient.grpc as tg
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures import INPUTS

ADMIN_TOKEN = "admin-test-token"  # the admin API's token in the servers and apps the tests start with it on
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
X = np.array(INPUTS, dtype=np.float32)  # the truth table's inputs

# gRPC channel arguments for a connection of the client's own: by default a process's channels to
# one address share a connection, so every call would reach one worker.
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


def fresh(method: str, url: str, **kwargs) -> requests.Response:
    """One request on a new connection, so successive ones may land on any worker."""
    with requests.Session() as s:
        return s.request(
            method, url, timeout=30, headers={"Connection": "close", **kwargs.pop("headers", {})}, **kwargs
        )


def scrape(server, name: str, model: str) -> float:
    """The sample for the model's version 1, summed over the protocols (HTTP, gRPC)."""
    text = fresh("GET", f"{server.url}/metrics").text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and s.labels.get("model") == model and s.labels.get("version") == "1"
    )


def binary_request(rows: np.ndarray, outputs=None, **parameters) -> tuple[bytes, dict]:
    """A V2 request with the binary tensor data extension, as tritonclient.http sends it."""
    raw = np.asarray(rows, dtype="<f4").tobytes()
    header = {
        "inputs": [
            {"name": "x", "datatype": "FP32", "shape": [len(rows), 2], "parameters": {"binary_data_size": len(raw)}}
        ]
    }
    if outputs is not None:
        header["outputs"] = outputs
    if parameters:
        header["parameters"] = parameters
    head = json.dumps(header).encode()
    return head + raw, {"Inference-Header-Content-Length": str(len(head))}


def grpc_inputs(x: np.ndarray = X, datatype: str = "FP32") -> list[tg.InferInput]:
    """`x` as the one input of a tritonclient.grpc call."""
    tensor = tg.InferInput("x", list(x.shape), datatype)
    tensor.set_data_from_numpy(x)
    return [tensor]


def holds(served: object, written: object) -> bool:
    """`served` has everything `written` has, with equal values (int64 strings as numbers)."""
    if isinstance(written, dict):
        return isinstance(served, dict) and all(k in served and holds(served[k], v) for k, v in written.items())
    if isinstance(written, list):
        return isinstance(served, list) and len(served) == len(written) and all(map(holds, served, written))
    if isinstance(written, str) and isinstance(served, int) and not isinstance(served, bool):
        return str(served) == written
    return served == written
