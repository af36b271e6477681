"""Hostile input against a real gunicorn (2 workers): malformed HTTP that gunicorn refuses itself,
bodies that are deep, duplicated, huge, tiny, strange, truncated or mislabelled. Every answer is
a JSON 4xx (or a 200 for input that is valid after all), never a 5xx, never HTML, never a hang,
and the workers that answered are still the same processes afterwards (nothing crashed).

The Flask test client suites (http/test_api.py, dataplane/test_codecs.py) pin the exact messages of the
decoding errors; this file sends what only a real socket can, and what they do not cover."""

from __future__ import annotations

import importlib.util
import json
import socket
import time

import numpy as np
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import ROOT
from tests.prerequisites import install
from tools.live_server import running, wait_until

PREDICT = "/v1/models/mlp:predict"
INFER = "/v2/models/mlp/infer"


PARSERS = ["fast", "python"]  # XORLAB_HTTP_PARSER: gunicorn's C parser (gunicorn_h1c), its Python one
SAYS = {"fast": "HTTP parser: gunicorn_h1c (C)", "python": "HTTP parser: python"}


@pytest.fixture(scope="module", params=PARSERS)
def server_per_parser(request, tmp_path_factory):
    """A server under each of gunicorn's parsers: what is refused, and how, must not depend on it."""
    if request.param == "fast" and importlib.util.find_spec("gunicorn_h1c") is None:
        pytest.skip(
            f"gunicorn's C parser is not installed, only the Python parser is tested: {install('gcc')}; "
            "the next make test brings it in"
        )
    with running(tmp_path_factory.mktemp("hostile"), ROOT / "models", XORLAB_HTTP_PARSER=request.param) as srv:
        # each worker says what it parses with
        wait_until(lambda: srv.log.read_text().count(SAYS[request.param]) == 2, 30, srv.log)
        srv.first_workers = srv.workers()
        yield srv


@pytest.fixture(scope="module", autouse=True)
def nothing_crashed(server_per_parser):
    yield
    assert server_per_parser.workers() == server_per_parser.first_workers  # no worker died or was replaced
    assert "Traceback" not in server_per_parser.log.read_text()


