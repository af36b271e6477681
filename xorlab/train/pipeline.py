"""One training run, top to bottom: train each architecture, run the many-seed study, export and
verify, draw the pictures, publish the repository atomically."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from xorlab.modelrepo import records, writer
from xorlab.train import manifest, pictures, signals, tables
from xorlab.train.artifacts import write_artifacts
from xorlab.train.config import TrainConfig, describe, function_seeds, study_seeds
from xorlab.train.study import run_study
from xorlab.train.trainer import fit


def run(cfg: TrainConfig) -> records.Manifest:
    """Train, export, verify and publish; returns the manifest written."""
    cfg.validate()
    device = cfg.torch_device()
    if device.type == "cpu":
        # The tensors are tiny (the study's widest is 4 x 10 x 10 x 1,300 floats). Two intra-op threads
        # gain little on an idle machine, but run the study many times slower than one as soon as
        # anything else wants a core (OpenMP threads wait for each other at every op; figures in
        # docs/benchmarks.md, training speed): one thread, predictable everywhere.
        torch.set_num_threads(1)
    out = Path(cfg.out)
    writer.check_writable(out)
    training = records.Training(
        seed=cfg.seed, steps=cfg.steps, lr=cfg.lr, optimizer="SGD", loss="BCE", device=describe(device)
    )
    print(
        f"training {', '.join(cfg.archs)} on {training.device} (seed {cfg.seed}, {cfg.steps} steps, lr {cfg.lr})",
        file=sys.stderr,
    )
    trained = [fit(name, cfg, device, position=i) for i, name in enumerate(cfg.archs)]
    study = raw = None
    n_seeds, n_function_seeds = study_seeds(cfg, device), function_seeds(cfg, device)
    if n_seeds:
        print(
            f"many-seed study: {n_seeds:,} seeds of each architecture on XOR, {n_function_seeds:,} on each "
            f"other boolean function, trained together",
            file=sys.stderr,
        )
        study, raw = run_study(
            cfg.archs,
            n_seeds,
            n_function_seeds,
            cfg.steps,
            cfg.lr,
            device,
            progress=lambda name, e: print(f"  {name}: {e.successes}/{e.n} solved ({e.seconds} s)", file=sys.stderr),
        )
    with writer.staging(out) as tmp:
        models = {t.arch.name: manifest.model_entry(t, training, *write_artifacts(tmp, t)) for t in trained}
        drawn = pictures.draw_all(tmp, trained, models, study, raw)
        doc = manifest.manifest(models, study, drawn)
        writer.write_manifest(tmp, doc)
        signals.check()  # nothing is swapped in after Ctrl-C or SIGTERM
        writer.publish(tmp, out)
    print(tables.models_table(list(models.values())))
    if study:
        print(tables.study_table(study))
    print(f"published {len(models)} models to {out}/ (manifest.json, Triton layout)")
    return doc
