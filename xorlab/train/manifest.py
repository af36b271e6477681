"""The manifest's records for what training produced: each model's entry (its run, its outputs and
its files, written by artifacts.py) and the manifest around them, in `xorlab.modelrepo.records`."""

from __future__ import annotations

import datetime as dt
import platform

import msgspec
import onnx
import onnxruntime
import torch

from xorlab import __version__
from xorlab.modelrepo import records, spec
from xorlab.train import export
from xorlab.train.models import parameter_count
from xorlab.train.trainer import Trained


def model_entry(
    trained: Trained, training: records.Training, artifacts: records.Artifacts, parity: records.ExportParity
) -> records.ModelEntry:
    """One trained model's entry, from its run and the files artifacts.write_artifacts wrote."""
    name, arch = trained.arch.name, trained.arch

    def tensor(name_: str, shape) -> records.Tensor:
        return records.Tensor(name=name_, datatype=spec.DATATYPE, shape=list(shape))

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
        artifacts=artifacts,
        export_parity=parity,
    )


def manifest(
    models: dict[str, records.ModelEntry], study: records.Study | None, pictures: list[records.Picture]
) -> records.Manifest:
    return records.Manifest(
        format=spec.FORMAT,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        versions=records.Versions(
            xorlab=__version__,
            python=platform.python_version(),
            torch=str(torch.__version__),
            onnx=onnx.__version__,
            onnxruntime=onnxruntime.__version__,
            opset=export.OPSET,
        ),
        truth_table=records.TruthTable(inputs=[tuple(r) for r in spec.INPUTS], targets=list(spec.XOR)),
        models=models,
        study=study,
        pictures=pictures,
    )
