"""The Open Inference Protocol (V2) over HTTP: health, server and model metadata, model ready,
infer, repository index; with Triton's binary tensor data, model configuration and statistics
extensions, so `tritonclient.http` and perf_analyzer work with their defaults."""

from __future__ import annotations

from flask import Blueprint, Response, request

from xorlab.serve import http, infer_codec, modelconfig
from xorlab.serve.http import JSON, json_response, plane
from xorlab.serve.http.body import read_body

bp = Blueprint("v2", __name__, url_prefix="/v2")

HEADER_LENGTH = "Inference-Header-Content-Length"
HEADER_ENVIRON = "HTTP_INFERENCE_HEADER_CONTENT_LENGTH"  # the same, read from the WSGI environ directly


@bp.get("")
@bp.get("/")
def server_metadata() -> Response:
    return json_response(plane().server_metadata())


@bp.get("/health/live")
def live() -> Response:
    return json_response({"live": True})


@bp.get("/health/ready")
def ready() -> Response:
    return json_response(plane().check_ready())


@bp.get("/models/<name>", defaults={"version": None})
@bp.get("/models/<name>/versions/<version>")
def model_metadata(name: str, version: str | None) -> Response:
    data_plane = plane()
    return json_response(data_plane.ready_model(data_plane.model(name, version)).metadata())


@bp.get("/models/<name>/ready", defaults={"version": None})
@bp.get("/models/<name>/versions/<version>/ready")
def model_ready(name: str, version: str | None) -> Response:
    body, ready = plane().model_status(name, version)
    return json_response(body, 200 if ready else 503)


@bp.get("/models/<name>/config", defaults={"version": None})
@bp.get("/models/<name>/versions/<version>/config")
def model_config(name: str, version: str | None) -> Response:
    return json_response(modelconfig.to_json(plane().model_config(name, version)))


# /v2/models/stats is a route, not a model named "stats" (Triton's, like its clients' calls).
@bp.get("/models/stats", defaults={"name": None, "version": None})
@bp.get("/models/<name>/stats", defaults={"version": None})
@bp.get("/models/<name>/versions/<version>/stats")
def statistics(name: str | None, version: str | None) -> Response:
    return json_response({"model_stats": plane().statistics(name, version)})


@bp.post("/models/<name>/infer", defaults={"version": None})
@bp.post("/models/<name>/versions/<version>/infer")
def infer(name: str, version: str | None) -> Response:
    max_rows, header_length = plane().settings.max_rows, request.environ.get(HEADER_ENVIRON)
    model, infer_request, y = http.infer(
        name,
        version,
        lambda model: infer_codec.decode_v2(read_body(), header_length, model.input_name, model.output_name, max_rows),
    )
    body, json_length = infer_codec.encode_v2(model.name, model.version, infer_request, y)
    if json_length is None:
        return Response(body, mimetype=JSON)
    response = Response(body, mimetype="application/octet-stream")
    response.headers[HEADER_LENGTH] = str(json_length)
    return response


@bp.post("/repository/index")
def repository_index() -> Response:
    # Triton's model repository extension; the body ({"ready": true} filters) is optional.
    body = read_body()
    only_ready = False
    if body.strip():
        options = infer_codec.parse_json(body)
        only_ready = isinstance(options, dict) and options.get("ready") is True
    return json_response(plane().index(only_ready))
