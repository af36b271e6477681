"""The HTTP front end: one Flask blueprint per protocol (KServe V1, the Open Inference Protocol,
the report, the repository API, operations), translating requests to the data plane and back."""

from __future__ import annotations

import numpy as np
import orjson
from flask import Response, current_app, g

from xorlab.serve import metrics
from xorlab.serve.dataplane import Call, DataPlane
from xorlab.serve.infer_codec import InferRequest
from xorlab.serve.runtime import OnnxModel

JSON = "application/json"


def plane() -> DataPlane:
    return current_app.extensions["xorlab"]


def json_response(obj: object, status: int = 200) -> Response:
    return Response(orjson.dumps(obj), status=status, mimetype=JSON)


def infer(name: str, version: str | None, decode) -> tuple[OnnxModel, InferRequest, np.ndarray]:
    """The data plane's inference for this request (its Call made when it arrived, app._start)."""
    return plane().infer(g.call, name, version, decode)


def finish(plane: DataPlane, call: Call, method: str, path: str, rule: str, status: int) -> None:
    """A request's end on the HTTP front end (Flask's and the fast path's): the data plane's
    bookkeeping, and the HTTP request counter by route template."""
    plane.finish(call, status, method, path)
    metrics.safely(metrics.observe_http, method, rule, status)
