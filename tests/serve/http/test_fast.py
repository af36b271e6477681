"""The inference routes' fast path (xorlab/serve/http/fast_path.py) answers exactly what Flask answers:
for every request, through the fast path and through Flask alone, the same status, headers and
body, the same metrics and the same access-log line; successes skip Flask, and everything else is
Flask's."""

from __future__ import annotations

import io
import json
import logging
import os
import sys

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from tests.fixtures import MAX_BODY, MAX_ROWS
from xorlab.serve import logs
from xorlab.serve.app import create_app
from xorlab.serve.http import fast_path
from xorlab.serve.http.body import PRE_READ

TOKEN = "fast-path-token"


@pytest.fixture(scope="module")
def fast_app(xor_repo):
    # Its own app: one test unloads a model in it.
    return create_app({"models": str(xor_repo), "max_rows": MAX_ROWS, "max_body_bytes": MAX_BODY, "admin_token": TOKEN})


def environ(
    method: str, path: str, body: bytes = b"", headers: dict | None = None, length: str | None = "auto"
) -> dict:
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "REMOTE_ADDR": "127.0.0.1",
    }
    if length == "auto":
        env["CONTENT_LENGTH"] = str(len(body))
    elif length is not None:
        env["CONTENT_LENGTH"] = length
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        env[key if key == "CONTENT_TYPE" else "HTTP_" + key] = value
    return env


def call(wsgi, env: dict) -> tuple[str, list[tuple[str, str]], bytes]:
    answer = []
    out = wsgi(env, lambda status, headers, exc_info=None: answer.append((status, headers)))
    try:
        body = b"".join(out)
    finally:
        getattr(out, "close", lambda: None)()
    return answer[0][0], answer[0][1], body


SAMPLES = [
    ("nv_inference_request_success_total", ("model", "version")),
    ("nv_inference_request_failure_total", ("model", "version", "reason")),
    ("nv_inference_count_total", ("model", "version")),
    ("nv_inference_exec_count_total", ("model", "version")),
    ("nv_inference_request_duration_us_count", ("model", "version")),
    ("xorlab_http_requests_total", ("method", "route", "status")),
]


def counts() -> dict:
    """Every sample of the request metrics (the duration's count, not its time)."""
    found = {}
    for family in REGISTRY.collect():
        for sample in family.samples:
            for name, labels in SAMPLES:
                if sample.name == name:
                    found[(name, tuple(sample.labels.get(k) for k in labels))] = sample.value
    return found


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []
        self.setFormatter(logs.JsonFormatter())

    def emit(self, record):
        self.lines.append(json.loads(self.format(record)))


def answer_of(wsgi, env_args: tuple, env_kwargs: dict) -> dict:
    """Everything a request leaves behind: the answer, the metrics it moved, its log line."""
    before = counts()
    handler = Lines()
    logs.ACCESS.addHandler(handler)
    try:
        status, headers, body = call(wsgi, environ(*env_args, **env_kwargs))
    finally:
        logs.ACCESS.removeHandler(handler)
    after = counts()
    moved = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
    [line] = handler.lines
    generated = dict(headers).get("X-Request-ID")
    for entry in (line,):
        entry.pop("time"), entry.pop("duration_ms")
        if entry["request_id"] == generated and len(generated) == 32:
            entry["request_id"] = "(generated)"
    headers = [(k, "(generated)" if k == "X-Request-ID" and v == generated and len(v) == 32 else v) for k, v in headers]
    return {"status": status, "headers": headers, "body": body, "metrics": moved, "log": line}


def same_everywhere(app, *args, **kwargs) -> dict:
    through_fast = answer_of(app.wsgi_app, args, kwargs)
    flask_alone = answer_of(app.wsgi_app.flask, args, kwargs)
    assert through_fast == flask_alone
    return through_fast


V2 = "/v2/models/mlp/infer"
V1 = "/v1/models/mlp:predict"
JSON_HEADERS = {"Content-Type": "application/json"}


