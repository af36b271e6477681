"""Export a trained model to TorchScript and ONNX, and prove both compute what the eager model does."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from xorlab.modelrepo import records, spec
from xorlab.train.models import MLP

OPSET = 18  # >= 17 as the contract asks; 18 is what torch's exporter emits natively
TOLERANCE = 1e-5  # max |difference| allowed between eager, TorchScript and onnxruntime
RANDOM_POINTS = 1000
INPUT, OUTPUT = spec.INPUT_NAME, spec.OUTPUT_NAME


class ExportMismatch(RuntimeError):
    """An exported artifact does not compute what the eager model computes: nothing is published."""


def export_torchscript(model: MLP, path: Path) -> None:
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(model.eval()), buffer)
    path.write_bytes(_without_debug_records(buffer.getvalue()))


def _without_debug_records(archive: bytes) -> bytes:
    """The TorchScript archive without its `.debug_pkl` records: source ranges that name the
    training machine's absolute file paths, which a published model must not carry. torch.jit.load
    reads them only when present, for error messages."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            if not info.filename.endswith(".debug_pkl"):
                dst.writestr(info, src.read(info))
    return out.getvalue()


def export_onnx(model: MLP, path: Path) -> None:
    model.eval()
    example = (torch.zeros(4, 2),)
    batch = torch.export.Dim("batch")
    # The exporter narrates each stage on stdout and warns about optional packages (torchvision)
    # and its own deprecations; keep the CLI's output to the summary.
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        program = torch.onnx.export(
            model,
            example,
            dynamo=True,
            opset_version=OPSET,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_shapes=({0: batch},),
            external_data=False,
        )
    proto = program.model_proto
    # The exporter notes on every node where it came from (its stack trace names the training
    # machine's absolute file paths, the FX node, the module path): debugging notes, not the model.
    for node in [*proto.graph.node, *(n for f in proto.functions for n in f.node)]:
        del node.metadata_props[:]
    onnx.checker.check_model(proto, full_check=True)
    onnx.save_model(proto, str(path))


def verification_points(seed: int = 0) -> np.ndarray:
    """The truth table plus RANDOM_POINTS uniform points in [0, 1]^2, float32 (N, 2)."""
    rng = np.random.default_rng(seed)
    table = np.array(spec.INPUTS, dtype=np.float32)
    return np.concatenate([table, rng.random((RANDOM_POINTS, 2), dtype=np.float32)])


def onnx_session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def verify(model: MLP, torchscript_path: Path, onnx_path: Path) -> records.ExportParity:
    points = verification_points()
    with torch.no_grad():
        eager = model(torch.from_numpy(points)).numpy()
        scripted = torch.jit.load(str(torchscript_path))(torch.from_numpy(points)).numpy()
    onnx_out = onnx_session(onnx_path).run([OUTPUT], {INPUT: points})[0]
    if onnx_out.shape != eager.shape or onnx_out.dtype != np.float32:
        raise ExportMismatch(
            f"{onnx_path}: output {onnx_out.dtype}{list(onnx_out.shape)}, expected float32{list(eager.shape)}"
        )
    parity = records.ExportParity(
        points=len(points),
        torchscript_max_abs=float(np.abs(scripted - eager).max()),
        onnx_max_abs=float(np.abs(onnx_out - eager).max()),
        tolerance=TOLERANCE,
    )
    if parity.torchscript_max_abs > TOLERANCE or parity.onnx_max_abs > TOLERANCE:
        raise ExportMismatch(
            f"export parity failed: TorchScript max |diff| {parity.torchscript_max_abs:.3g}, "
            f"ONNX {parity.onnx_max_abs:.3g}, tolerance {TOLERANCE}"
        )
    return parity
