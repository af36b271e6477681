"""Per-worker state the blueprints share: the settings and the loaded repository."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from flask import Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

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
    """The request body, up to MAX_CONTENT_LENGTH bytes; a 413 beyond it.

    With a Content-Length, Flask refuses one over the limit before reading anything. A chunked
    body (no Content-Length; gunicorn sets wsgi.input_terminated) is read one byte past the
    limit at most: Werkzeug's own limit would silently truncate it instead.
    """
    environ = request.environ
    if request.content_length is not None or "wsgi.input_terminated" not in environ:
        return request.get_data(cache=False)
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    body = environ["wsgi.input"].read(limit + 1)
    if len(body) > limit:
        raise RequestEntityTooLarge()
    return body