def v2_body(data=(0.0, 1.0), shape=(1, 2), **extra) -> bytes:
    return orjson.dumps(
        {"inputs": [{"name": "x", "datatype": "FP32", "shape": list(shape), "data": list(data)}], **extra}
    )


def v2_binary(rows: np.ndarray, **extra) -> tuple[bytes, dict]:
    raw = rows.astype("<f4").tobytes()
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "datatype": "FP32",
                    "shape": list(rows.shape),
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            **extra,
        }
    )
    return header + raw, {
        "Inference-Header-Content-Length": str(len(header)),
        "Content-Type": "application/octet-stream",
    }


SUCCESSES = [
    ("POST", V2, v2_body(), JSON_HEADERS),
    ("POST", V2, v2_body(id="req-7"), {"X-Request-ID": "trace-1"}),
    ("POST", V2, v2_body(data=[[0, 1], [1, 1]], shape=[2, 2]), {}),
    ("POST", "/v2/models/deep/versions/1/infer", v2_body(outputs=[{"name": "y"}]), {}),
    ("POST", V2, *v2_binary(np.array([[0, 1], [1, 0]], dtype=np.float32))),
    ("POST", V2, *v2_binary(np.array([[1, 1]], dtype=np.float32), parameters={"binary_data_output": True})),
    ("POST", V2, v2_body(outputs=[{"name": "y", "parameters": {"binary_data": True}}]), {"X-Request-ID": "bad id"}),
    ("POST", V1, b'{"instances": [[0, 1], [1, 1], [0.5, 0.25]]}', JSON_HEADERS),
    ("POST", "/v1/models/mlp-backprop:predict", b'{"instances": [[1, 0]]}', {}),
    ("POST", "/noop", v2_body(), JSON_HEADERS),  # the benchmarks' baseline: any body, answered {}
    ("POST", "/noop", b"", {}),
]


@pytest.mark.parametrize("method, path, body, headers", SUCCESSES)
def test_every_success_is_the_same_through_the_fast_path_and_through_flask(fast_app, method, path, body, headers):
    got = same_everywhere(fast_app, method, path, body, headers)
    assert got["status"] == "200 OK"
    assert dict(got["headers"])["Content-Security-Policy"] and got["metrics"]


FAILURES = [
    ("POST", "/v2/models/nope/infer", v2_body(), {}),  # unknown model
    ("POST", "/v2/models/mlp/versions/9/infer", v2_body(), {}),  # unknown version
    ("POST", "/v1/models/nope:predict", b'{"instances": [[0, 1]]}', {}),
    ("POST", V2, b"", {}),  # empty
    ("POST", V2, b"{not json", {}),
    ("POST", V2, v2_body(data=[0, 1, 2], shape=[1, 2]), {}),
    ("POST", V2, v2_body(data=[1e39, 0]), {}),  # outside FP32
    ("POST", V2, v2_body(data=["a", "b"]), {}),
    ("POST", V2, v2_body(data=[0.0] * 2 * (MAX_ROWS + 1), shape=[MAX_ROWS + 1, 2]), {}),
    ("POST", V2, v2_body(outputs=[{"name": "z"}]), {}),
    ("POST", V2, v2_binary(np.array([[0, 1]], dtype=np.float32))[0], {"Inference-Header-Content-Length": "²"}),
    ("POST", V2, *v2_binary(np.array([[np.nan, 1]], dtype=np.float32))),
    ("POST", V1, b'{"instances": [[0, 1, 2]]}', {}),
    ("POST", V1, b'{"instances": [[true, false]]}', {}),
    ("POST", V1, b"[1, 2]", {}),
    ("POST", "/v2/models/mlp/infer/", v2_body(), {}),  # not a route: Werkzeug's 404
    ("POST", "/v2/models//infer", v2_body(), {}),
    ("POST", "/v1/models/a/b:predict", b'{"instances": [[0, 1]]}', {}),
    ("POST", "/v2/models/ml\u00e9/infer".encode().decode("latin-1"), v2_body(), {}),  # non-ASCII name
    ("GET", V2, b"", {}),  # 405
    ("PUT", V1, b'{"instances": [[0, 1]]}', {}),
    ("OPTIONS", V2, b"", {}),
    ("POST", V2, b"x" * (MAX_BODY + 1), {}),  # 413, unread
]


