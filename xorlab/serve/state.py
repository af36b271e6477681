"""Per-worker state the blueprints share: the settings and the loaded repository."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import orjson
from flask import Response, current_app, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from xorlab.serve import deadline
from xorlab.serve.config import Settings
from xorlab.serve.control import Control
from xorlab.serve.errors import BodyTimeout, InvalidRequest, ModelNotReady
from xorlab.serve.repository import Repository, load_repository
from xorlab.serve.runtime import OnnxModel

JSON = "application/json"


@dataclass
class State:
    settings: Settings
    control: Control
    # Replaced whole (never mutated in place) when models are reloaded, so a request sees one
    # consistent repository from start to end.
    repository: Repository = None  # type: ignore[assignment]
    stamp: tuple[int, int] = (-1, -1)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def refresh(self) -> None:
        """Re-read the repository if the load/unload API changed it since this worker last did."""
        if self.control.stamp() == self.stamp:
            return
        with self.lock:  # one thread reloads; the others wait and then see its result
            stamp = self.control.stamp()
            if stamp != self.stamp:
                self.repository = load_repository(self.settings.models, self.control.unloaded())
                self.stamp = stamp


def state() -> State:
    return current_app.extensions["xorlab"]


def inference_model(name: str, version: str | None = None) -> OnnxModel:
    """The model an inference request names: 404 unknown, 503 not ready. Recorded in `g` first,
    so the request counts in that model's metrics whatever happens next."""
    model = state().repository.find(name, version)
    g.model = model
    if not model.ready:
        raise ModelNotReady(f"model '{name}' is not ready: {model.reason}")
    return model


def json_response(obj: object, status: int = 200) -> Response:
    return Response(orjson.dumps(obj), status=status, mimetype=JSON)


def read_body() -> bytes:
    """The request body, up to MAX_CONTENT_LENGTH bytes; a 413 beyond it, a 408 when it does not
    arrive within XORLAB_BODY_TIMEOUT seconds (see deadline.py).

    With a Content-Length, Flask refuses one over the limit before reading anything. A chunked
    body (no Content-Length; gunicorn sets wsgi.input_terminated) is read one byte past the
    limit at most: Werkzeug's own limit would silently truncate it instead.
    """
    environ = request.environ
    seconds = state().settings.body_timeout
    with deadline.watch(environ.get("gunicorn.socket"), seconds) as ticket:
        try:
            body = _read_body(environ)
        except Exception:
            if ticket is not None and ticket.expired:
                raise BodyTimeout(f"the request body did not arrive within {seconds} s") from None
            raise
    if ticket is not None and ticket.expired and request.content_length not in (None, len(body)):
        raise BodyTimeout(f"the request body did not arrive within {seconds} s")
    return body


def _read_body(environ: dict) -> bytes:
    length = environ.get("CONTENT_LENGTH")
    if length and length.isdigit():
        # The common case, read directly: Werkzeug's get_data wraps the stream in a limited
        # reader and parses the headers again on every request.
        if int(length) > current_app.config["MAX_CONTENT_LENGTH"]:
            raise RequestEntityTooLarge()
        return environ["wsgi.input"].read(int(length))
    if request.content_length is not None or "wsgi.input_terminated" not in environ:
        return request.get_data(cache=False)
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    try:
        body = environ["wsgi.input"].read(limit + 1)
    except Exception as exc:  # noqa: BLE001 - a truncated or malformed chunked body: gunicorn's
        # errors (NoMoreData, InvalidChunkSize, ...) have no common base outside Exception
        raise InvalidRequest(f"the chunked request body could not be read ({type(exc).__name__})") from None
    if len(body) > limit:
        raise RequestEntityTooLarge()
    return body
