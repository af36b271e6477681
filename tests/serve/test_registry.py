"""A hostile or broken model repository: each bad model is refused with a clear reason, the rest
serve, readiness tells the truth, nothing outside the repository is opened, no path leaks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fixtures import NETWORKS, build_repository, onnx_bytes, replace_artifact, write_manifest, write_raw_manifest
from xorlab.serve.app import create_app


@pytest.fixture
def repo(tmp_path) -> tuple[Path, dict]:
    root = tmp_path / "models"
    return root, build_repository(root)


def serve(root: Path):
    return create_app({"models": str(root)}).test_client()


def onnx_path(root: Path, manifest: dict, name: str) -> Path:
    return root / manifest["models"][name]["artifacts"]["onnx"]["path"]


def assert_refused(root: Path, name: str, reason: str) -> None:
    """`name` is refused with `reason`; every other model serves; no machine path is shown."""
    client = serve(root)
    ready = client.get(f"/v2/models/{name}/ready")
    assert ready.status_code == 503
    assert ready.json["ready"] is False and reason in ready.json["error"]
    index = {m["name"]: m for m in client.post("/v2/repository/index").json}
    assert index[name]["state"] == "UNAVAILABLE" and reason in index[name]["reason"]
    infer = client.post(f"/v1/models/{name}:predict", json={"instances": [[0, 1]]})
    assert infer.status_code == 503 and infer.json["error"] == f"model '{name}' is not ready: {index[name]['reason']}"
    others = [m for m in NETWORKS if m != name]
    for other in others:
        assert index[other]["state"] == "READY"
        assert client.post(f"/v1/models/{other}:predict", json={"instances": [[0, 1]]}).status_code == 200
    assert client.get("/v2/health/ready").json == {"ready": True}
    report = client.get("/v1/report").json
    assert report["models"][name]["ready"] is False and report["models"][name]["solved"] is None
    assert report["verdict"].endswith(f"{name} could not be checked (not loaded).")
    for response in (ready, infer, client.post("/v2/repository/index"), client.get("/v1/report")):
        assert str(root.parent) not in response.get_data(as_text=True)


def test_an_artifact_changed_after_the_manifest_is_refused(repo):
    root, manifest = repo
    path = onnx_path(root, manifest, "mlp")
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # same length, different bytes
    path.write_bytes(bytes(data))
    assert_refused(root, "mlp", "artifact 'mlp/1/model.onnx' fails its sha256 check (changed after the manifest was written)")


def test_a_changed_torchscript_file_is_refused_too(repo):
    root, manifest = repo
    (root / "deep/1/model.pt").write_bytes(b"torchscript stand-in for deeq")
    assert_refused(root, "deep", "artifact 'deep/1/model.pt' fails its sha256 check")


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        (b'name: "mlp"\nplatform: "onnxruntime_onnx"\nmax_batch_sise: 8\n',
         "config.pbtxt is not a Triton model configuration: 3:1 : Message type \"inference.ModelConfig\" has no field named \"max_batch_sise\""),
        (b'name: "deep"\nplatform: "onnxruntime_onnx"\n', "config.pbtxt names model 'deep'; its folder is 'mlp'"),
        (b"\xff\xfe", "config.pbtxt is not a Triton model configuration"),
    ],
)  # fmt: skip
def test_a_config_pbtxt_triton_would_refuse_refuses_the_model(repo, config, reason):
    # Recorded in the manifest (a consistent repository), but not a configuration Triton would load.
    root, manifest = repo
    replace_artifact(root, manifest, "mlp", "config", config)
    assert_refused(root, "mlp", reason)


def test_a_truncated_onnx_file_is_refused(repo):
    root, manifest = repo
    path = onnx_path(root, manifest, "deep")
    size = path.stat().st_size
    path.write_bytes(path.read_bytes()[: size // 2])
    assert_refused(root, "deep", f"artifact 'deep/1/model.onnx' has {size // 2} bytes; the manifest says {size}")


def test_a_truncated_onnx_file_recorded_in_the_manifest_fails_to_load(repo):
    root, manifest = repo
    data = onnx_path(root, manifest, "deep").read_bytes()
    replace_artifact(root, manifest, "deep", "onnx", data[: len(data) // 2])
    assert_refused(root, "deep", "onnxruntime cannot load the ONNX file")


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../outside/model.onnx", "path '../outside/model.onnx' escapes the repository"),
        ("mlp/../../outside/model.onnx", "escapes the repository"),
        ("/etc/passwd", "path '/etc/passwd' is absolute; paths are relative to the repository"),
        ("mlp\\1\\model.onnx", "is not a relative '/'-separated path"),
        ("", "Expected `str` of length >= 1 - at `$.artifacts.onnx.path`"),
        ("mlp/1/missing.onnx", "'mlp/1/missing.onnx' is missing"),
        ("mlp/1", "'mlp/1' is not a regular file"),
    ],
)
def test_artifact_paths_leading_outside_or_nowhere_are_refused(repo, path, reason):
    root, manifest = repo
    (root.parent / "outside").mkdir()
    (root.parent / "outside/model.onnx").write_bytes(onnx_path(root, manifest, "mlp").read_bytes())
    manifest["models"]["mlp"]["artifacts"]["onnx"]["path"] = path
    write_raw_manifest(root, manifest)
    assert_refused(root, "mlp", reason)


@pytest.mark.timeout(20)
def test_a_symlink_pointing_outside_is_refused_without_opening_its_target(repo):
    root, manifest = repo
    # The target is a FIFO: opening it would block until a writer comes, so the test would hang
    # (and time out) if the server ever opened it.
    fifo = root.parent / "outside.fifo"
    os.mkfifo(fifo)
    path = onnx_path(root, manifest, "mlp")
    path.unlink()
    path.symlink_to(fifo)
    assert_refused(root, "mlp", "'mlp/1/model.onnx' is a symlink pointing outside the repository")


@pytest.mark.timeout(20)
def test_a_fifo_inside_the_repository_is_not_opened(repo):
    root, manifest = repo
    path = onnx_path(root, manifest, "perceptron")
    path.unlink()
    os.mkfifo(path)
    assert_refused(root, "perceptron", "'perceptron/1/model.onnx' is not a regular file")


def test_a_symlink_inside_the_repository_is_followed(repo):
    root, manifest = repo
    path = onnx_path(root, manifest, "mlp-backprop")
    path.unlink()
    path.symlink_to("../../mlp/1/model.onnx")  # the same bytes, so the sha256 still holds
    assert serve(root).get("/v2/models/mlp-backprop/ready").status_code == 200


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"input_name": "input0"}, "the ONNX file's inputs [('input0', 'tensor(float)', ['batch', 2])] differ from the contract's ('x', FP32, [batch, 2])"),
        ({"output_name": "out"}, "the ONNX file's outputs [('out', 'tensor(float)', ['batch', 1])] differ from the contract's ('y', FP32, [batch, 1])"),
    ],
)  # fmt: skip
def test_an_onnx_file_whose_io_differs_from_the_manifest_is_refused(repo, kwargs, reason):
    root, manifest = repo
    replace_artifact(root, manifest, "mlp", "onnx", onnx_bytes(NETWORKS["mlp"][0], **kwargs))
    assert_refused(root, "mlp", reason)


def test_an_onnx_file_with_another_input_width_is_refused(repo):
    root, manifest = repo
    import numpy as np

    layers = [(np.zeros((3, 1), np.float32), np.zeros(1, np.float32))]
    replace_artifact(root, manifest, "perceptron", "onnx", onnx_bytes(layers, width=3))
    assert_refused(root, "perceptron", "the ONNX file's inputs [('x', 'tensor(float)', ['batch', 3])] differ")


def test_an_onnx_file_that_is_not_the_manifests_model_is_refused(repo):
    root, manifest = repo
    # Valid and consistent with its sha256, but its truth-table outputs are the perceptron's.
    replace_artifact(root, manifest, "mlp", "onnx", onnx_bytes(NETWORKS["perceptron"][0]))
    assert_refused(root, "mlp", "the ONNX model's truth-table outputs differ from the manifest's by 0.5")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda e: e.pop("artifacts"), "manifest entry: Object missing required field `artifacts`"),
        (lambda e: e.pop("inputs"), "manifest entry: Object missing required field `inputs`"),
        (lambda e: e.update(parameters="9"), "manifest entry: Expected `int`, got `str` - at `$.parameters`"),
        (lambda e: e.update(name="other"), "manifest entry is keyed 'mlp' but names itself 'other'"),
        (lambda e: e.update(version="v1"), "manifest entry: Expected `str` matching regex '^[0-9]+$' - at `$.version`"),
        (lambda e: e["artifacts"]["onnx"].pop("sha256"), "manifest entry: Object missing required field `sha256` - at `$.artifacts.onnx`"),
        (lambda e: e["artifacts"]["onnx"].update(sha256="ABC"), "Expected `str` matching regex '^[0-9a-f]{64}$' - at `$.artifacts.onnx.sha256`"),
        (lambda e: e["artifacts"]["onnx"].update(bytes=-1), "Expected `int` >= 0 - at `$.artifacts.onnx.bytes`"),
        (lambda e: e.update(inputs=[{"name": "x", "datatype": "FP16", "shape": [-1, 2]}]), "Invalid enum value 'FP16' - at `$.inputs[0].datatype`"),
        (lambda e: e.update(outputs=[]), "manifest entry declares other outputs than the format's (y FP32 [-1, 1])"),
        (lambda e: e.update(truth_table_outputs=["a", "b", "c", "d"]), "Expected `float`, got `str` - at `$.truth_table_outputs[0]`"),
    ],
)  # fmt: skip
def test_a_manifest_entry_missing_or_mangling_fields_is_refused(repo, change, reason):
    root, manifest = repo
    change(manifest["models"]["mlp"])
    write_raw_manifest(root, manifest)
    assert_refused(root, "mlp", reason)


def assert_not_ready(root: Path, reason: str) -> None:
    client = serve(root)
    assert client.get("/v2/health/live").status_code == 200
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 503 and ready.json["error"] == f"no model is ready: {reason}"
    assert client.post("/v2/repository/index").json == []
    assert client.get("/v1/report").json["verdict"] == "No model is served, so there is no verdict."
    assert str(root.parent) not in ready.get_data(as_text=True)


def test_a_manifest_that_is_not_json_leaves_the_server_not_ready(repo):
    root, _ = repo
    (root / "manifest.json").write_text('{"format": "xorlab-manifest/1", ')
    assert_not_ready(root, "manifest.json is not valid JSON")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda m: m.pop("truth_table"), "manifest.json has no 'truth_table'"),
        (lambda m: m["truth_table"].update(targets=[0, 1, 1, 2]), "manifest.json: 'truth_table': Expected `float` <= 1.0 - at `$.targets[3]`"),
        (lambda m: m.update(format="other/2"), "manifest.json has format 'other/2'; expected 'xorlab-manifest/2'"),
        (lambda m: m.update(format="xorlab-manifest/1"), "manifest.json has format 'xorlab-manifest/1'; expected "
         "'xorlab-manifest/2' (an older xorlab-train wrote it: train again to publish it in this format)"),
        (lambda m: m.update(models=[]), "manifest.json: 'models' must be an object"),
    ],
)  # fmt: skip
def test_a_manifest_missing_top_level_fields_leaves_the_server_not_ready(repo, change, reason):
    root, manifest = repo
    change(manifest)
    write_raw_manifest(root, manifest)
    assert_not_ready(root, reason)


def test_an_empty_repository_is_not_ready(tmp_path):
    (tmp_path / "models").mkdir()
    assert_not_ready(tmp_path / "models", "'manifest.json' is missing")


def test_a_missing_repository_is_not_ready(tmp_path):
    assert_not_ready(tmp_path / "models", "the model repository folder does not exist")


def test_a_manifest_listing_no_models_is_not_ready(repo):
    root, manifest = repo
    manifest["models"] = {}
    write_manifest(root, manifest)
    assert_not_ready(root, "the repository's manifest lists no models")


def test_a_manifest_symlinked_from_outside_is_refused(repo):
    root, _ = repo
    outside = root.parent / "manifest.json"
    (root / "manifest.json").rename(outside)
    (root / "manifest.json").symlink_to(outside)
    assert_not_ready(root, "'manifest.json' is a symlink pointing outside the repository")


def test_when_every_model_fails_the_reasons_are_in_the_readiness_error(repo):
    root, manifest = repo
    for name in NETWORKS:
        onnx_path(root, manifest, name).write_bytes(b"not onnx")
    ready = serve(root).get("/v2/health/ready")
    assert ready.status_code == 503
    assert ready.json["error"].startswith("no model is ready (perceptron: artifact 'perceptron/1/model.onnx' has 8 bytes")
