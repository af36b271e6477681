"""RELIABILITY.md names, for each guarantee, the test or benchmark that proves it: each one named
must exist, so a renamed or deleted test cannot leave a guarantee resting on nothing."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests import ROOT
TEXT = (ROOT / "RELIABILITY.md").read_text()


def test_every_test_named_in_reliability_md_exists():
    named = set(re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", TEXT))
    assert len(named) >= 40
    missing = []
    for path, function in sorted(named):
        file = ROOT / path
        defined = {n.name for n in ast.parse(file.read_text()).body if isinstance(n, ast.FunctionDef)} if file.exists() else set()
        if function not in defined:
            missing.append(f"{path}::{function}")
    assert missing == []


def test_every_benchmark_named_in_reliability_md_exists():
    scripts = set(re.findall(r"python -m (bench\.\w+)", TEXT))
    assert {"bench.soak", "bench.fuzz"} <= scripts
    assert all((ROOT / (s.replace(".", "/") + ".py")).is_file() for s in scripts)
