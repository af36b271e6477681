"""ruff's checks and its formatting hold for the whole tree (pyproject.toml's [tool.ruff]): what
`make lint` and CI check, in the suite too, so a change that breaks them fails where it is made."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests import ROOT


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]], ids=["check", "format"])
def test_ruff_is_clean(command):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, (
        f"ruff {' '.join(command)} (make format mends most):\n{result.stdout[-4000:]}{result.stderr[-2000:]}"
    )
