"""The fixture repository (tests/fixtures.py), written once per session, for any folder's tests.
Each folder's conftest.py holds the fixtures its own tests share: tests/serve/conftest.py the
serving tests' app and live servers, tests/serve/<subject>/conftest.py those of one subject."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures import build_repository


@pytest.fixture(scope="session")
def xor_repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("repo") / "models"
    build_repository(root)
    return root


@pytest.fixture(scope="session")
def xor_manifest(xor_repo) -> dict:
    return json.loads((xor_repo / "manifest.json").read_text())
