"""The manifest's records for what training produced: export each model into the repository being
written, verify the exports, and describe everything in `xorlab.modelrepo.records`."""
from __future__ import annotations

import datetime as dt
import platform
from pathlib import Path

import msgspec
import onnx
import onnxruntime
import torch

from xorlab import __version__
from xorlab.modelrepo import records, spec, writer
from xorlab.train import export
from xorlab.train.models import parameter_count
from xorlab.train.trainer import Trained


def model_entry(root: Path, trained: Trained, training: records.Training) -> records.ModelEntry:
    """Export one trained model into root/<name>/ (Triton's layout) and describe it."""
    name, arch = trained.arch.name, trained.arch
    version_dir = root / name / spec.MODEL_VERSION
    version_dir.mkdir(parents=True)
    pt, onnx_path = version_dir / spec.TORCHSCRIPT_FILE, version_dir / spec.ONNX_FILE
    export.export_torchscript(trained.model, pt)
    export.export_onnx(trained.model, onnx_path)
    parity = export.verify(trained.model, pt, onnx_path)
    config = writer.write_file(root, f"{name}/{spec.CONFIG_FILE}", spec.triton_config(name).encode())
    tensor = lambda name_, shape: records.Tensor(name=name_, datatype=spec.DATATYPE, shape=list(shape))  # noqa: E731
    return records.ModelEntry(
        name=name,
        version=spec.MODEL_VERSION,
        description=arch.description,
        architecture=records.Architecture(layers=list(arch.layers), activation="sigmoid"),
        trainer=arch.trainer,
        parameters=parameter_count(arch.layers),
        training=msgspec.structs.replace(training, seconds=round(trained.seconds, 3)),
        final_loss=trained.final_loss,
        truth_table_outputs=trained.outputs,
        accuracy=trained.accuracy,
        solved=trained.solved,
        outcome=trained.outcome,
        loss_curve=records.LossCurve(steps=trained.curve_steps, loss=trained.curve_loss),
        inputs=[tensor(spec.INPUT_NAME, spec.INPUT_SHAPE)],
        outputs=[tensor(spec.OUTPUT_NAME, spec.OUTPUT_SHAPE)],
        artifacts=records.Artifacts(onnx=writer.record_file(root, onnx_path), torchscript=writer.record_file(root, pt),
                                    config=config),
        export_parity=parity,
    )


def manifest(models: dict[str, records.ModelEntry], study: records.Study | None,
             pictures: list[records.Picture]) -> records.Manifest:
    return records.Manifest(
        format=spec.FORMAT,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        versions=records.Versions(xorlab=__version__, python=platform.python_version(), torch=str(torch.__version__),
                                  onnx=onnx.__version__, onnxruntime=onnxruntime.__version__, opset=export.OPSET),
        truth_table=records.TruthTable(inputs=[tuple(r) for r in spec.INPUTS], targets=list(spec.XOR)),
        models=models,
        study=study,
        pictures=pictures,
    )
