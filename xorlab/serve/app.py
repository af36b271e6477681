"""The application factory: settings, the data plane (which loads the model repository here, so in
each gunicorn worker after the fork), request bookkeeping (metrics, request id, security headers,
one log line), the error handlers and one blueprint per protocol."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Request, Response, current_app, g, request
from werkzeug.exceptions import MethodNotAllowed

from xorlab.serve import logs
from xorlab.serve.config import Settings
from xorlab.serve.dataplane import Call, DataPlane
from xorlab.serve.hosting import unread_body
from xorlab.serve.http import (
    admin,
    body,
    error_handlers,
    fast_path,
    finish,
    noop,
    operations,
    page,
    page_files,
    plane,
    security_headers,
    triton_extensions,
    v1,
    v2,
)

log = logging.getLogger("xorlab.serve")


class App(Flask):
    def make_default_options_response(self) -> Response:
        # OPTIONS: the methods a route allows, and nothing else (Flask's default is an empty HTML page).
        response = super().make_default_options_response()
        response.status_code = 204
        response.mimetype = "application/json"
        return response


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """`config`: a Settings, or overrides of its fields by name (e.g. {"models": "path"});
    anything not given comes from XORLAB_* environment variables, then the defaults."""
    settings = config if isinstance(config, Settings) else Settings.from_env(**dict(config or {}))
    logs.configure(settings.log_level)

    app = App(__name__, static_folder=None)
    # Werkzeug answers '//' in a path with a redirect built from the Host header (an HTML page,
    # pointing wherever the client said it was): here such a path is simply not a route.
    app.url_map.merge_slashes = False
    app.config.update(
        DEBUG=False,
        PROPAGATE_EXCEPTIONS=False,  # errors go to our handler (JSON, no trace), never to the client
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
    )
    plane = DataPlane(settings)
    app.extensions["xorlab"] = plane
    _log_registry(plane)

    error_handlers.register(app)
    for blueprint in (v1.bp, v2.bp, page.bp, page_files.bp, admin.bp, triton_extensions.bp, operations.bp, noop.bp):
        app.register_blueprint(blueprint)
    app.before_request(_start)
    app.after_request(_finish)
    # The inference routes' successes skip Flask's machinery; everything else is Flask's (fast_path.py).
    app.wsgi_app = fast_path.FastPath(app, app.wsgi_app)
    return app


def _log_registry(plane: DataPlane) -> None:
    registry = plane.registry
    for model in registry.models.values():
        if model.ready:
            log.info("model %s version %s ready (solves XOR: %s)", model.name, model.version, model.solved)
        else:
            log.warning("model %s not served: %s", model.name, model.reason)
    for name, reason in registry.refused_pictures.items():
        log.warning("picture %s not served: %s", name, reason)
    if registry.study_error:
        log.warning("the study is left out of the report: %s", registry.study_error)
    if registry.error:
        log.warning("model repository refused: %s", registry.error)


def _start() -> None:
    g.call = Call("http", logs.request_id(request.environ.get("HTTP_X_REQUEST_ID")), time.perf_counter())
    plane().refresh()  # did the load/unload API change the repository? (a memory read)


def _finish(response: Response) -> Response:
    call, req = g.call, request._get_current_object()
    status = response.status_code
    response.headers["X-Request-ID"] = call.request_id
    security_headers.secure(response)
    if body.has_unread_body():
        unread_body.close_after_response()
    rule = req.url_rule.rule if req.url_rule is not None else _rule_of_refused_method(req)
    finish(plane(), call, req.method, req.path, rule, status)
    return response


def _rule_of_refused_method(req: Request) -> str:
    """The route template of a request refused with a 405 (a route with the path exists, not with
    the method: HEAD or GET on an infer route), for its metrics; "(unmatched)" for any other. Werkzeug
    leaves `url_rule` unset on a 405, so the path is matched again with a method the route allows."""
    refused = req.routing_exception
    if not isinstance(refused, MethodNotAllowed) or not refused.valid_methods:
        return "(unmatched)"
    adapter = current_app.url_map.bind_to_environ(req.environ)
    for method in sorted(refused.valid_methods):
        try:
            rule, _ = adapter.match(method=method, return_rule=True)
        except Exception:  # noqa: BLE001 - another route's error for that method: try the next
            continue
        return rule.rule
    return "(unmatched)"
