"""A hostile or broken model repository: each bad model is refused with a clear reason, the rest
serve, readiness tells the truth, nothing outside the repository is opened, no path leaks."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests import ROOT
from tests.fixtures import NETWORKS, onnx_bytes, replace_artifact, write_manifest, write_raw_manifest
from xorlab.modelrepo.reader import MAX_ARTIFACT_BYTES, RepositoryError
from xorlab.serve import onnxfile
from xorlab.serve.app import create_app


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
    assert_refused(
        root, "mlp", "artifact 'mlp/1/model.onnx' fails its sha256 check (changed after the manifest was written)"
    )


def test_a_changed_torchscript_file_is_refused_too(repo):
    root, manifest = repo
    (root / "deep/1/model.pt").write_bytes(b"torchscript stand-in for deeq")
    assert_refused(root, "deep", "artifact 'deep/1/model.pt' fails its sha256 check")


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        (
            b'name: "mlp"\nplatform: "onnxruntime_onnx"\nmax_batch_sise: 8\n',
            "config.pbtxt is not a Triton model configuration: 3:1 : "
            'Message type "inference.ModelConfig" has no field named "max_batch_sise"',
        ),
        (b'name: "deep"\nplatform: "onnxruntime_onnx"\n', "config.pbtxt names model 'deep'; its folder is 'mlp'"),
        (b"\xff\xfe", "config.pbtxt is not a Triton model configuration"),
    ],
)
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
    # Read with ONNX's schema before onnxruntime sees it (onnxfile.py): it stops there.
    assert_refused(root, "deep", "the ONNX file cannot be read as an ONNX model (onnx.ModelProto)")


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
        (
            {"input_name": "input0"},
            "the ONNX file's inputs [('input0', 'tensor(float)', ['batch', 2])] "
            "differ from the contract's ('x', FP32, [batch, 2])",
        ),
        (
            {"output_name": "out"},
            "the ONNX file's outputs [('out', 'tensor(float)', ['batch', 1])] "
            "differ from the contract's ('y', FP32, [batch, 1])",
        ),
    ],
)
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
        (
            lambda e: e["artifacts"]["onnx"].pop("sha256"),
            "manifest entry: Object missing required field `sha256` - at `$.artifacts.onnx`",
        ),
        (
            lambda e: e["artifacts"]["onnx"].update(sha256="ABC"),
            "Expected `str` matching regex '^[0-9a-f]{64}$' - at `$.artifacts.onnx.sha256`",
        ),
        (lambda e: e["artifacts"]["onnx"].update(bytes=-1), "Expected `int` >= 0 - at `$.artifacts.onnx.bytes`"),
        (
            lambda e: e.update(inputs=[{"name": "x", "datatype": "FP16", "shape": [-1, 2]}]),
            "Invalid enum value 'FP16' - at `$.inputs[0].datatype`",
        ),
        (lambda e: e.update(outputs=[]), "manifest entry declares other outputs than the format's (y FP32 [-1, 1])"),
        (
            lambda e: e.update(truth_table_outputs=["a", "b", "c", "d"]),
            "Expected `float`, got `str` - at `$.truth_table_outputs[0]`",
        ),
    ],
)
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
        (
            lambda m: m["truth_table"].update(targets=[0, 1, 1, 2]),
            "manifest.json: 'truth_table': Expected `float` <= 1.0 - at `$.targets[3]`",
        ),
        (lambda m: m.update(format="other/2"), "manifest.json has format 'other/2'; expected 'xorlab-manifest/2'"),
        (
            lambda m: m.update(format="xorlab-manifest/1"),
            "manifest.json has format 'xorlab-manifest/1'; expected "
            "'xorlab-manifest/2' (an older xorlab-train wrote it: train again to publish it in this format)",
        ),
        (lambda m: m.update(models=[]), "manifest.json: 'models' must be an object"),
    ],
)
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
    assert ready.json["error"].startswith(
        "no model is ready (perceptron: artifact 'perceptron/1/model.onnx' has 8 bytes"
    )


# ---- external data: an ONNX file refers to nothing outside itself -------------------------------------


def external(tensor: TensorProto, location: str, length: int | None = None) -> TensorProto:
    """`tensor` with its bytes said to be in another file, as ONNX's external data says it."""
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", None if length is None else str(length))):
        if value is not None:
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
    return tensor


