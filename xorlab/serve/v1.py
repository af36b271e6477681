"""KServe V1 protocol: list models, model status, predict. Translates HTTP only; the work is in
codecs (wire format) and runtime (inference)."""

from __future__ import annotations

from flask import Blueprint, Response, g
from werkzeug.exceptions import MethodNotAllowed

from xorlab.serve import codecs
from xorlab.serve.state import JSON, inference_model, json_response, read_body, state

bp = Blueprint("v1", __name__, url_prefix="/v1")


@bp.get("/models")
def list_models() -> Response:
    return json_response({"models": sorted(state().repository.models)})


@bp.get("/models/<name>")
def model_status(name: str) -> Response:
    if name.endswith(":predict"):  # the predict route, asked with GET: a 405, not an unknown model
        raise MethodNotAllowed(valid_methods=["OPTIONS", "POST"])
    model = state().repository.find(name)
    if not model.ready:
        return json_response({"name": name, "ready": False, "error": f"model '{name}' is not ready: {model.reason}"}, 503)
    return json_response({"name": name, "ready": True})


@bp.post("/models/<name>:predict")
def predict(name: str) -> Response:
    model = inference_model(name)
    x = codecs.decode_v1(read_body(), state().settings.max_rows)
    g.rows = len(x)
    return Response(codecs.encode_v1(model.predict(x)), mimetype=JSON)
