"""A lean WSGI path for the inference routes (and the no-op baseline), in front of Flask.

Most of a one-row inference request's time in the app is Flask's own machinery, not the inference:
the request and application contexts, a Request object and its headers, URL routing, the hooks,
a Response object and its headers, more than twice this path's CPU per one-row request, bookkeeping
included (docs/benchmarks.md). For `POST /v2/models/<name>[/versions/<version>]/infer`,
`POST /v1/models/<name>:predict` and `POST /noop` (the benchmarks' baseline: the same path without
the inference, so it stays the inference requests' floor), when everything goes right, this path
does the same work without that machinery and answers the same bytes: the same body, status and
headers, the same request id rules and security headers, and the same request lifecycle: the data
plane's `infer` and `finish` (metrics and access line), as Flask's views and after-request hook.

Flask keeps everything else: every other route, and every answer that is not a success. The
moment anything is not the plain case (no Content-Length or one over the limit, a Content-Encoding
or chunked body, an unknown model or version, a model that is not ready, a body that cannot be read
in time, a request the codecs refuse, any exception at all), the request goes to Flask exactly as
it came, so it gets exactly Flask's answer. A body already read goes along in the environ
(PRE_READ), and Flask's `read_body` takes it from there (http/body.py), with the same outcome as
reading it, a read that failed included. Nothing is recorded before the answer is certain, so a
request handed over is counted and logged once, by Flask.
"""

from __future__ import annotations

import time

from xorlab.serve import infer_codec, logs
from xorlab.serve.config import declared_length
from xorlab.serve.dataplane import Call
from xorlab.serve.http import JSON, finish
from xorlab.serve.http.body import PRE_READ, read_length
from xorlab.serve.http.security_headers import API_HEADERS
from xorlab.serve.http.v2 import HEADER_ENVIRON

BINARY = "application/octet-stream"

# The route templates, as Flask's url_map has them: the `route` label of xorlab_http_requests.
# FastPath checks at start that the app routes these to the views whose work it does.
V2_RULE = "/v2/models/<name>/infer"
V2_VERSION_RULE = "/v2/models/<name>/versions/<version>/infer"
V1_RULE = "/v1/models/<name>:predict"
NOOP_RULE = "/noop"  # the benchmarks' baseline: the inference requests' path, without the inference
RULES = {V2_RULE: "v2.infer", V2_VERSION_RULE: "v2.infer", V1_RULE: "v1.predict", NOOP_RULE: "noop.noop"}
_V2, _V1, _INFER, _PREDICT = "/v2/models/", "/v1/models/", "/infer", ":predict"


def route(path: str) -> tuple[str, str, str | None] | None:
    """(rule, name, version) when `path` is one of the fast path's routes exactly as Werkzeug would
    match it (each variable one non-empty path segment), else None: Flask decides. ASCII paths
    only, so the path is the same text Werkzeug decodes and logs."""
    if path == NOOP_RULE:
        return NOOP_RULE, "", None
    if not path.isascii():
        return None
    if path.startswith(_V2) and path.endswith(_INFER) and len(path) > len(_V2) + len(_INFER):
        parts = path[len(_V2) : -len(_INFER)].split("/")
        if len(parts) == 1 and parts[0]:
            return V2_RULE, parts[0], None
        if len(parts) == 3 and parts[1] == "versions" and parts[0] and parts[2]:
            return V2_VERSION_RULE, parts[0], parts[2]
        return None
    if path.startswith(_V1) and path.endswith(_PREDICT):
        name = path[len(_V1) : -len(_PREDICT)]
        if name and "/" not in name:
            return V1_RULE, name, None
    return None


class FastPath:
    """WSGI middleware around Flask's `wsgi_app` (see the module's docstring)."""

    def __init__(self, app, flask_wsgi_app):
        found = {rule.rule: rule.endpoint for rule in app.url_map.iter_rules() if "POST" in (rule.methods or ())}
        missing = {r: e for r, e in RULES.items() if found.get(r) != e}
        if missing:  # a renamed route or view must not leave this path answering for it
            raise RuntimeError(f"the fast path's routes are not the app's: {missing}")
        self.flask = flask_wsgi_app
        self.plane = app.extensions["xorlab"]
        self.limit = app.config["MAX_CONTENT_LENGTH"]

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST":
            matched = route(environ.get("PATH_INFO", ""))
            if matched is not None:
                answer = self._infer(environ, *matched)
                if answer is not None:
                    status, headers, body = answer
                    start_response(status, headers)
                    return [body]
        return self.flask(environ, start_response)

    def _infer(self, environ: dict, rule: str, name: str, version: str | None):
        """The success's status, headers and body; None to hand the request to Flask."""
        start = time.perf_counter()
        length = declared_length(environ.get("CONTENT_LENGTH") or "")
        if (
            length is None
            or length > self.limit
            or "HTTP_TRANSFER_ENCODING" in environ
            or "HTTP_CONTENT_ENCODING" in environ
        ):
            return None
        plane = self.plane
        try:
            plane.refresh()
            model = None if rule == NOOP_RULE else plane.model(name, version)
        except Exception:  # noqa: BLE001 - unknown model or version (or worse): Flask answers
            return None
        if model is not None and not model.ready:
            return None
        settings = plane.settings
        try:
            body = read_length(environ, length, settings.body_timeout)
        except Exception as exc:  # noqa: BLE001 - Flask's read_body raises the same, from here
            environ[PRE_READ] = exc
            return None
        environ[PRE_READ] = body
        call = Call("http", logs.request_id(environ.get("HTTP_X_REQUEST_ID")), start)
        try:
            if rule == NOOP_RULE:
                out, json_length = b"{}", None
            elif rule == V1_RULE:
                _, _, y = plane.infer(call, name, version, lambda model: infer_codec.decode_v1(body, settings.max_rows))
                out, json_length = infer_codec.encode_v1(y), None
            else:
                model, request, y = plane.infer(
                    call,
                    name,
                    version,
                    lambda model: infer_codec.decode_v2(
                        body, environ.get(HEADER_ENVIRON), model.input_name, model.output_name, settings.max_rows
                    ),
                )
                out, json_length = infer_codec.encode_v2(model.name, model.version, request, y)
        except Exception:  # noqa: BLE001 - every refusal and failure is Flask's to answer
            return None
        # Flask's headers for these views' responses, in its order (Werkzeug's Response, then the
        # after-request hook: the view's own header, the request id, the security headers).
        if json_length is None:
            headers = [("Content-Type", JSON), ("Content-Length", str(len(out)))]
        else:
            headers = [
                ("Content-Type", BINARY),
                ("Content-Length", str(len(out))),
                ("Inference-Header-Content-Length", str(json_length)),
            ]
        headers += [("X-Request-ID", call.request_id), *API_HEADERS]
        finish(plane, call, "POST", environ["PATH_INFO"], rule, 200)
        return "200 OK", headers, out
