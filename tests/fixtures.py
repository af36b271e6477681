"""Small model repositories for the serving tests, written through the real writer
(`xorlab.modelrepo.writer`) from the real records, so they cannot drift from the contract; and the
small limits the test app runs with.

The networks are hand-weighted sigmoid MLPs in ONNX (Gemm + Sigmoid per layer): a perceptron that
outputs 0.5 everywhere (XOR's linear optimum) and XOR solvers built from OR, NAND and AND units.
Tests that need a broken repository edit the written JSON on purpose (`write_raw_manifest`).
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import msgspec
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from xorlab.modelrepo import records, spec, stats, writer

MAX_ROWS = 8  # small limits so the tests can cross them cheaply
MAX_BODY = 64 * 1024
INPUTS = [list(row) for row in spec.INPUTS]  # the truth table's inputs, as JSON sends them

Layer = tuple[np.ndarray, np.ndarray]  # W (in, out), b (out,)


def _layer(w: list[list[float]], b: list[float]) -> Layer:
    return np.array(w, dtype=np.float32), np.array(b, dtype=np.float32)


_OR_NAND = _layer([[20, -20], [20, -20]], [-10, 30])  # hidden units: OR(x1,x2), NAND(x1,x2)
_AND = _layer([[20], [20]], [-30])  # XOR = AND(OR, NAND)
_PASS = _layer([[20, 0], [0, 20]], [-10, -10])  # keeps 0/1 values as they are

NETWORKS: dict[str, tuple[list[Layer], str]] = {
    "perceptron": ([_layer([[0], [0]], [0])], "autograd"),
    "mlp": ([_OR_NAND, _AND], "autograd"),
    "mlp-backprop": ([_OR_NAND, _AND], "backprop"),
    "deep": ([_OR_NAND, _PASS, _AND], "autograd"),
}


def forward(layers: list[Layer], x: np.ndarray) -> np.ndarray:
    h = np.asarray(x, dtype=np.float32)
    for w, b in layers:
        h = 1.0 / (1.0 + np.exp(-(h @ w + b)))
    return h.astype(np.float32)


def onnx_bytes(layers: list[Layer], input_name: str = "x", output_name: str = "y", width: int = 2) -> bytes:
    nodes, inits, prev = [], [], input_name
    for i, (w, b) in enumerate(layers):
        inits += [numpy_helper.from_array(w, f"W{i}"), numpy_helper.from_array(b, f"b{i}")]
        out = output_name if i == len(layers) - 1 else f"h{i}"
        nodes += [
            helper.make_node("Gemm", [prev, f"W{i}", f"b{i}"], [f"z{i}"]),
            helper.make_node("Sigmoid", [f"z{i}"], [out]),
        ]
        prev = out
    graph = helper.make_graph(
        nodes,
        "xor",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", layers[-1][0].shape[1]])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _entry(root: Path, name: str, layers: list[Layer], trainer: str) -> records.ModelEntry:
    targets = np.array(spec.XOR)
    outputs = forward(layers, np.array(spec.INPUTS))[:, 0]
    correct = (outputs > 0.5) == (targets > 0.5)
    loss = float(-np.mean(targets * np.log(outputs) + (1 - targets) * np.log(1 - outputs)))
    files = {
        "onnx": writer.write_file(root, f"{name}/{spec.MODEL_VERSION}/{spec.ONNX_FILE}", onnx_bytes(layers)),
        "torchscript": writer.write_file(
            root, f"{name}/{spec.MODEL_VERSION}/{spec.TORCHSCRIPT_FILE}", f"torchscript stand-in for {name}".encode()
        ),
        "config": writer.write_file(root, f"{name}/{spec.CONFIG_FILE}", spec.triton_config(name).encode()),
    }
    return records.ModelEntry(
        name=name,
        version=spec.MODEL_VERSION,
        architecture=records.Architecture(layers=[2] + [w.shape[1] for w, _ in layers], activation="sigmoid"),
        trainer=trainer,
        parameters=int(sum(w.size + b.size for w, b in layers)),
        training=records.Training(seed=777, steps=10001, lr=1.0, optimizer="SGD", loss="BCE", device="cpu"),
        final_loss=loss,
        truth_table_outputs=[float(v) for v in outputs],
        accuracy=float(correct.mean()),
        solved=bool(correct.all()),
        outcome="solved" if correct.all() else "plateau",  # the one unsolved network answers 0.5 everywhere
        loss_curve=records.LossCurve(steps=[0, 10000], loss=[0.7, loss]),
        inputs=[records.Tensor(name=spec.INPUT_NAME, datatype="FP32", shape=list(spec.INPUT_SHAPE))],
        outputs=[records.Tensor(name=spec.OUTPUT_NAME, datatype="FP32", shape=list(spec.OUTPUT_SHAPE))],
        artifacts=records.Artifacts(**files),
        export_parity=records.ExportParity(points=4, torchscript_max_abs=0.0, onnx_max_abs=0.0, tolerance=1e-5),
    )


def build_repository(root: Path, names: tuple[str, ...] = tuple(NETWORKS)) -> dict:
    """Write a complete, valid repository for `names` into `root`; returns its manifest as JSON
    (a dict, for tests that change it and write it back with `write_raw_manifest`)."""
    root.mkdir(parents=True, exist_ok=True)
    manifest = records.Manifest(
        format=spec.FORMAT,
        created="2025-01-01T00:00:00+00:00",
        versions=records.Versions(
            xorlab="test", python="3.11", torch="test", onnx=onnx.__version__, onnxruntime="test", opset=17
        ),
        truth_table=records.TruthTable(inputs=[tuple(r) for r in spec.INPUTS], targets=list(spec.XOR)),
        models={name: _entry(root, name, *NETWORKS[name]) for name in names},
    )
    writer.write_manifest(root, manifest)
    return as_json(manifest)


def as_json(record: msgspec.Struct) -> dict:
    """A record as the JSON file holds it (lists, not tuples)."""
    return msgspec.json.decode(msgspec.json.encode(record))


def write_manifest(root: Path, manifest: dict) -> None:
    """A changed manifest written back through the writer: it must still be a valid one."""
    writer.write_manifest(root, msgspec.convert(manifest, records.Manifest))


def write_raw_manifest(root: Path, manifest: object) -> None:
    """Any JSON as manifest.json, unchecked: for tests of what the reader refuses."""
    (root / spec.MANIFEST).write_text(json.dumps(manifest, indent=2))


def replace_artifact(root: Path, manifest: dict, name: str, kind: str, data: bytes) -> None:
    """Swap an artifact's bytes *and* record them in the manifest (a consistent but wrong repo)."""
    entry = manifest["models"][name]
    entry["artifacts"][kind] = as_json(writer.write_file(root, entry["artifacts"][kind]["path"], data))
    write_manifest(root, manifest)