def exchange(server, data: bytes, half_close: bool = True) -> tuple[int, dict, bytes]:
    """Send raw bytes, read until the server closes: (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as s:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := s.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def assert_json_error(status: int, headers: dict, body: bytes, expected_status: int, message: str) -> None:
    assert (status, headers["content-type"]) == (expected_status, "application/json"), body
    assert json.loads(body)["error"].startswith(message)


MALFORMED_HTTP = [
    (b"GARBAGE\r\n\r\n", 400, "bad request: Invalid Request Line"),
    (b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad request: Invalid Method"),
    (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400, "bad request: Invalid HTTP Version"),
    (b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri too long: Request "),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 20_000 + b"\r\n\r\n", 431, "request header fields too large"),
    (
        b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"\r\n",
        431,
        "request header fields too large",
    ),
    (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", 400, "bad request: Invalid HTTP header name"),
    (
        b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        400,
        "bad request: Invalid HTTP Header: ",
    ),
    (
        b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        400,
        "bad request: Invalid HTTP Header",
    ),
    (
        b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        400,
        "bad request: Invalid HTTP Header",
    ),
    (
        b"POST "
        + PREDICT.encode()
        + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        "bad request",
    ),
]


@pytest.mark.parametrize(("data", "status", "message"), MALFORMED_HTTP, ids=range(len(MALFORMED_HTTP)))
def test_malformed_http_refused_by_gunicorn_itself_is_json(server_per_parser, data, status, message):
    got, headers, body = exchange(server_per_parser, data)
    assert_json_error(got, headers, body, status, message)
    assert headers["connection"] == "close" and headers["x-content-type-options"] == "nosniff"


CHUNKED = b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
TRUNCATED = [
    # Content-Length promises more than comes before the client stops sending.
    (
        b"POST " + PREDICT.encode() + b' HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"instances"',
        "the request body is not valid JSON",
    ),
    (CHUNKED + b'10\r\n{"inst', "the chunked request body could not be read (NoMoreData)"),
    (CHUNKED + b"zz\r\n", "the chunked request body could not be read (InvalidChunkSize)"),
]


@pytest.mark.parametrize(("data", "message"), TRUNCATED, ids=["content-length", "chunked", "bad-chunk-size"])
def test_truncated_bodies_are_400(server_per_parser, data, message):
    assert_json_error(*exchange(server_per_parser, data), 400, message)


def _deep(depth: int) -> bytes:
    return b'{"instances": ' + b"[" * depth + b"0" + b"]" * depth + b"}"


V2 = {"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [0, 1]}


def v2(**changes) -> bytes:
    return json.dumps({"inputs": [{**V2, **changes}]}).encode()


def _binary(size: int, raw: bytes) -> tuple[bytes, dict]:
    head = json.dumps({"inputs": [{**V2, "data": None, "parameters": {"binary_data_size": size}}]}).encode()
    head = head.replace(b', "data": null', b"")
    return head + raw, {"Inference-Header-Content-Length": str(len(head))}


HOSTILE = [
    # (path, body, headers, status, message prefix)
    (PREDICT, _deep(100_000), {}, 400, "the request body is not valid JSON (depth limit exceeded"),
    (PREDICT, _deep(1000), {}, 400, "'instances' is ragged"),  # deeper than numpy's 64 dimensions
    (PREDICT, _deep(60), {}, 400, "'instances' has shape"),
    (
        PREDICT,
        b'{"instances": [[0, 1]], "instances": "x"}',
        {},
        400,
        "'instances' must be a list of rows",
    ),  # the last wins
    (PREDICT, b'{"instances": [[0, 1e400]]}', {}, 400, "the request body is not valid JSON"),
    (
        PREDICT,
        b'{"instances": [[0, 1' + b"0" * 400 + b"]]}",
        {},
        400,
        "the request body is not valid JSON (number is infinity",
    ),
    (PREDICT, b'{"instances": [[0, 3.5e38]]}', {}, 400, "'instances' holds a number outside the FP32 range"),
    (PREDICT, b'{"instances": [["\\u0000", 1]]}', {}, 400, "'instances' must hold numbers only, found strings"),
    (
        PREDICT,
        b'{"instances": [["\x01", 1]]}',
        {},
        400,
        "the request body is not valid JSON (unexpected control character",
    ),
    (PREDICT, b'{"instances": [["\\ud800", 1]]}', {}, 400, "the request body is not valid JSON"),
    (PREDICT, b'{"instances": [[0, 1]]}\xff\xfe', {}, 400, "the request body is not valid JSON"),
    (PREDICT, '{"instances": [["٣", 1]]}'.encode(), {}, 400, "'instances' must hold numbers only, found strings"),
    (
        PREDICT,
        b"\xef\xbb\xbf" + b'{"instances": [[0, 1]]}',
        {},
        400,
        "the request body is not valid JSON",
    ),  # a UTF-8 BOM
    (
        PREDICT,
        json.dumps({"instances": [[0, 1]] * 70_000}).encode(),
        {},
        400,
        "'instances' has 70000 rows; the limit is 65536",
    ),
    (INFER, v2(shape=[1, 2], data=[0] * 1_000), {}, 400, "input 'x': 'data' does not match shape [1, 2]"),
    # more values than any request within the row limit: counted before the parser builds them
    (
        INFER,
        v2(shape=[1, 2], data=[0] * 2_000_000),
        {},
        400,
        "the request holds more values than 65536 rows of 2 numbers need",
    ),
    (INFER, v2(shape=[2, 0]), {}, 400, "input 'x' has shape [2, 0]"),
    (INFER, v2(shape=[0, 0]), {}, 400, "input 'x' has shape [0, 0]"),
    (INFER, v2(shape=[-1, 2]), {}, 400, "input 'x' has shape [-1, 2]"),
    (INFER, v2(shape=[2**63, 2]), {}, 400, f"input 'x' has {2**63} rows"),
    # binary sizes that lie: bigger than the body, bigger than the shape, a header length past the end
    (
        INFER,
        *_binary(2**62, b"\0" * 8),
        400,
        f"input 'x': binary_data_size is {2**62}; shape [1, 2] of FP32 needs 8 bytes",
    ),
    (INFER, *_binary(8, b"\0" * 4), 400, "input 'x': binary_data_size is 8 but only 4 bytes follow the JSON header"),
    (
        INFER,
        _binary(8, b"\0" * 8)[0],
        {"Inference-Header-Content-Length": str(2**64)},
        400,
        "Inference-Header-Content-Length must be",
    ),
    # digits that str.isdigit() takes and int() does not, and more digits than int() parses
    (
        INFER,
        _binary(8, b"\0" * 8)[0],
        {"Inference-Header-Content-Length": "\u00b2"},
        400,
        "Inference-Header-Content-Length must be",
    ),
    (
        INFER,
        _binary(8, b"\0" * 8)[0],
        {"Inference-Header-Content-Length": "9" * 5000},
        400,
        "Inference-Header-Content-Length must be",
    ),
    # an output named twice would have the answer twice: a 65,536-row request could ask for it a million times
    (
        INFER,
        json.dumps({"inputs": [V2], "outputs": [{"name": "y"}, {"name": "y"}]}).encode(),
        {},
        400,
        "output 'y' is requested more than once",
    ),
    (INFER, b'{"inputs": [], "inputs": [' + json.dumps(V2).encode() + b'], "id": "\\u2028"}', {}, 200, ""),
]


@pytest.mark.parametrize(("path", "body", "headers", "status", "message"), HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_bodies_get_a_json_answer(server_per_parser, path, body, headers, status, message):
    r = requests.post(server_per_parser.url + path, data=body, headers=headers, timeout=30)
    assert (r.status_code, r.headers["Content-Type"]) == (status, "application/json"), r.text[:300]
    if status != 200:
        assert r.json()["error"].startswith(message)


def test_tiny_numbers_are_numbers(server_per_parser):
    # Denormals and underflow to zero are valid FP32 input (an underflowing float32 becomes 0).
    r = requests.post(
        server_per_parser.url + PREDICT, data=b'{"instances": [[5e-324, 1e-400], [1e-45, -0.0]]}', timeout=30
    )
    zero = requests.post(server_per_parser.url + PREDICT, json={"instances": [[0, 0], [1e-45, 0]]}, timeout=30)
    assert r.status_code == 200 and r.json()["predictions"] == zero.json()["predictions"]


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        "image/png",
        "x",
    ],
)
@pytest.mark.parametrize("path", [PREDICT, INFER])
def test_any_or_no_content_type_is_accepted(server_per_parser, path, content_type):
    # Documented: the body is read as JSON whatever the label (tritonclient sends none).
    body = json.dumps({"instances": [[0, 1]]} if path == PREDICT else {"inputs": [V2]}).encode()
    headers = {"Content-Type": content_type} if content_type else {}
    with requests.Session() as s:
        prepared = requests.Request("POST", server_per_parser.url + path, data=body, headers=headers).prepare()
        if content_type is None:
            prepared.headers.pop("Content-Type", None)
        r = s.send(prepared, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"


def test_binary_body_labelled_json_and_json_labelled_binary(server_per_parser):
    raw = np.array([[0, 1]], dtype="<f4").tobytes()
    body, _ = _binary(8, raw)
    r = requests.post(
        server_per_parser.url + INFER, data=body, timeout=30, headers={"Content-Type": "application/json"}
    )
    # no header length
    assert r.status_code == 400 and r.json()["error"].startswith("the request body is not valid JSON")
    r = requests.post(
        server_per_parser.url + INFER, data=v2(), timeout=30, headers={"Content-Type": "application/octet-stream"}
    )
    assert r.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/%00:predict",
        "/v1/models/%F0%9F%98%80:predict",
        "/v1/models/..%2F..%2Fetc%2Fpasswd:predict",
        "/v2/models/mlp%0d%0aX-Injected:%201/infer",
    ],
)
def test_strange_model_names_are_404_json_without_echoing_raw_bytes_into_headers(server_per_parser, path):
    r = requests.post(server_per_parser.url + path, json={"instances": [[0, 1]]}, timeout=30)
    assert r.status_code == 404 and r.headers["Content-Type"] == "application/json"
    assert "X-Injected" not in r.headers and r.json()["error"]


def test_unknown_methods_are_counted_under_one_label(server_per_parser):
    # A client inventing methods must not grow /metrics: each would be a series kept forever.
    for i in range(40):
        status, headers, _ = exchange(server_per_parser, b"FOO%d /v1/models HTTP/1.1\r\nHost: x\r\n\r\n" % i)
        assert status == 405 and headers["content-type"] == "application/json"
    metrics = requests.get(server_per_parser.url + "/metrics", timeout=30).text
    assert "FOO" not in metrics
    # Counted under the route whose path it named (a 405), with the method as "other".
    assert 'xorlab_http_requests_total{method="other",route="/v1/models",status="405"}' in metrics


def test_an_oversized_body_is_refused_and_the_connection_closed_at_once(server_per_parser):
    # The body is never read, so the connection cannot carry another request: the answer says
    # so, and a request pipelined behind it is not left waiting for the keep-alive timeout.
    request = b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (64 * 1024 * 1024)
    with socket.create_connection(("127.0.0.1", server_per_parser.port), timeout=20) as s:
        s.sendall(request + b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        start, received = time.monotonic(), b""
        while chunk := s.recv(65536):
            received += chunk
        elapsed = time.monotonic() - start
    assert received.startswith(b"HTTP/1.1 413 ") and b"\r\nConnection: close\r\n" in received
    assert elapsed < 2, f"the connection stayed open {elapsed:.1f} s after the 413"


def test_expect_continue_gets_the_413_without_a_100_first(server_per_parser):
    request = (
        b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        b"Content-Length: %d\r\n\r\n" % (64 * 1024 * 1024)
    )
    with socket.create_connection(("127.0.0.1", server_per_parser.port), timeout=20) as s:
        s.sendall(request)
        first = s.recv(65536)
    assert first.startswith(b"HTTP/1.1 413 "), first[:100]


@pytest.mark.parametrize("path", ["/v2//models/mlp", "/v1/models//mlp", "/v2/models//mlp/ready"])
def test_doubled_slashes_are_a_json_404_never_a_redirect_to_the_callers_host(server_per_parser, path):
    r = requests.get(server_per_parser.url + path, headers={"Host": "evil.example"}, allow_redirects=False, timeout=30)
    assert r.status_code == 404 and r.headers["Content-Type"] == "application/json"
    assert "Location" not in r.headers and r.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/", "/v1/models/mlp:predict", "/v2/health/ready", "/nowhere"])
def test_options_is_answered_with_the_allowed_methods_and_the_security_headers(server_per_parser, path):
    r = requests.options(server_per_parser.url + path, timeout=30)
    assert r.status_code in (204, 404) and r.headers["X-Content-Type-Options"] == "nosniff"
    assert (
        "Content-Security-Policy" in r.headers
        and r.headers.get("Content-Type", "application/json") == "application/json"
    )
    assert r.status_code == 404 or "GET" in r.headers["Allow"] or "POST" in r.headers["Allow"]


# ---- any bytes at all (Flask test client: thousands of cases in a second or two) ----------------

json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=6), inner, max_size=6),
    max_leaves=40,
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_like.map(lambda v: json.dumps(v, allow_nan=True).encode()),  # NaN/Infinity included
    json_like.map(lambda v: json.dumps({"instances": v}).encode()),
    json_like.map(
        lambda v: json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": v, "data": v}]}).encode()
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=bodies,
    path=st.sampled_from([PREDICT, INFER, "/v2/repository/index", "/v2/models/mlp/versions/1/infer"]),
    header_length=st.one_of(
        st.none(),
        st.integers(-2, 400).map(str),
        st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=4),
    ),
    content_type=st.one_of(st.none(), st.sampled_from(["application/json", "text/plain", "application/octet-stream"])),
)
def test_any_body_is_answered_with_json_and_never_a_5xx(app, body, path, header_length, content_type):
    headers = {"Inference-Header-Content-Length": header_length} if header_length is not None else {}
    r = app.test_client().post(path, data=body, headers=headers, content_type=content_type)
    assert r.status_code in (200, 400, 413) and r.content_type == "application/json"
    assert r.status_code == 200 or set(r.json) == {"error"}


# ---- the binary protocol's header and the JSON header's fields, any values -----------------------

_text = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=6)
_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 70_000),
    st.floats(allow_nan=False),
    _text,
    st.lists(st.integers(-3, 20), max_size=4),
)
_parameters = st.dictionaries(
    st.sampled_from(["binary_data_size", "binary_data", "binary_data_output", "classification", "x"]),
    _value,
    max_size=3,
)
_tensor = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["x", "y", "z", ""]) | _text,
        "datatype": st.sampled_from(["FP32", "FP16", "INT32", "BYTES"]) | _text,
        "shape": st.lists(st.integers(-2, 40), max_size=3) | _value,
        "data": st.lists(st.floats(-2, 2, width=32), max_size=16) | _value,
        "parameters": _parameters,
    },
)
_header = st.fixed_dictionaries(
    {},
    optional={
        "id": _value,
        "parameters": _parameters,
        "inputs": st.lists(_tensor, max_size=2) | _value,
        "outputs": st.lists(
            st.fixed_dictionaries({"name": st.sampled_from(["y", "x"]) | _text}, optional={"parameters": _parameters}),
            max_size=40,
        )
        | _value,
    },
)
_header_length = st.one_of(
    st.none(),
    st.integers(-2, 600).map(str),
    st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=5),
    st.sampled_from(["\u00b2", "\u0663", "9" * 5000, "1e3", " 12", "0x10", "+12"]),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=_header, tail=st.binary(max_size=96), header_length=_header_length, exact=st.booleans())
def test_any_binary_request_is_never_a_5xx_nor_an_answer_out_of_proportion(app, header, tail, header_length, exact):
    head = json.dumps(header).encode()
    headers = {"Inference-Header-Content-Length": str(len(head)) if exact else header_length}
    if headers["Inference-Header-Content-Length"] is None:
        headers = {}
    r = app.test_client().post(INFER, data=head + tail, headers=headers)
    assert r.status_code in (200, 400, 413) and r.content_type in ("application/json", "application/octet-stream")
    # The answer is bounded by the rows asked for (the app's limit is 8), never by the request's other
    # fields: each output once, messages that quote the request cut short.
    assert len(r.get_data()) <= 1024 + 64 * 8, (r.status_code, r.get_data()[:300])
