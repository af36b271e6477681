"""The HTTP front end: one Flask blueprint per protocol (KServe V1, the Open Inference Protocol,
the report, the repository API, operations), translating requests to the data plane and back."""

from __future__ import annotations

import time

import numpy as np
import orjson
from flask import Response, current_app, g

from xorlab.serve.dataplane import DataPlane
from xorlab.serve.runtime import OnnxModel

JSON = "application/json"


def dataplane() -> DataPlane:
    return current_app.extensions["xorlab"]


def json_response(obj: object, status: int = 200) -> Response:
    return Response(orjson.dumps(obj), status=status, mimetype=JSON)


def inference_model(name: str, version: str | None = None) -> OnnxModel:
    """The model an inference request names: 404 unknown, 503 not ready. Recorded in `g` before
    the readiness check, so a refused request still counts in that model's metrics."""
    plane = dataplane()
    g.model = model = plane.model(name, version)
    return plane.ready_model(model)


def run_model(model: OnnxModel, x: np.ndarray) -> np.ndarray:
    """The model's answer for `x`, with the request's rows and phase times recorded in `g` for its
    metrics (app._finish): reading and decoding ended here, the encoding starts after."""
    ctx = g._get_current_object()
    ctx.rows = len(x)
    ctx.input_done = time.perf_counter()
    y = model.predict(x)
    ctx.infer_done = time.perf_counter()
    return y
