"""Triton's model repository extension, write side: load and unload a model, behind a token.

Off (404, like any unknown route) when XORLAB_ADMIN_TOKEN is unset; 401 without credentials, 403
with wrong ones, compared in constant time. The change reaches every worker (see control.py).
"""

from __future__ import annotations

from flask import Blueprint, Response, request
from werkzeug.exceptions import NotFound

from xorlab.serve.http import dataplane, json_response

bp = Blueprint("admin", __name__, url_prefix="/v2/repository/models")


def _authorize() -> None:
    plane = dataplane()
    if plane.settings.admin_token is None:
        raise NotFound()
    plane.authorize(request.headers.get("Authorization", ""))


@bp.post("/<name>/load")
def load(name: str) -> Response:
    _authorize()
    dataplane().load(name)  # re-reads the repository from disk: a load picks up new artifacts
    return json_response({})


@bp.post("/<name>/unload")
def unload(name: str) -> Response:
    _authorize()
    dataplane().unload(name)
    return json_response({})
