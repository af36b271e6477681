"""Every error answered over HTTP (the service's own and Flask's 404/405/413) as JSON
`{"error": "..."}`, with the status the error carries."""

from __future__ import annotations

import logging

import orjson
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from xorlab.serve.errors import ServeError, TooLarge

log = logging.getLogger("xorlab.serve")


def error_response(status: int, message: str) -> Response:
    return Response(orjson.dumps({"error": message}), status=status, mimetype="application/json")


def _http_message(exc: HTTPException, max_body_bytes: int) -> str:
    # Werkzeug's descriptions are written for HTML pages; say it in the API's terms instead.
    if exc.code == 404:
        return f"no route for {request.method} {request.path}"
    if exc.code == 405:
        allowed = ", ".join(sorted(exc.valid_methods or ()))
        return f"method {request.method} is not allowed for {request.path}; allowed: {allowed}"
    if exc.code == 413:
        return TooLarge.message_for(max_body_bytes)
    return exc.name.lower()


def register(app: Flask) -> None:
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
