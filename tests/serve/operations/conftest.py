"""The operations tests' own fixture: the Flask app with the admin API on (the repository and
logging APIs). Their live server, admin_server, is tests/serve/conftest.py's."""

from __future__ import annotations

import pytest

from tests.serve.clients import ADMIN_TOKEN
from xorlab.serve import logsettings
from xorlab.serve.app import create_app


@pytest.fixture
def admin_client(xor_repo):
    yield create_app({"models": str(xor_repo), "admin_token": ADMIN_TOKEN}).test_client()
    logsettings.apply("INFO")  # the loggers are the process's: leave them as create_app set them
