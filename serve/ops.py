"""Operations: Prometheus metrics and the OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, Response

from serve import metrics
from serve.openapi import document
from serve.state import json_response

bp = Blueprint("ops", __name__)


@bp.get("/metrics")
def prometheus() -> Response:
    return Response(metrics.render(), content_type=metrics.CONTENT_TYPE)


@bp.get("/openapi.json")
def openapi() -> Response:
    return json_response(document())
