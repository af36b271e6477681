"""What xorlab relies on in gunicorn, onnxruntime and prometheus_client without their promise is
listed in one module (xorlab/serve/hosting/internals.py): each name must still be where it is
listed in the installed (pinned) versions, and nothing outside that module reaches a private one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import ROOT
from xorlab.serve.hosting import internals

SERVE = Path(internals.__file__).parents[1]


def _instance(owner: str) -> object:
    if owner == "onnxruntime:InferenceSession":  # a session of a served model
        import onnxruntime

        return onnxruntime.InferenceSession(
            str(ROOT / "models" / "mlp" / "1" / "model.onnx"), providers=["CPUExecutionProvider"]
        )
    raise AssertionError(f"no instance of {owner} to look on: add one here")


@pytest.mark.parametrize("internal", internals.INTERNALS, ids=lambda i: f"{i.owner}.{i.name}")
def test_every_name_relied_on_is_still_there(internal):
    try:
        internal.find(_instance(internal.owner) if internal.on_instances else None)
    except (ImportError, AttributeError) as exc:
        pytest.fail(
            f"{internal.owner}.{internal.name} has moved in the installed version ({exc}); it is {internal.use}"
        )


def test_private_names_are_reached_only_through_the_internals_module():
    private = {i.name for i in internals.INTERNALS if i.name.startswith("_")} | {"ValueClass"}
    pattern = re.compile(r"\.(" + "|".join(map(re.escape, sorted(private))) + r")\b")
    found = []
    for path in SERVE.rglob("*.py"):
        if path.name == "internals.py" or "_generated" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                found.append(f"{path.relative_to(SERVE)}:{number}: {line.strip()}")
    assert not found, found
