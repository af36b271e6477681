"""Triton's model repository extension, write side: load and unload a model, behind a token.
Off without XORLAB_ADMIN_TOKEN: 501 with the words gRPC answers (UNIMPLEMENTED) with; 401 without
credentials, 403 with wrong ones, compared in constant time (DataPlane.authorize). A load's
parameters are checked as gRPC's are (DataPlane.check_load_parameters). The change reaches every
worker (see shared_state.py).
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from xorlab.serve import infer_codec
from xorlab.serve.errors import InvalidRequest
from xorlab.serve.http import json_response, plane
from xorlab.serve.http.body import read_body

bp = Blueprint("admin", __name__, url_prefix="/v2/repository/models")


def _authorize(allowed: tuple[str, ...] = ()) -> None:
    data_plane = plane()
    data_plane.authorize(request.headers.get("Authorization", ""))
    # Triton's request body: optional, {"parameters": {...}} (tritonclient sends `config` and
    # `file:<path>` for a load, `unload_dependents` for an unload).
    body = read_body()
    options = infer_codec.parse_json(body) if body.strip() else {}
    if not isinstance(options, dict) or not isinstance(options.get("parameters", {}), dict):
        raise InvalidRequest("the body must be a JSON object, with 'parameters' an object if given")
    data_plane.check_load_parameters(options.get("parameters", {}), allowed)


@bp.post("/<name>/load")
def load(name: str) -> Response:
    _authorize()
    plane().load(name)  # re-reads the repository from disk: a load picks up new artifacts
    return json_response({})


@bp.post("/<name>/unload")
def unload(name: str) -> Response:
    _authorize(allowed=("unload_dependents",))
    plane().unload(name)
    return json_response({})
