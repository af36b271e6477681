"""Extracts a CustomResourceDefinition's schema for the tests: the openAPIV3Schema of one served
version, as JSON, with every repeated subschema moved once into `$defs` and referred to by `$ref`
(lossless: the same schema, smaller; KServe's InferenceService repeats the pod and container
schemas for every framework and component). How tests/schemas/kserve-*.json were made
(tests/schemas/README.md):

    python tests/schemas/extract_crd.py CRD.yaml VERSION SOURCE > OUT.json

SOURCE is written into the file's `$comment`. Strictness (unknown fields are errors, as the API
server's strict field validation treats them) is the test's business, not this file's."""

from __future__ import annotations

import hashlib
import json
import sys

import yaml

SMALLEST = 400  # characters of JSON: smaller repeats are left where they are


def canonical(node) -> str:
    return json.dumps(node, sort_keys=True, separators=(",", ":"))


def subschemas(node, key: str, found: dict[str, tuple[str, object, int]]) -> None:
    """Every object in `node` as canonical JSON -> (the key it first appeared under, it, count)."""
    if isinstance(node, dict):
        text = canonical(node)
        if len(text) >= SMALLEST and "$ref" not in node:
            name, first, count = found.get(text, (key, node, 0))
            found[text] = (name, first, count + 1)
        for child_key, child in node.items():
            subschemas(child, child_key, found)
    elif isinstance(node, list):
        for child in node:
            subschemas(child, key, found)


def replace(node, text: str, ref: dict):
    if isinstance(node, dict):
        if len(node) and canonical(node) == text:
            return dict(ref)
        return {k: replace(v, text, ref) for k, v in node.items()}
    if isinstance(node, list):
        return [replace(v, text, ref) for v in node]
    return node


def deduplicated(schema: dict) -> dict:
    defs: dict[str, dict] = {}
    while True:
        found: dict[str, tuple[str, object, int]] = {}
        subschemas(schema, "root", found)
        for definition in defs.values():
            subschemas(definition, "", found)
        repeats = [(text, name) for text, (name, _, count) in found.items() if count > 1]
        if not repeats:
            break
        text, name = max(repeats, key=lambda r: (len(r[0]), r[0]))  # the largest first: its parts go with it
        if name in ("items", "properties", "additionalProperties", ""):
            name = "schema"
        name = f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
        ref = {"$ref": f"#/$defs/{name}"}
        body = json.loads(text)
        schema = replace(schema, text, ref)
        defs = {k: replace(v, text, ref) for k, v in defs.items()}
        defs[name] = body
    return {**schema, "$defs": dict(sorted(defs.items()))} if defs else schema


def main(path: str, version: str, source: str) -> None:
    crd = yaml.safe_load(open(path))
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema = deduplicated(served["schema"]["openAPIV3Schema"])
    names = crd["spec"]["names"]
    header = {
        "$comment": f"{names['kind']} ({crd['spec']['group']}/{version}): the openAPIV3Schema of {source}, "
        "repeated subschemas moved to $defs by tests/schemas/extract_crd.py"
    }
    json.dump({**header, **schema}, sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
