"""The committed model repository (models/), which the live-server tests serve as a user would: its
manifest, and what it records each model answering on the truth table."""

from __future__ import annotations

import json

from tests import ROOT

MODELS = ROOT / "models"
MANIFEST = json.loads((MODELS / "manifest.json").read_text())
NAMES = sorted(MANIFEST["models"])
INPUTS = MANIFEST["truth_table"]["inputs"]
EXPECTED = {name: m["truth_table_outputs"] for name, m in MANIFEST["models"].items()}  # name -> 4 outputs