# ---- the many-seed study and the report's pictures -------------------------------------------------


def study_for(
    manifest: dict,
    successes: dict[str, int],
    seeds: int = 200,
    per_function: int = 20,
    steps: int = 10001,
    rest: dict[str, dict[str, int]] | None = None,
) -> dict:
    """A study of every model in `manifest`: `successes[name]` of `seeds` seeds solve XOR within
    `steps`, and `rest[name]` says how the others ended ({outcome: count}; by default a network
    without a hidden layer is stuck at ln 2, the others in a local minimum). A network without a
    hidden layer learns every function but XOR and XNOR, the others all 16 but XNOR from one seed in ten."""
    rest = rest or {}
    architectures = {}
    for name, entry in manifest["models"].items():
        layers, k = entry["architecture"]["layers"], successes[name]
        linear = len(layers) == 2
        capacity = []
        for f in range(16):
            if f == spec.XOR_FUNCTION:
                capacity.append({"function": f, **stats.rate(k, seeds)})
            else:
                ok = (
                    0
                    if linear and f == spec.XNOR_FUNCTION
                    else per_function - per_function // 10
                    if f == spec.XNOR_FUNCTION
                    else per_function
                )
                capacity.append({"function": f, **stats.rate(ok, per_function)})
        ends = {"solved": k, "unfinished": 0, "plateau": 0, "local_minimum": 0}
        ends.update(rest.get(name) or {"plateau" if linear else "local_minimum": seeds - k})
        assert sum(ends.values()) == seeds, (name, ends)
        architectures[name] = {
            "trainer": entry["trainer"],
            "layers": layers,
            "seconds": 1.0,
            **stats.rate(k, seeds),
            "steps_to_solve": {"median": 600.0, "p90": 1500.0} if k else {"median": None, "p90": None},
            "final_loss_quantiles": {"0.05": 0.001, "0.5": 0.002 if k else 0.6931, "0.95": 0.6931},
            "outcomes": {kind: {"count": c, "share": c / seeds} for kind, c in ends.items()},
            "capacity": capacity,
        }
    study = records.Study(
        task="XOR",
        seeds=seeds,
        seed_range=(0, seeds - 1),
        steps=steps,
        lr=1.0,
        optimizer="SGD",
        loss="BCE",
        initialisation="torch.nn.Linear default",
        device="cpu",
        seconds=2.0,
        outcome_rule=records.OutcomeRule.for_steps(steps),
        functions=records.Functions.of(per_function, seeds),
        architectures=msgspec.convert(architectures, dict[str, records.ArchitectureStudy]),
    )
    return as_json(study)


def png_bytes(width: int, height: int, rgb: tuple[int, int, int] = (40, 90, 200)) -> bytes:
    """A valid PNG of one colour (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])  # 8-bit RGB
    rows = b"".join(b"\0" + bytes(rgb) * width for _ in range(height))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def add_report(root: Path, manifest: dict, successes: dict[str, int] | None = None) -> dict:
    """Add a study and pictures (a decision surface per model, one loss-curve picture) to the
    repository at `root`, as training publishes them; returns the manifest."""
    successes = successes or {
        name: 0 if len(e["architecture"]["layers"]) == 2 else 176 for name, e in manifest["models"].items()
    }
    manifest["study"] = study_for(manifest, successes)
    pictures = [
        (f"surface-{name}.png", f"Decision surface of {name}", name, png_bytes(36, 32, (40 * i, 90, 200)))
        for i, name in enumerate(manifest["models"])
    ]
    pictures.append(("loss-curves.png", "Training loss of the served models", None, png_bytes(54, 32, (200, 60, 40))))
    manifest["pictures"] = [
        {**as_json(writer.write_file(root, path, data)), "title": title, **({"model": model} if model else {})}
        for path, title, model, data in pictures
    ]
    write_manifest(root, manifest)
    return manifest
