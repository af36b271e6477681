"""Fixtures every serving test may ask for by name: a fixture repository and a Flask app on it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures import MAX_BODY, MAX_ROWS, build_repository
from xorlab.serve.app import create_app


@pytest.fixture(scope="session")
def xor_repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("repo") / "models"
    build_repository(root)
    return root


@pytest.fixture(scope="session")
def xor_manifest(xor_repo) -> dict:
    return json.loads((xor_repo / "manifest.json").read_text())


@pytest.fixture(scope="session")
def app(xor_repo):
    # One app for every test that only reads (requests never change it): loading four
    # onnxruntime sessions per test would dominate the suite's time.
    return create_app({"models": str(xor_repo), "max_rows": MAX_ROWS, "max_body_bytes": MAX_BODY})


@pytest.fixture
def client(app):
    return app.test_client()
