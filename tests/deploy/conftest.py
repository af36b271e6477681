"""The container engine, for the tests that build and run the images (test_containers.py, test_kube_play.py)."""

from __future__ import annotations

import pytest

from tests.deploy.engine import Engine, find_engine
from tests.prerequisites import install


@pytest.fixture(scope="module")
def engine() -> Engine:
    found = find_engine()
    if isinstance(found, str):
        pytest.skip(f"no container engine ({found}): {install('podman')}, or Docker with Compose v2")
    return found
