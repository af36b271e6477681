"""One exception per error condition, one base class carrying the HTTP status, one handler that
renders every error (ours and Flask's own 404/405/413) as JSON `{"error": "..."}`.

A client's mistake is a 4xx with a message saying what was wrong and what was expected; anything
else is a 500 whose body says nothing about the server's insides (no trace, no paths).
"""

from __future__ import annotations

import logging

import orjson
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger("xorlab.serve")


class RepositoryError(Exception):
    """A model repository check failed (not an HTTP error: the model is refused with this reason,
    which clients see, so it names no machine paths)."""


class ServeError(Exception):
    status = 500
    headers: dict[str, str] = {}

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadRequest(ServeError):
    status = 400


class InvalidJSON(BadRequest):
    """The body is not JSON (or is JSON with NaN/Infinity, which JSON does not have)."""


class InvalidRequest(BadRequest):
    """Well-formed JSON whose structure is not the protocol's."""


class InvalidTensor(BadRequest):
    """A tensor with the wrong name, datatype, shape or values."""


class TooManyRows(BadRequest):
    pass


class NotFound(ServeError):
    status = 404


class ModelNotFound(NotFound):
    pass


class VersionNotFound(NotFound):
    pass


class Unauthorized(ServeError):
    status = 401
    headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(ServeError):
    status = 403


class BodyTimeout(ServeError):
    """The client did not send its body within XORLAB_BODY_TIMEOUT. The connection closes after
    the answer: its read side is shut (deadline.py); gunicorn decides Connection itself."""

    status = 408


class NotReady(ServeError):
    status = 503


class ModelNotReady(NotReady):
    pass


class ServerNotReady(NotReady):
    pass


def error_response(status: int, message: str, **extra) -> Response:
    body = {"error": message, **extra}
    return Response(orjson.dumps(body), status=status, mimetype="application/json")


def _http_message(exc: HTTPException, max_body_bytes: int) -> str:
    # Werkzeug's descriptions are written for HTML pages; say it in the API's terms instead.
    if exc.code == 404:
        return f"no route for {request.method} {request.path}"
    if exc.code == 405:
        allowed = ", ".join(sorted(exc.valid_methods or ()))
        return f"method {request.method} is not allowed for {request.path}; allowed: {allowed}"
    if exc.code == 413:
        return f"request body too large: the limit is {max_body_bytes} bytes"
    return exc.name.lower()


def register_error_handlers(app: Flask) -> None:
    max_body_bytes = app.config["MAX_CONTENT_LENGTH"]

    @app.errorhandler(ServeError)
    def _serve_error(exc: ServeError) -> Response:
        response = error_response(exc.status, exc.message)
        response.headers.update(exc.headers)
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        response = error_response(exc.code or 500, _http_message(exc, max_body_bytes))
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        if exc.code == 413:
            # The body was not read; closing the connection stops the server from reading
            # (and discarding) the rest of it to reach the next request on this connection.
            response.headers["Connection"] = "close"
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal server error")
