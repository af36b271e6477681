"""Request ids and log lines: the id echoed or replaced, each request logged as one JSON line without
its body (through the Flask test client), the time written as datetime writes it, and in a real
gunicorn (2 workers) every line naming the process that wrote it."""

from __future__ import annotations

import json
import logging
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.serve.clients import fresh
from xorlab.serve import logs
from xorlab.serve.logs import JsonFormatter


@pytest.fixture
def access_lines():
    """The request log lines, formatted as the server writes them."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("xorlab.access")
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


def test_request_id_is_echoed_and_the_request_logged_as_one_json_line_without_the_body(client, access_lines):
    r = client.post(
        "/v1/models/deep:predict", json={"instances": [[0.125, 0.875]]}, headers={"X-Request-ID": "trace-42"}
    )
    assert r.headers["X-Request-ID"] == "trace-42"
    [line] = access_lines
    entry = json.loads(line)
    assert {k: entry[k] for k in ("level", "logger", "method", "path", "status", "model", "request_id")} == {
        "level": "INFO",
        "logger": "xorlab.access",
        "method": "POST",
        "path": "/v1/models/deep:predict",
        "status": 200,
        "model": "deep",
        "request_id": "trace-42",
    }
    assert entry["duration_ms"] >= 0 and re.match(r"\d{4}-\d\d-\d\dT", entry["time"])
    assert "0.125" not in line and "instances" not in line


@pytest.mark.parametrize("incoming", [None, "", "x" * 129, "bad id with spaces", 'inject"quote'])
def test_a_missing_or_unsafe_request_id_is_replaced_by_a_generated_one(client, incoming):
    headers = {"X-Request-ID": incoming} if incoming is not None else {}
    r = client.get("/v2/health/live", headers=headers)
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-ID"])


@pytest.mark.parametrize("incoming", ["abc\n", "abc\r\n", "\nabc", "abc\n\n"])
def test_a_request_id_is_matched_whole(incoming):
    # The one check for both front ends (an HTTP header cannot carry a newline past gunicorn; gRPC
    # metadata can: tests/serve/grpc/test_grpc.py sends one over raw HTTP/2).
    assert re.fullmatch(r"[0-9a-f]{32}", logs.request_id(incoming))
    assert logs.request_id("abc") == "abc"


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=0, max_value=4e9, allow_nan=False), st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_log_times_are_what_datetime_writes(first, then):
    # logs._utc keeps one second's text (made by datetime) and writes the milliseconds itself; any
    # two times in a row, the second one reusing the first's cached text or not, read as datetime's.
    import datetime as dt

    from xorlab.serve import logs

    for created in (first, then, first):
        assert logs._utc(created) == dt.datetime.fromtimestamp(created, dt.UTC).isoformat(timespec="milliseconds")


def test_every_log_line_names_the_process_that_wrote_it(admin_server):
    ids = [f"pid-{i}" for i in range(40)]
    for rid in ids:
        assert (
            fresh(
                "POST",
                f"{admin_server.url}/v1/models/mlp:predict",
                json={"instances": [[0, 1]]},
                headers={"X-Request-ID": rid},
            ).status_code
            == 200
        )
    lines = [json.loads(line) for line in admin_server.log.read_text().splitlines()]
    answered = {e["pid"] for e in lines if e.get("request_id") in ids}
    assert answered and answered <= set(admin_server.workers())  # each request's line: the worker that answered
    # gunicorn's master
    assert any(e["pid"] == admin_server.master for e in lines if e["message"].startswith("Listening at"))