def reading_model(location: str, size: int) -> bytes:
    """The mlp of the fixtures on the truth table (so it passes every other check), and for a row
    [k + 2, 0] byte k of the file at `location`: the model a client read /etc/passwd through."""
    layers = NETWORKS["mlp"][0]
    model = onnx.load_from_string(onnx_bytes(layers, output_name="mlp"))
    graph = model.graph
    graph.initializer.extend(
        [
            external(TensorProto(name="file", data_type=TensorProto.UINT8, dims=[size]), location, size),
            numpy_helper.from_array(np.array([0], np.int64), "c0"),
            numpy_helper.from_array(np.array([1], np.int64), "c1"),
            numpy_helper.from_array(np.array(2, np.int64), "two"),
            numpy_helper.from_array(np.array(2.0, np.float32), "two_f"),
        ]
    )
    graph.node.extend(
        [
            helper.make_node("Slice", ["x", "c0", "c1", "c1"], ["col"]),  # x[:, 0:1]
            helper.make_node("GreaterOrEqual", ["col", "two_f"], ["beyond"]),
            helper.make_node("Cast", ["col"], ["k"], to=TensorProto.INT64),
            helper.make_node(
                "Sub", ["k", "two"], ["index"]
            ),  # -2 and -1 on the truth table: Gather counts from the end
            helper.make_node("Gather", ["file", "index"], ["byte"]),
            helper.make_node("Cast", ["byte"], ["byte_f"], to=TensorProto.FLOAT),
            helper.make_node("Where", ["beyond", "byte_f", "mlp"], ["y"]),
        ]
    )
    graph.output[0].name = "y"
    return model.SerializeToString()


def log_of(logger: str) -> list[str]:
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logging.getLogger(logger).addHandler(handler)
    return lines


@pytest.mark.parametrize("cwd", ["/", "model folder"])
@pytest.mark.parametrize("location", ["etc/passwd", "/etc/passwd", "../../../../../../../../etc/passwd"])
def test_a_model_with_external_data_is_refused_whatever_the_working_directory(repo, monkeypatch, location, cwd):
    # onnxruntime resolved a relative location against the working directory ('/' in the serving
    # image then): the model served, and predictions for rows [k + 2, 0] were /etc/passwd's bytes.
    root, manifest = repo
    replace_artifact(root, manifest, "mlp", "onnx", reading_model(location, 32))
    monkeypatch.chdir("/" if cwd == "/" else onnx_path(root, manifest, "mlp").parent)
    logged = log_of("xorlab.serve")
    reason = f"the ONNX file keeps tensor 'file''s data in another file ({location!r}): external data is refused"
    assert_refused(root, "mlp", reason)
    assert any(line.startswith("model mlp not served: ") and reason in line for line in logged)


def test_a_model_with_external_data_past_the_size_limit_is_refused_without_reading_it(repo, monkeypatch):
    # External data also went around the artifact size limit (a 2 GB file loaded). The file here
    # is sparse: it takes no disk.
    root, manifest = repo
    folder = onnx_path(root, manifest, "mlp").parent
    size = MAX_ARTIFACT_BYTES + 1
    with open(folder / "weights.bin", "wb") as f:
        f.truncate(size)
    replace_artifact(root, manifest, "mlp", "onnx", reading_model("weights.bin", size))
    monkeypatch.chdir(folder)
    assert_refused(
        root,
        "mlp",
        "the ONNX file keeps tensor 'file''s data in another file ('weights.bin'): external data is refused",
    )


