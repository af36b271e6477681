"""The records are the one definition of manifest.json's shape: the JSON Schema published with
every repository is generated from them, the committed repository matches both, and the schema
and the reader refuse the same documents."""

from __future__ import annotations

import copy
import json

import jsonschema
import msgspec
import pytest

from tests import ROOT
from xorlab.modelrepo import reader, records, spec

COMMITTED = ROOT / "models"


def test_the_committed_schema_is_the_one_the_records_generate():
    assert json.loads((COMMITTED / spec.SCHEMA).read_text()) == json.loads(json.dumps(records.schema()))


def test_the_committed_manifest_decodes_and_reencodes_unchanged():
    raw = json.loads((COMMITTED / spec.MANIFEST).read_text())
    manifest = msgspec.convert(raw, records.Manifest)
    # Every field of the file is a field of the records: nothing is dropped on the way through.
    assert json.loads(msgspec.json.encode(manifest)) == raw


def test_the_schema_describes_every_record_and_its_constraints():
    schema = records.schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    defs = schema["$defs"]
    assert {"Manifest", "ModelEntry", "Artifact", "Picture", "Study", "ArchitectureStudy"} <= set(defs)
    assert defs["Artifact"]["properties"]["sha256"]["pattern"] == "^[0-9a-f]{64}$"
    assert defs["Manifest"]["properties"]["format"]["enum"] == [spec.FORMAT]
    assert defs["ModelEntry"]["description"]  # the records' docstrings document the file


MUTATIONS = {
    "a sha256 in capitals": lambda m: m["models"]["mlp"]["artifacts"]["onnx"].update(sha256="A" * 64),
    "a negative size": lambda m: m["models"]["mlp"]["artifacts"]["onnx"].update(bytes=-1),
    "a string for an integer": lambda m: m["models"]["mlp"].update(parameters="9"),
    "a version that is not a number": lambda m: m["models"]["mlp"].update(version="v1"),
    "a probability above 1": lambda m: m["models"]["mlp"]["truth_table_outputs"].__setitem__(0, 1.5),
    "three truth-table outputs": lambda m: m["models"]["mlp"]["truth_table_outputs"].pop(),
    "an unknown trainer": lambda m: m["models"]["mlp"].update(trainer="adam"),
    "a required field missing": lambda m: m["models"]["mlp"].pop("loss_curve"),
    "a picture in a folder": lambda m: m["pictures"][0].update(path="mlp/x.png"),
    "an interval of three numbers": lambda m: m["study"]["architectures"]["mlp"].update(ci95=[0.1, 0.2, 0.3]),
    "a rate above 1": lambda m: m["study"]["architectures"]["deep"].update(rate=1.2),
    "unknown fields (allowed: a newer writer)": lambda m: m["models"]["mlp"].update(note="extra"),
    "nothing changed": lambda m: None,
}


@pytest.mark.parametrize("mutate", MUTATIONS.values(), ids=MUTATIONS.keys())
def test_the_schema_and_the_records_refuse_the_same_documents(mutate):
    doc = copy.deepcopy(json.loads((COMMITTED / spec.MANIFEST).read_text()))
    mutate(doc)
    by_schema = not jsonschema.Draft202012Validator(records.schema()).is_valid(doc)
    try:
        msgspec.convert(doc, records.Manifest)
        by_records = False
    except msgspec.ValidationError:
        by_records = True
    allowed = mutate in (MUTATIONS["unknown fields (allowed: a newer writer)"], MUTATIONS["nothing changed"])
    assert by_schema == by_records == (not allowed)


def test_the_reader_gives_the_records_reason_for_a_refused_entry(tmp_path):
    doc = json.loads((COMMITTED / spec.MANIFEST).read_text())
    doc["models"]["mlp"]["parameters"] = "9"
    root = tmp_path / "models"
    root.mkdir()
    (root / spec.MANIFEST).write_text(json.dumps(doc))
    reading = reader.read(root)
    assert reading.refused_models == {"mlp": "manifest entry: Expected `int`, got `str` - at `$.parameters`"}
    assert list(reading.manifest.models) == ["perceptron", "mlp-backprop", "deep"]
    assert reading.names == ["perceptron", "mlp", "mlp-backprop", "deep"]
