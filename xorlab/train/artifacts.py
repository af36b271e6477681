"""One trained model's files in the repository being written: TorchScript, ONNX and Triton's
config.pbtxt under root/<name>/<version>/ (Triton's layout), the exports checked against the eager
model before anything is recorded about them."""

from __future__ import annotations

from pathlib import Path

from xorlab.modelrepo import records, spec, writer
from xorlab.train import export
from xorlab.train.trainer import Trained


def write_artifacts(root: Path, trained: Trained) -> tuple[records.Artifacts, records.ExportParity]:
    """Export one trained model into root/<name>/; returns its files' records and the exports' parity."""
    name = trained.arch.name
    version_dir = root / name / spec.MODEL_VERSION
    version_dir.mkdir(parents=True)
    pt, onnx_path = version_dir / spec.TORCHSCRIPT_FILE, version_dir / spec.ONNX_FILE
    export.export_torchscript(trained.model, pt)
    export.export_onnx(trained.model, onnx_path)
    parity = export.verify(trained.model, pt, onnx_path)
    config = writer.write_file(root, f"{name}/{spec.CONFIG_FILE}", spec.triton_config(name).encode())
    files = records.Artifacts(
        onnx=writer.record_file(root, onnx_path), torchscript=writer.record_file(root, pt), config=config
    )
    return files, parity
