"""Fixtures the serving tests share across their folders: the Flask app on the fixture repository,
a fresh repository a test may break, and the live servers (tools/live_server.py) that tests of more
than one folder run against. A live server with settings of its own for one module's tests is
declared in that module, under a name that says what it is (`guarded_server`, `polling_server`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures import MAX_BODY, MAX_ROWS, build_repository
from tests.serve.clients import ADMIN_TOKEN
from tests.serve.committed import MODELS
from tools.live_server import running
from xorlab.serve.app import create_app


@pytest.fixture(scope="session")
def app(xor_repo):
    # One app for every test that only reads (requests never change it): loading four
    # onnxruntime sessions per test would dominate the suite's time.
    return create_app({"models": str(xor_repo), "max_rows": MAX_ROWS, "max_body_bytes": MAX_BODY})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def repo(tmp_path) -> tuple[Path, dict]:
    """A fixture repository of the test's own, to change or break: its root and its manifest."""
    root = tmp_path / "models"
    return root, build_repository(root)


@pytest.fixture(scope="module")
def admin_server(tmp_path_factory):
    """A real gunicorn (2 workers) on a fixture repository of the module's own (`.root`: a test may
    republish it), the admin API on with clients.ADMIN_TOKEN; its runtime folder (metrics files) in
    `.run`, which must be gone once it has stopped."""
    tmp = tmp_path_factory.mktemp("admin")
    root = tmp / "served" / "models"
    build_repository(root)
    (tmp / "run").mkdir()
    # TMPDIR: the master makes its runtime folder (metrics files) where the test can look.
    with running(tmp, root, XORLAB_ADMIN_TOKEN=ADMIN_TOKEN, TMPDIR=str(tmp / "run")) as srv:
        srv.root, srv.run = root, tmp / "run"
        yield srv
    assert list((tmp / "run").glob("xorlab-serve-*")) == []  # the runtime folder is removed at exit


@pytest.fixture(scope="module")
def committed_server(tmp_path_factory):
    """A real gunicorn (2 workers) serving the committed repository (models/) with its defaults, as
    a user runs it; its runtime folder (metrics files) in `.run`."""
    tmp = tmp_path_factory.mktemp("committed")
    (tmp / "run").mkdir()
    with running(tmp, MODELS, TMPDIR=str(tmp / "run")) as srv:  # TMPDIR: the runtime folder, to look at
        srv.run = tmp / "run"
        yield srv
