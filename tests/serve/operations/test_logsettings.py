"""Triton's logging extension mapped onto xorlab's one log level (xorlab/serve/logsettings.py):
reading, changing, refusing what cannot be honoured; over HTTP with the Flask app, the level really
changes what is logged. Over both protocols and every worker of a real gunicorn:
tests/serve/grpc/test_grpc.py."""

from __future__ import annotations

import logging

import pytest

from tests.serve.clients import AUTH
from xorlab.serve import logsettings
from xorlab.serve.errors import InvalidRequest


@pytest.mark.parametrize(
    ("level", "info", "warning", "error", "verbose"),
    [
        ("DEBUG", True, True, True, 1),
        ("INFO", True, True, True, 0),
        ("WARNING", False, True, True, 0),
        ("ERROR", False, False, True, 0),
        ("CRITICAL", False, False, False, 0),
    ],
)
def test_the_settings_are_read_from_the_level(level, info, warning, error, verbose):
    assert logsettings.read(level) == {
        "log_file": "",
        "log_info": info,
        "log_warning": warning,
        "log_error": error,
        "log_verbose_level": verbose,
        "log_format": "json",
    }


@pytest.mark.parametrize(
    ("level", "changes", "after"),
    [
        ("INFO", {}, "INFO"),
        ("INFO", {"log_verbose_level": 1}, "DEBUG"),
        ("DEBUG", {"log_verbose_level": 0}, "INFO"),
        ("INFO", {"log_info": False}, "WARNING"),
        ("DEBUG", {"log_info": False}, "WARNING"),  # off: the less severe go off too
        ("ERROR", {"log_info": True}, "INFO"),  # on: the more severe come on too
        ("INFO", {"log_error": False}, "CRITICAL"),
        ("CRITICAL", {"log_warning": True}, "WARNING"),
        ("INFO", {"log_info": False, "log_warning": False}, "ERROR"),
        (
            "INFO",
            {"log_info": None, "log_file": "", "log_format": "json"},
            "INFO",
        ),  # null: unchanged; what xorlab does: accepted
        ("WARNING", {"log_file": None, "log_format": None, "log_verbose_level": None}, "WARNING"),
    ],
)
def test_a_change_moves_the_threshold(level, changes, after):
    assert logsettings.level_after(level, changes) == after


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"log_file": "/var/log/x.log"}, "log_file cannot be set: xorlab writes its log to stderr"),
        (
            {"log_format": "default"},
            "log_format 'default' cannot be honoured: "
            "xorlab writes one format, JSON lines with ISO 8601 times ('json')",
        ),
        ({"log_format": "ISO8601"}, "log_format 'ISO8601' cannot be honoured"),
        ({"log_verbose_level": 2}, "log_verbose_level 2 cannot be honoured: xorlab has one verbose level, 1 (DEBUG)"),
        ({"log_verbose_level": -1}, "log_verbose_level must be a whole number >= 0"),
        ({"log_verbose_level": True}, "log_verbose_level must be a whole number >= 0"),
        ({"log_info": "yes"}, "log_info must be true or false"),
        (
            {"log_info": True, "log_warning": False},
            "log_info on with log_warning off cannot be honoured: xorlab's log has one threshold",
        ),
        ({"log_verbose_level": 1, "log_error": False}, "log_verbose_level on with log_error off cannot be honoured"),
        (
            {"log_warnings": True},
            "unknown log setting(s) 'log_warnings'; the logging extension's settings are log_file, log_info",
        ),
    ],
)
def test_what_cannot_be_honoured_is_refused_and_changes_nothing(changes, message):
    with pytest.raises(InvalidRequest) as refused:
        logsettings.level_after("INFO", changes)
    assert refused.value.message.startswith(message)


def test_over_http_a_change_is_answered_with_every_setting_and_changes_what_is_logged(admin_client):
    lines: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = lines.append
    logging.getLogger("xorlab.access").addHandler(handler)
    try:
        assert admin_client.get("/v2/logging", headers=AUTH).json["log_info"] is True
        r = admin_client.post("/v2/logging", headers=AUTH, json={"log_info": False})
        assert (r.status_code, r.json) == (200, logsettings.read("WARNING"))
        assert admin_client.get("/v2/health/live", headers={"X-Request-ID": "quiet-1"}).status_code == 200
        assert not any(getattr(record, "fields", {}).get("request_id") == "quiet-1" for record in lines)
        refused = admin_client.post("/v2/logging", headers=AUTH, json={"log_format": "ISO8601"})
        assert refused.status_code == 400 and admin_client.get("/v2/logging", headers=AUTH).json == logsettings.read(
            "WARNING"
        )
        # an empty body: a read
        assert admin_client.post("/v2/logging", headers=AUTH, data=b"").json == logsettings.read("WARNING")
        assert admin_client.post("/v2/logging", headers=AUTH, json={"log_info": True}).json == logsettings.read("INFO")
        assert admin_client.get("/v2/health/live", headers={"X-Request-ID": "loud-1"}).status_code == 200
        assert any(getattr(record, "fields", {}).get("request_id") == "loud-1" for record in lines)
    finally:
        logging.getLogger("xorlab.access").removeHandler(handler)


@pytest.mark.parametrize(("headers", "status"), [({}, 401), ({"Authorization": "Bearer wrong"}, 403)])
def test_the_logging_api_needs_the_token_to_read_and_to_change(admin_client, headers, status):
    assert admin_client.get("/v2/logging", headers=headers).status_code == status
    assert admin_client.post("/v2/logging", headers=headers, json={"log_verbose_level": 1}).status_code == status
    assert admin_client.get("/v2/logging", headers=AUTH).json["log_verbose_level"] == 0
    assert "logging" in admin_client.get("/v2").json["extensions"]


@pytest.mark.parametrize("body", [b"[]", b"{", b'"x"'])
def test_a_body_that_is_not_a_json_object_is_refused(admin_client, body):
    r = admin_client.post("/v2/logging", headers=AUTH, data=body)
    assert r.status_code == 400 and r.json["error"]