@pytest.mark.parametrize("method, path, body, headers", FAILURES)
def test_every_failure_is_flasks_answer(fast_app, method, path, body, headers):
    got = same_everywhere(fast_app, method, path, body, headers)
    assert not got["status"].startswith("200")


def test_a_bad_content_length_or_a_coded_body_is_flasks_to_answer(fast_app, flask_saw):
    for length in ("", "abc", "-1", "1e3", None):
        same_everywhere(fast_app, "POST", V2, v2_body(), {}, length=length)
    for coding in ({"Content-Encoding": "gzip"}, {"Transfer-Encoding": "chunked"}):
        same_everywhere(fast_app, "POST", V2, v2_body(), coding)
    flask_saw.clear()
    call(fast_app.wsgi_app, environ("POST", V2, v2_body(), {"Content-Encoding": "identity"}))
    assert flask_saw == [1]


def test_a_model_that_is_not_ready_is_flasks_to_answer(fast_app):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    client = fast_app.test_client()
    assert client.post("/v2/repository/models/deep/unload", headers=auth).status_code == 200
    try:
        got = same_everywhere(fast_app, "POST", "/v2/models/deep/infer", v2_body(), {})
        assert got["status"].startswith("503")
    finally:
        assert client.post("/v2/repository/models/deep/load", headers=auth).status_code == 200


@pytest.fixture
def flask_saw(fast_app):
    seen = []
    fast_app.before_request_funcs.setdefault(None, []).append(lambda: seen.append(1))
    yield seen
    fast_app.before_request_funcs[None].pop()


def test_successes_skip_flask_and_anything_else_reaches_it_with_the_body_read_once(fast_app, flask_saw):
    assert call(fast_app.wsgi_app, environ("POST", V2, v2_body()))[0] == "200 OK"
    assert flask_saw == []
    env = environ("POST", V2, b'{"inputs": []}')
    status, _, body = call(fast_app.wsgi_app, env)
    assert status.startswith("400") and flask_saw == [1] and b"inputs" in body
    assert env[PRE_READ] == b'{"inputs": []}' and env["wsgi.input"].read() == b""  # read once, by the fast path


def test_a_read_that_fails_in_the_fast_path_fails_the_same_in_flask(fast_app):
    class Broken(io.BytesIO):
        def read(self, *args):
            raise OSError("connection reset")

    env = environ("POST", V2, v2_body())
    env["wsgi.input"] = Broken()
    status, _, body = call(fast_app.wsgi_app, env)
    assert isinstance(env[PRE_READ], OSError)
    env2 = environ("POST", V2, v2_body())
    env2["wsgi.input"] = Broken()
    assert (status, body) == call(fast_app.wsgi_app.flask, env2)[::2]


@settings(max_examples=200, deadline=None)
@given(
    body=st.one_of(
        st.binary(max_size=64),
        st.builds(
            lambda d: orjson.dumps(d),
            st.recursive(
                st.none()
                | st.booleans()
                | st.integers(-3, 3)
                | st.floats(allow_nan=False, allow_infinity=False)
                | st.text(max_size=3),
                lambda inner: (
                    st.lists(inner, max_size=3)
                    | st.dictionaries(
                        st.sampled_from(
                            ["inputs", "instances", "name", "datatype", "shape", "data", "id", "outputs", "parameters"]
                        ),
                        inner,
                        max_size=4,
                    )
                ),
                max_leaves=12,
            ),
        ),
        st.builds(
            lambda rows: v2_body(data=[v for r in rows for v in r], shape=[len(rows), 2]),
            st.lists(
                st.tuples(st.floats(width=32, allow_nan=False), st.floats(width=32, allow_nan=False)),
                max_size=MAX_ROWS + 1,
            ),
        ),
    ),
    path=st.sampled_from([V2, V1, "/v2/models/deep/versions/1/infer"]),
)
def test_any_body_gets_the_same_answer_through_the_fast_path_as_through_flask(fast_app, body, path):
    same_everywhere(fast_app, "POST", path, body, {})


