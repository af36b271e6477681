"""Operations: Prometheus metrics and the OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, Response

from xorlab.serve import metrics
from xorlab.serve.http import json_response, plane
from xorlab.serve.http.openapi import document

bp = Blueprint("operations", __name__)


@bp.get("/metrics")
def prometheus() -> Response:
    return Response(metrics.render(), content_type=metrics.CONTENT_TYPE)


@bp.get("/openapi.json")
def openapi() -> Response:
    settings = plane().settings
    return json_response(document(settings.max_rows, settings.admin_token is not None))
