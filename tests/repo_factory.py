"""Build small model repositories for the serving tests, in the committed layout and manifest
contract (validated against models/manifest.schema.json, so these fixtures cannot drift from it).

The networks are hand-weighted sigmoid MLPs in ONNX (Gemm + Sigmoid per layer): a perceptron that
outputs 0.5 everywhere (XOR's linear optimum) and XOR solvers built from OR, NAND and AND units.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SCHEMA = Path(__file__).resolve().parents[1] / "models" / "manifest.schema.json"
INPUTS = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
TARGETS = [0.0, 1.0, 1.0, 0.0]

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
        nodes += [helper.make_node("Gemm", [prev, f"W{i}", f"b{i}"], [f"z{i}"]), helper.make_node("Sigmoid", [f"z{i}"], [out])]
        prev = out
    graph = helper.make_graph(
        nodes, "xor", [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", layers[-1][0].shape[1]])],
        initializer=inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _config_pbtxt(name: str) -> bytes:
    return (
        f'name: "{name}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 0\n'
        'input [ { name: "x" data_type: TYPE_FP32 dims: [ -1, 2 ] } ]\n'
        'output [ { name: "y" data_type: TYPE_FP32 dims: [ -1, 1 ] } ]\n'
    ).encode()


def _artifact(root: Path, relative: str, data: bytes) -> dict:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"path": relative, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def _entry(root: Path, name: str, layers: list[Layer], trainer: str) -> dict:
    outputs = forward(layers, np.array(INPUTS))[:, 0]
    correct = (outputs > 0.5) == (np.array(TARGETS) > 0.5)
    widths = [2] + [w.shape[1] for w, _ in layers]
    loss = float(-np.mean(np.array(TARGETS) * np.log(outputs) + (1 - np.array(TARGETS)) * np.log(1 - outputs)))
    return {
        "name": name,
        "version": "1",
        "architecture": {"layers": widths, "activation": "sigmoid"},
        "trainer": trainer,
        "parameters": int(sum(w.size + b.size for w, b in layers)),
        "training": {"seed": 777, "steps": 10001, "lr": 1.0, "optimizer": "SGD", "loss": "BCE", "device": "cpu"},
        "final_loss": loss,
        "truth_table_outputs": [float(v) for v in outputs],
        "accuracy": float(correct.mean()),
        "solved": bool(correct.all()),
        "loss_curve": {"steps": [0, 10000], "loss": [0.7, loss]},
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 2]}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 1]}],
        "artifacts": {
            "onnx": _artifact(root, f"{name}/1/model.onnx", onnx_bytes(layers)),
            "torchscript": _artifact(root, f"{name}/1/model.pt", f"torchscript stand-in for {name}".encode()),
            "config": _artifact(root, f"{name}/config.pbtxt", _config_pbtxt(name)),
        },
        "export_parity": {"points": 4, "torchscript_max_abs": 0.0, "onnx_max_abs": 0.0, "tolerance": 1e-5},
    }


def validate(manifest: dict) -> None:
    jsonschema.validate(manifest, json.loads(SCHEMA.read_text()))


def build_repository(root: Path, names: tuple[str, ...] = tuple(NETWORKS)) -> dict:
    """Write a complete, valid repository for `names` into `root`; returns its manifest."""
    root.mkdir(parents=True, exist_ok=True)
    manifest = {
        "format": "xorlab-manifest/1",
        "created": "2025-01-01T00:00:00Z",
        "versions": {"xorlab": "0.1.0", "python": "3.11", "torch": "test", "onnx": onnx.__version__,
                     "onnxruntime": "test", "opset": 17},
        "truth_table": {"inputs": INPUTS, "targets": TARGETS},
        "models": {name: _entry(root, name, *NETWORKS[name]) for name in names},
    }  # fmt: skip
    write_manifest(root, manifest)
    return manifest


def write_manifest(root: Path, manifest: dict, check: bool = True) -> None:
    if check:
        validate(manifest)
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))


def replace_artifact(root: Path, manifest: dict, name: str, kind: str, data: bytes) -> None:
    """Swap an artifact's bytes *and* record them in the manifest (a consistent but wrong repo)."""
    entry = manifest["models"][name]
    entry["artifacts"][kind] = _artifact(root, entry["artifacts"][kind]["path"], data)
    write_manifest(root, manifest)


