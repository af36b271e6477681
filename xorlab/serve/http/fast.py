"""A lean WSGI path for the inference routes (and the no-op baseline), in front of Flask.

Most of a one-row inference request's time in the app is Flask's own machinery, not the inference:
the request and application contexts, a Request object and its headers, URL routing, the hooks,
a Response object and its headers (in one process, about 200 µs of CPU per one-row request through
Flask against 80 through this path, bookkeeping included). For `POST /v2/models/<name>[/versions/<version>]/infer`,
`POST /v1/models/<name>:predict` and `POST /noop` (the benchmarks' baseline: the same path without
the inference, so it stays the inference requests' floor), when everything goes right, this path
does the same work without that machinery and answers the same bytes: the same body, status and
headers, the same request id rules, security headers, metrics and access-log line (`record`,
shared with Flask's after-request hook).

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

from xorlab.serve import codecs, logs, metrics
from xorlab.serve.config import ascii_int
from xorlab.serve.http import JSON
from xorlab.serve.http.body import PRE_READ, read_length
from xorlab.serve.http.headers import API_CSP
from xorlab.serve.http.v2 import HEADER_ENVIRON

BINARY = "application/octet-stream"

# The route templates, as Flask's url_map has them: the `route` label of xorlab_http_requests.
# FastPath checks at start that the app routes these to the views whose work it does.
V2_RULE = "/v2/models/<name>/infer"
V2_VERSION_RULE = "/v2/models/<name>/versions/<version>/infer"
V1_RULE = "/v1/models/<name>:predict"
NOOP_RULE = "/noop"  # the benchmarks' baseline: the inference requests' path, without the inference
RULES = {V2_RULE: "v2.infer", V2_VERSION_RULE: "v2.infer", V1_RULE: "v1.predict", NOOP_RULE: "ops.noop"}
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


def record(method: str, path: str, rule: str, status: int, seconds: float, model, rows: int, request_id: str,
           phases: tuple[float, float, float, float] | None = None) -> None:
    """A request's bookkeeping, on both paths: its inference metrics (when it named a model; with
    a success's time split as Triton's statistics split it, `phases`), the HTTP request counter and
    the access-log line."""
    if model is not None:
        metrics.safely(metrics.observe_inference, model.name, model.version, status, rows, seconds, phases or (0.0, 0.0, 0.0, 0.0))
    metrics.safely(metrics.observe_http, method, rule, status)
    logs.log_request(method, path, status, seconds, model.name if model is not None else None, request_id)


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
        length = ascii_int(environ.get("CONTENT_LENGTH") or "", 20)
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
        try:
            if rule == NOOP_RULE:
                x, out, header_length = (), b"{}", None
            elif rule == V1_RULE:
                x = codecs.decode_v1(body, settings.max_rows)
                input_done = time.perf_counter()
                y = model.predict(x)
                infer_done = time.perf_counter()
                out, header_length = codecs.encode_v1(y), None
            else:
                request = codecs.decode_v2(body, environ.get(HEADER_ENVIRON), model.input_name, model.output_name, settings.max_rows)
                x = request.x
                input_done = time.perf_counter()
                y = model.predict(x)
                infer_done = time.perf_counter()
                out, header_length = codecs.encode_v2(model.name, model.version, request, y)
        except Exception:  # noqa: BLE001 - every refusal and failure is Flask's to answer
            return None
        request_id = logs.request_id(environ.get("HTTP_X_REQUEST_ID"))
        # Flask's headers for these views' responses, in its order (Werkzeug's Response, then the
        # after-request hook: the view's own header, the request id, the security headers).
        if header_length is None:
            headers = [("Content-Type", JSON), ("Content-Length", str(len(out)))]
        else:
            headers = [("Content-Type", BINARY), ("Content-Length", str(len(out))),
                       ("Inference-Header-Content-Length", str(header_length))]  # fmt: skip
        headers += [("X-Request-ID", request_id), ("X-Content-Type-Options", "nosniff"), ("Content-Security-Policy", API_CSP)]
        end = time.perf_counter()
        # As Flask's path splits a success's time (app._finish): no queue, reading and decoding,
        # onnxruntime, encoding and the rest.
        phases = None if model is None else (0.0, input_done - start, infer_done - input_done, end - infer_done)
        record("POST", environ["PATH_INFO"], rule, 200, end - start, model, len(x), request_id, phases)
        return "200 OK", headers, out