def _graph_with(*nodes, initializer=(), sparse=()) -> onnx.GraphProto:
    return helper.make_graph(
        list(nodes),
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])],
        initializer=list(initializer),
        sparse_initializer=list(sparse),
    )


def _tensor(name: str = "t") -> TensorProto:
    return external(numpy_helper.from_array(np.zeros(2, np.float32), name), "outside.bin")


def _sparse() -> onnx.SparseTensorProto:
    return helper.make_sparse_tensor(
        _tensor("values"), numpy_helper.from_array(np.array([0], np.int64), "indices"), [4]
    )


def _model(graph: onnx.GraphProto, **kwargs) -> onnx.ModelProto:
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9, **kwargs)


def _constant(**attribute) -> onnx.NodeProto:
    return helper.make_node("Constant", [], ["c"], **attribute)


def _with_training(model: onnx.ModelProto) -> onnx.ModelProto:
    model.training_info.add().initialization.CopyFrom(_graph_with(initializer=[_tensor()]))
    return model


PLACES = {
    "initializer": lambda: _model(_graph_with(initializer=[_tensor()])),
    "sparse initializer": lambda: _model(_graph_with(sparse=[_sparse()])),
    "node attribute (tensor)": lambda: _model(_graph_with(_constant(value=_tensor()))),
    "node attribute (sparse tensor)": lambda: _model(_graph_with(_constant(sparse_value=_sparse()))),
    "node attribute (list of tensors)": lambda: _model(
        _graph_with(helper.make_node("Custom", [], ["c"], domain="x", items=[_tensor("a"), _tensor("b")]))
    ),
    "subgraph": lambda: _model(
        _graph_with(
            helper.make_node(
                "If", ["cond"], ["y"], then_branch=_graph_with(initializer=[_tensor()]), else_branch=_graph_with()
            )
        )
    ),
    "subgraph of a subgraph": lambda: _model(
        _graph_with(
            helper.make_node(
                "Loop",
                ["n", "cond"],
                ["y"],
                body=_graph_with(
                    helper.make_node(
                        "If",
                        ["c"],
                        ["z"],
                        then_branch=_graph_with(_constant(value=_tensor())),
                        else_branch=_graph_with(),
                    )
                ),
            )
        )
    ),
    "function": lambda: _model(
        _graph_with(),
        functions=[
            helper.make_function(
                "local", "f", ["a"], ["b"], [_constant(value=_tensor())], [helper.make_opsetid("", 17)]
            )
        ],
    ),
    "training information": lambda: _with_training(_model(_graph_with())),
}


@pytest.mark.parametrize("place", PLACES)
def test_external_data_is_refused_wherever_onnx_can_hold_a_tensor(place):
    with pytest.raises(RepositoryError, match="external data is refused"):
        onnxfile.check_self_contained(PLACES[place]().SerializeToString())


def test_an_onnx_file_with_fields_its_schema_does_not_define_is_refused():
    data = onnx_bytes(NETWORKS["mlp"][0])
    onnxfile.check_self_contained(data)
    unknown = bytes([(1000 << 3 | 2) & 0x7F | 0x80, (1000 << 3 | 2) >> 7, 3]) + b"abc"  # field 1000, 3 bytes
    with pytest.raises(RepositoryError, match="fields ONNX's schema does not define"):
        onnxfile.check_self_contained(data + unknown)


def test_the_committed_models_are_self_contained():
    for path in sorted((ROOT / "models").glob("*/1/model.onnx")):
        onnxfile.check_self_contained(path.read_bytes())


def test_the_vendored_onnx_schema_is_the_pinned_onnx_packages():
    pinned = Path(onnx.__file__).parent / "onnx-ml.proto"
    assert (ROOT / "xorlab/serve/proto/onnx-ml.proto").read_bytes() == pinned.read_bytes()
