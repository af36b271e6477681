"""KServe V1: list models, model status, predict. Translates HTTP only: the wire format is in
codecs, the lookup and readiness in the data plane."""

from __future__ import annotations

from flask import Blueprint, Response, g
from werkzeug.exceptions import MethodNotAllowed

from xorlab.serve import codecs
from xorlab.serve.http import JSON, dataplane, inference_model, json_response
from xorlab.serve.http.body import read_body

bp = Blueprint("v1", __name__, url_prefix="/v1")


@bp.get("/models")
def list_models() -> Response:
    return json_response({"models": sorted(dataplane().registry.models)})


@bp.get("/models/<name>")
def model_status(name: str) -> Response:
    if name.endswith(":predict"):  # the predict route, asked with GET: a 405, not an unknown model
        raise MethodNotAllowed(valid_methods=["OPTIONS", "POST"])
    body, ready = dataplane().model_status(name)
    return json_response(body, 200 if ready else 503)


@bp.post("/models/<name>:predict")
def predict(name: str) -> Response:
    model = inference_model(name)
    x = codecs.decode_v1(read_body(), dataplane().settings.max_rows)
    g.rows = len(x)
    return Response(codecs.encode_v1(model.predict(x)), mimetype=JSON)
