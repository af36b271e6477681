"""Write the model repository (Triton layout + manifest.json) and publish it atomically.

models/
  manifest.json                # see models/manifest.schema.json
  manifest.schema.json         # the manifest's JSON Schema (copied in, so a repository documents itself)
  <name>/config.pbtxt
  <name>/1/model.onnx
  <name>/1/model.pt
"""
from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import onnx
import onnxruntime
import torch

from xorlab import __version__
from xorlab.train import export
from xorlab.train.data import INPUTS, XOR
from xorlab.train.models import parameter_count
from xorlab.train.trainer import Trained

VERSION = "1"
MAX_BATCH_SIZE = 65536       # agrees with the service's default XORLAB_MAX_ROWS
SCHEMA = Path(__file__).resolve().parent / "manifest.schema.json"


class PublishError(OSError):
    """The output folder cannot be written: one clear line, exit code 2."""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _artifact(root: Path, path: Path) -> dict:
    return {"path": path.relative_to(root).as_posix(), "sha256": sha256(path), "bytes": path.stat().st_size}


def write_model(root: Path, trained: Trained, training: dict) -> dict:
    """Export one trained model into root/<name>/ and return its manifest entry."""
    name = trained.arch.name
    version_dir = root / name / VERSION
    version_dir.mkdir(parents=True)
    pt, onnx_path, config = version_dir / "model.pt", version_dir / "model.onnx", root / name / "config.pbtxt"
    export.export_torchscript(trained.model, pt)
    export.export_onnx(trained.model, onnx_path)
    parity = export.verify(trained.model, pt, onnx_path)
    config.write_text(export.triton_config(name, MAX_BATCH_SIZE))
    return {
        "name": name,
        "version": VERSION,
        "description": trained.arch.description,
        "architecture": {"layers": list(trained.arch.layers), "activation": "sigmoid"},
        "trainer": trained.arch.trainer,
        "parameters": parameter_count(trained.arch.layers),
        "training": {**training, "seconds": round(trained.seconds, 3)},
        "final_loss": trained.final_loss,
        "truth_table_outputs": trained.outputs,
        "accuracy": trained.accuracy,
        "solved": trained.solved,
        "loss_curve": {"steps": trained.curve_steps, "loss": trained.curve_loss},
        "inputs": [{"name": export.INPUT, "datatype": "FP32", "shape": [-1, 2]}],
        "outputs": [{"name": export.OUTPUT, "datatype": "FP32", "shape": [-1, 1]}],
        "artifacts": {"onnx": _artifact(root, onnx_path), "torchscript": _artifact(root, pt),
                      "config": _artifact(root, config)},
        "export_parity": parity.as_dict(),
    }


def draw_pictures(root: Path, trained: list[Trained], models: dict[str, dict], study: dict | None,
                  raw: dict | None) -> list[dict]:
    """Every picture of the report, as top-level files (Triton reads only the model folders)."""
    from xorlab.train import pictures

    drawn = []

    def add(filename: str, title: str, draw, *args, model: str | None = None) -> None:
        draw(*args, root / filename)
        drawn.append({**_artifact(root, root / filename), "title": title, **({"model": model} if model else {})})

    for t in trained:
        add(f"surface-{t.arch.name}.png", f"Decision surface of {t.arch.name}", pictures.decision_surface,
            t.arch.name, t.model, model=t.arch.name)
    add("loss-curves.png", "Training loss of the served models", pictures.loss_curves, models)
    if study:
        add("study-rates.png", "Share of seeds that solve XOR, with 95% intervals", pictures.success_rates, study)
        add("capacity.png", "Success rate on all 16 boolean functions", pictures.capacity, study)
        add("steps-to-solve.png", "Steps to solve XOR", pictures.steps_to_solve, study, raw)
    return drawn


def manifest(models: dict[str, dict], study: dict | None = None, figures: list[dict] | None = None) -> dict:
    doc = {
        "format": "xorlab-manifest/1",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"xorlab": __version__, "python": platform.python_version(),
                     "torch": torch.__version__, "onnx": onnx.__version__,
                     "onnxruntime": onnxruntime.__version__, "opset": export.OPSET},
        "truth_table": {"inputs": INPUTS, "targets": XOR},
        "models": models,
    }
    if study is not None:
        doc["study"] = study
    if figures:
        doc["pictures"] = figures
    return doc


def write_manifest(root: Path, doc: dict) -> None:
    (root / "manifest.json").write_text(json.dumps(doc, indent=2) + "\n")
    shutil.copyfile(SCHEMA, root / "manifest.schema.json")


def check_writable(out: Path) -> None:
    """Fail before training, not after, when the repository cannot be published."""
    parent = out.resolve().parent
    if out.exists() and not out.is_dir():
        raise PublishError(f"cannot publish to {out}: it exists and is not a folder")
    if not parent.is_dir():
        raise PublishError(f"cannot publish to {out}: its parent folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PublishError(f"cannot publish to {out}: {parent} is not writable")


@contextmanager
def staging(out: Path) -> Iterator[Path]:
    """A temporary folder beside `out` (same filesystem, so the swap is a rename); always removed."""
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.resolve().parent))
        tmp.chmod(0o755)   # mkdtemp makes it owner-only; a server running as another user must read it
    except OSError as e:
        raise PublishError(f"cannot publish to {out}: {e.strerror}") from e
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_RENAME_EXCHANGE = 2
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    renameat2 = getattr(_libc, "renameat2", None)
    if renameat2 is None:
        return False
    AT_FDCWD = -100
    rc = renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


def publish(tmp: Path, out: Path) -> None:
    """Swap the complete new repository in: readers see the old one or the new one, never half.

    With renameat2 the two folders trade places in one step and the old one (now at `tmp`) is
    removed by `staging`; elsewhere the old folder is moved aside first (a moment with no folder).
    """
    try:
        if not out.exists():
            os.rename(tmp, out)
        elif not _exchange(tmp, out):
            aside = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.rename(out, aside)
            os.rename(tmp, out)
            shutil.rmtree(aside, ignore_errors=True)
    except OSError as e:
        raise PublishError(f"cannot publish to {out}: {e.strerror}") from e
