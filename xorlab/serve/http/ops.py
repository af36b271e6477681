"""Operations: Prometheus metrics, the OpenAPI document and the no-op route."""

from __future__ import annotations

from flask import Blueprint, Response

from xorlab.serve import metrics
from xorlab.serve.http import JSON, dataplane, json_response
from xorlab.serve.http.body import read_body
from xorlab.serve.http.openapi import document

bp = Blueprint("ops", __name__)


@bp.get("/metrics")
def prometheus() -> Response:
    return Response(metrics.render(), content_type=metrics.CONTENT_TYPE)


@bp.get("/openapi.json")
def openapi() -> Response:
    settings = dataplane().settings
    return json_response(document(settings.max_rows, settings.admin_token is not None))


@bp.post("/noop")
def noop() -> Response:
    # The floor of this stack, for the benchmark (bench/): the same app, gunicorn configuration,
    # request bookkeeping (request id, metrics, log line) and body reading as an inference request,
    # and no work; its successes take the inference routes' fast path too (http/fast.py), and this
    # view answers the rest. Always present: it holds nothing and costs nothing.
    read_body()
    return Response(b"{}", mimetype=JSON)
