"""Triton's model repository extension, write side: load and unload a model, behind a token.

Off (404, like any unknown route) when XORLAB_ADMIN_TOKEN is unset; 401 without credentials, 403
with wrong ones, compared in constant time. The change reaches every worker (see control.py).
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, request
from werkzeug.exceptions import NotFound

from xorlab.serve.errors import Forbidden, InvalidRequest, Unauthorized
from xorlab.serve.state import json_response, state

bp = Blueprint("admin", __name__, url_prefix="/v2/repository/models")


def _authorize() -> None:
    token = state().settings.admin_token
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
    current = state()
    current.control.update(load=name)
    current.refresh()  # re-reads the repository from disk: a load picks up new artifacts
    model = current.repository.find(name)
    if not model.ready:
        raise InvalidRequest(f"failed to load '{name}': {model.reason}")
    return json_response({})


@bp.post("/<name>/unload")
def unload(name: str) -> Response:
    _authorize()
    current = state()
    current.repository.find(name)  # 404 for a model the repository does not have
    current.control.update(unload=name)
    current.refresh()
    return json_response({})