# ---- the many-seed study and the report's pictures -------------------------------------------------

FUNCTION_NAMES = ["FALSE", "NOR", "x1 AND NOT x2", "NOT x1", "NOT x1 AND x2", "NOT x2", "XOR", "NAND",
                  "AND", "XNOR", "x2", "x1 OR NOT x2", "x1", "NOT x1 OR x2", "OR", "TRUE"]  # fmt: skip
XOR, XNOR = 6, 9


def wilson(successes: int, n: int, z: float = 1.959964) -> list[float]:
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [max(0.0, float(centre - half)), min(1.0, float(centre + half))]


def _rate(successes: int, n: int) -> dict:
    return {"n": n, "successes": successes, "rate": successes / n, "ci95": wilson(successes, n)}


def study_for(manifest: dict, successes: dict[str, int], seeds: int = 200, per_function: int = 20) -> dict:
    """A study (manifest contract) of every model in `manifest`: `successes[name]` of `seeds` seeds
    solve XOR; a network without a hidden layer learns every function but XOR and XNOR, the others
    all 16 but XNOR from one seed in ten."""
    architectures = {}
    for name, entry in manifest["models"].items():
        layers, k = entry["architecture"]["layers"], successes[name]
        linear = len(layers) == 2
        capacity = []
        for f in range(16):
            if f == XOR:
                capacity.append({"function": f, **_rate(k, seeds)})
            else:
                ok = 0 if linear and f == XNOR else per_function - per_function // 10 if f == XNOR else per_function
                capacity.append({"function": f, **_rate(ok, per_function)})
        architectures[name] = {
            "trainer": entry["trainer"], "layers": layers, "seconds": 1.0, **_rate(k, seeds),
            "steps_to_solve": {"median": 600.0, "p90": 1500.0} if k else {"median": None, "p90": None},
            "final_loss_quantiles": {"0.05": 0.001, "0.5": 0.002 if k else 0.6931, "0.95": 0.6931},
            "stuck_near_ln2": 1.0 if linear else 0.05,
            "capacity": capacity,
        }  # fmt: skip
    return {
        "task": "XOR", "seeds": seeds, "seed_range": [0, seeds - 1], "steps": 10001, "lr": 1.0,
        "optimizer": "SGD", "loss": "BCE", "initialisation": "torch.nn.Linear default", "device": "cpu",
        "seconds": 2.0, "stuck_tolerance": 0.01,
        "functions": {
            "seeds_per_function": per_function, "xor_seeds": seeds, "names": FUNCTION_NAMES,
            "truth_tables": [[float((k >> i) & 1) for i in range(4)] for k in range(16)],
            "linearly_separable": [k not in (XOR, XNOR) for k in range(16)],
        },
        "architectures": architectures,
    }  # fmt: skip


def png_bytes(width: int, height: int, rgb: tuple[int, int, int] = (40, 90, 200)) -> bytes:
    """A valid PNG of one colour (no imaging library needed)."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])  # 8-bit RGB
    rows = b"".join(b"\0" + bytes(rgb) * width for _ in range(height))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def add_report(root: Path, manifest: dict, successes: dict[str, int] | None = None) -> dict:
    """Add a study and pictures (a decision surface per model, one loss-curve picture) to the
    repository at `root`, as training publishes them; returns the manifest."""
    successes = successes or {name: 0 if len(e["architecture"]["layers"]) == 2 else 176 for name, e in manifest["models"].items()}
    manifest["study"] = study_for(manifest, successes)
    pictures = [(f"surface-{name}.png", f"Decision surface of {name}", name, png_bytes(36, 32, (40 * i, 90, 200)))
                for i, name in enumerate(manifest["models"])]  # fmt: skip
    pictures.append(("loss-curves.png", "Training loss of the served models", None, png_bytes(54, 32, (200, 60, 40))))
    manifest["pictures"] = [
        {**_artifact(root, path, data), "title": title, **({"model": model} if model else {})}
        for path, title, model, data in pictures
    ]
    write_manifest(root, manifest)
    return manifest
