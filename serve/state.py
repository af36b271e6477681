"""Per-worker state the blueprints share: the settings and the loaded repository."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from flask import Response, current_app, request

from serve.config import Settings
from serve.repository import Repository

JSON = "application/json"


@dataclass
class State:
    settings: Settings
    # Replaced whole (never mutated in place) when models are reloaded, so a request sees one
    # consistent repository from start to end.
    repository: Repository


def state() -> State:
    return current_app.extensions["xorlab"]


def json_response(obj: object, status: int = 200) -> Response:
    return Response(orjson.dumps(obj), status=status, mimetype=JSON)


def read_body() -> bytes:
    # Flask refuses a Content-Length over MAX_CONTENT_LENGTH here (413) before reading anything,
    # and a chunked body as soon as it grows past it.
    return request.get_data(cache=False)