def test_the_direct_access_line_is_the_formatters_line(monkeypatch):
    stream = io.StringIO()
    handler = logs.JsonLines(stream)
    record = logging.LogRecord("xorlab.access", logging.INFO, __file__, 0, "request", None, None)
    record.created = 1764318614.7199999
    record.fields = {
        "method": "POST",
        "path": V2,
        "status": 200,
        "duration_ms": 0.25,
        "model": "mlp",
        "request_id": "r",
    }
    handler.write_line(
        {
            "time": logs._utc(record.created),
            "level": "INFO",
            "logger": "xorlab.access",
            "pid": logs.pid(),
            "message": "request",
            **record.fields,
        }
    )
    assert stream.getvalue() == handler.format(record) + "\n"
    assert json.loads(stream.getvalue())["time"] == "2025-11-28T08:30:14.720+00:00"  # datetime's rounding


def test_the_service_writes_its_access_lines_directly_and_a_test_handler_gets_records(fast_app, monkeypatch):
    # (pytest's log capture adds its own handlers: the service runs with its one)
    [handler] = [h for h in logs.XORLAB.handlers if type(h) is logs.JsonLines]
    monkeypatch.setattr(logs.XORLAB, "handlers", [handler])
    assert logs._plain_handler() is handler
    stream = io.StringIO()
    monkeypatch.setattr(handler, "stream", stream)
    call(fast_app.wsgi_app, environ("POST", V1, b'{"instances": [[0, 1]]}', {"X-Request-ID": "direct-1"}))
    [line] = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert {
        k: line[k] for k in ("level", "logger", "pid", "message", "method", "path", "status", "model", "request_id")
    } == {
        "level": "INFO",
        "logger": "xorlab.access",
        "pid": os.getpid(),
        "message": "request",
        "method": "POST",
        "path": V1,
        "status": 200,
        "model": "mlp",
        "request_id": "direct-1",
    }
    logs.ACCESS.addHandler(extra := Lines())
    try:
        assert logs._plain_handler() is None
    finally:
        logs.ACCESS.removeHandler(extra)


def test_the_fast_paths_routes_are_the_apps(fast_app):
    routes = {rule.rule: rule.endpoint for rule in fast_app.url_map.iter_rules()}
    assert {r: routes[r] for r in fast_path.RULES} == fast_path.RULES
    assert fast_path.route("/v2/models/a/infer") == (fast_path.V2_RULE, "a", None)
    assert fast_path.route("/v2/models/a/versions/3/infer") == (fast_path.V2_VERSION_RULE, "a", "3")
    assert fast_path.route("/v1/models/a:b:predict") == (fast_path.V1_RULE, "a:b", None)  # as Werkzeug matches it
    assert fast_path.route("/noop") == (fast_path.NOOP_RULE, "", None)
    for other in (
        "/v2/models/infer",
        "/v2/models/a/b/infer",
        "/v2/models/a/versions//infer",
        "/v1/models/:predict",
        "/noop/",
    ):
        assert fast_path.route(other) is None


def test_a_fast_success_splits_its_time_as_flasks_path_does(fast_app):
    def phases() -> dict:
        found = {}
        for family in REGISTRY.collect():
            for sample in family.samples:
                if (
                    sample.name.startswith("nv_inference_")
                    and sample.name.endswith("_duration_us_total")
                    and sample.labels.get("model") == "mlp"
                ):
                    found[sample.name] = found.get(sample.name, 0) + sample.value
        return found

    before = phases()
    assert call(fast_app.wsgi_app, environ("POST", V2, v2_body()))[0] == "200 OK"
    moved = {k: v - before.get(k, 0) for k, v in phases().items()}
    assert moved["nv_inference_queue_duration_us_total"] == 0  # no queue: the thread read the request
    for phase in ("compute_input", "compute_infer", "compute_output"):
        assert moved[f"nv_inference_{phase}_duration_us_total"] > 0, phase
