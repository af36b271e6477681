import pytest
import requests

from tests import ROOT
from xorlab.serve.config import Settings


def test_defaults_without_environment():
    s = Settings.from_env({})
    assert (s.models, s.max_rows, s.max_body_bytes, s.log_level) == ("models", 65536, 16 * 1024 * 1024, "INFO")
    assert (s.admin_token, s.bind, s.timeout) == (None, "127.0.0.1:8000", 30)
    assert s.workers >= 1


def test_environment_overrides_defaults_and_arguments_override_environment():
    env = {"XORLAB_MODELS": "/srv/m", "XORLAB_MAX_ROWS": "10", "XORLAB_ADMIN_TOKEN": "s3cret", "XORLAB_WORKERS": "3"}
    s = Settings.from_env(env, max_rows=5)
    assert (s.models, s.max_rows, s.admin_token, s.workers) == ("/srv/m", 5, "s3cret", 3)


def test_grpc_is_on_at_tritons_port_by_default_and_empty_turns_it_off():
    assert Settings.from_env({}).grpc_bind == "127.0.0.1:8001"
    assert Settings.from_env({"XORLAB_GRPC_BIND": ""}).grpc_bind == ""
    assert Settings.from_env({"XORLAB_GRPC_BIND": "[::1]:9001"}).grpc_bind == "[::1]:9001"


def test_empty_admin_token_means_admin_off():
    assert Settings.from_env({"XORLAB_ADMIN_TOKEN": ""}).admin_token is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"XORLAB_MAX_ROWS": "many"}, "XORLAB_MAX_ROWS must be an integer, got 'many'"),
        ({"XORLAB_MAX_ROWS": "0"}, "XORLAB_MAX_ROWS must be at least 1"),
        ({"XORLAB_WORKERS": "-1"}, "XORLAB_WORKERS must be at least 1"),
        ({"XORLAB_LOG_LEVEL": "LOUD"}, "XORLAB_LOG_LEVEL must be"),
        (
            {"XORLAB_GRPC_BIND": "8001"},
            r"XORLAB_GRPC_BIND must be HOST:PORT with a port from 1 to 65535 \(or empty: off\), got '8001'",
        ),
        ({"XORLAB_GRPC_BIND": "127.0.0.1:0"}, "XORLAB_GRPC_BIND must be HOST:PORT with a port from 1 to 65535"),
        ({"XORLAB_GRPC_BIND": "127.0.0.1:http"}, "XORLAB_GRPC_BIND must be HOST:PORT"),
        ({"XORLAB_GRPC_BIND": "127.0.0.1:8²"}, "XORLAB_GRPC_BIND must be HOST:PORT"),
        ({"XORLAB_GRPC_BIND": "127.0.0.1:" + "9" * 5000}, "XORLAB_GRPC_BIND must be HOST:PORT"),
        (
            {"XORLAB_BIND": "127.0.0.1:9000", "XORLAB_GRPC_BIND": "127.0.0.1:9000"},
            r"XORLAB_GRPC_BIND must differ from XORLAB_BIND \(127.0.0.1:9000\)",
        ),
    ],
)
def test_bad_environment_values_are_refused_with_the_variable_named(env, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)


def test_unknown_override_is_refused():
    with pytest.raises(ValueError, match="unknown setting"):
        Settings.from_env({}, max_rowz=3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "0"], "XORLAB_WORKERS must be at least 1"),
        (["--workers", "two"], "argument --workers: invalid int value"),
        (["--grpc-bind", "nowhere"], "XORLAB_GRPC_BIND must be HOST:PORT"),
    ],
)
def test_the_cli_refuses_bad_settings_with_one_line_and_exit_code_2(args, message):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "xorlab.serve", *args], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2 and message in result.stderr


@pytest.mark.parametrize(
    ("worker_class", "gunicorn_runs"),
    [
        ("sync", "xorlab.serve.hosting.sync_worker.SyncWorker"),
        ("gthread", "gthread"),
        ("gevent", "xorlab.serve.hosting.gevent_worker.GeventWorker"),
    ],
)
def test_the_worker_class_is_what_gunicorn_runs(tmp_path, worker_class, gunicorn_runs):
    from tools.live_server import running

    # gunicorn quietly runs gthread for a sync worker given threads > 1: sync must come with one thread.
    with running(tmp_path, ROOT / "models", workers=1, XORLAB_WORKER_CLASS=worker_class, XORLAB_THREADS="3") as server:
        assert (
            requests.post(server.url + "/v1/models/mlp:predict", json={"instances": [[0, 1]]}, timeout=30).status_code
            == 200
        )
    assert f'"message":"Using worker: {gunicorn_runs}"' in server.log.read_text()


def test_direct_clients_get_the_gevent_worker_by_default():
    assert Settings.from_env({}).worker_class == "gevent"


def test_an_unknown_worker_class_is_refused():
    with pytest.raises(ValueError, match="XORLAB_WORKER_CLASS must be gevent, gthread or sync, got 'eventlet'"):
        Settings.from_env({"XORLAB_WORKER_CLASS": "eventlet"})


def test_an_unknown_http_parser_is_refused():
    with pytest.raises(ValueError, match="XORLAB_HTTP_PARSER must be auto, fast or python, got 'c'"):
        Settings.from_env({"XORLAB_HTTP_PARSER": "c"})


def test_the_c_parser_required_but_not_installed_is_refused_before_the_start(monkeypatch):
    # gunicorn itself would raise only inside the first request's parse, in every worker.
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "gunicorn_h1c" else real(name, *a)
    )
    with pytest.raises(ValueError, match=r"XORLAB_HTTP_PARSER=fast needs gunicorn_h1c: pip install 'xorlab\[fast\]'"):
        Settings.from_env({"XORLAB_HTTP_PARSER": "fast"})
    assert Settings.from_env({"XORLAB_HTTP_PARSER": "auto"}).http_parser == "auto"  # auto falls back to Python's
