"""KServe V1: list models, model status, predict (and explain, which is not offered). Translates
HTTP only: the wire format is in codecs, the request's life in the data plane. V1's server
liveness (`GET /`) is answered by the report's page route, which negotiates HTML or JSON."""

from __future__ import annotations

from flask import Blueprint, Response
from werkzeug.routing import BaseConverter

from xorlab.serve import infer_codec
from xorlab.serve.errors import NotOffered
from xorlab.serve.http import JSON, infer, json_response, plane
from xorlab.serve.http.body import read_body

bp = Blueprint("v1", __name__, url_prefix="/v1")


@bp.get("/models")
def list_models() -> Response:
    return json_response({"models": sorted(plane().registry.models)})


class StatusName(BaseConverter):
    """A model name in the status route: never one ending in ':predict' or ':explain', so those
    paths belong to their own routes alone, whatever the method (GET on them is a 405 naming POST,
    and OPTIONS lists the same methods)."""

    regex = r"[^/]+(?<!:predict)(?<!:explain)"


bp.record_once(lambda state: state.app.url_map.converters.setdefault("v1status", StatusName))


@bp.get("/models/<v1status:name>")
def model_status(name: str) -> Response:
    body, ready = plane().model_status(name)
    return json_response(body, 200 if ready else 503)


@bp.post("/models/<name>:predict")
def predict(name: str) -> Response:
    max_rows = plane().settings.max_rows
    _, _, y = infer(name, None, lambda model: infer_codec.decode_v1(read_body(), max_rows))
    return Response(infer_codec.encode_v1(y), mimetype=JSON)


@bp.post("/models/<name>:explain")
def explain(name: str) -> Response:
    # KServe's server answers 501 for a model without an explainer; here no model has one.
    model = plane().model(name)  # 404 for an unknown model, as for predict
    raise NotOffered(
        f"explanations are not offered: model '{model.name}' has no explainer; use :predict for its predictions"
    )
