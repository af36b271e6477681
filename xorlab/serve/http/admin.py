"""Triton's model repository extension, write side: load and unload a model, behind a token.

Off (404, like any unknown route) when XORLAB_ADMIN_TOKEN is unset; 401 without credentials, 403
with wrong ones, compared in constant time. The change reaches every worker (see control.py).
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, request
from werkzeug.exceptions import NotFound

from xorlab.serve.errors import Forbidden, Unauthorized
from xorlab.serve.http import dataplane, json_response

bp = Blueprint("admin", __name__, url_prefix="/v2/repository/models")


def _authorize() -> None:
    token = dataplane().settings.admin_token
    if token is None:
        raise NotFound()
    given = request.headers.get("Authorization", "")
    if not given:
        raise Unauthorized("this route needs 'Authorization: Bearer <token>'")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise Forbidden("the token is not valid for this route")


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
