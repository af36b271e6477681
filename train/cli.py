"""xorlab-train: fit the lab's architectures, export, verify and publish the model repository."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from train.config import STUDY_SIZES, ConfigError, TrainConfig, describe
from train.models import ARCHS


def parse_args(argv: list[str] | None) -> TrainConfig:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="xorlab-train", description=__doc__)
    p.add_argument("--arch", action="append", metavar="NAME",
                   help=f"architecture to train, repeatable (default: all of {', '.join(ARCHS)})")
    p.add_argument("--steps", type=int, default=d.steps, help=f"SGD steps (default {d.steps})")
    p.add_argument("--lr", type=float, default=d.lr, help=f"learning rate (default {d.lr})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"random seed (default {d.seed})")
    p.add_argument("--device", default=d.device, help="auto (CUDA when available), cpu or cuda (default auto)")
    p.add_argument("--out", default=d.out, metavar="DIR", help=f"model repository to publish (default {d.out})")
    p.add_argument("--log-every", type=int, default=d.log_every, metavar="N",
                   help="print the loss every N steps, as the lesson does (default: off)")
    p.add_argument("--study-seeds", type=int, default=None, metavar="N",
                   help=f"many-seed study: seeds per architecture trained together (default {STUDY_SIZES['cpu'][0]} "
                        f"on CPU, {STUDY_SIZES['cuda'][0]} on CUDA; 0 skips the study)")
    p.add_argument("--function-seeds", type=int, default=None, metavar="M",
                   help=f"capacity table: seeds for each of the other 15 boolean functions (default "
                        f"{STUDY_SIZES['cpu'][1]} on CPU, {STUDY_SIZES['cuda'][1]} on CUDA)")
    a = p.parse_args(argv)
    return TrainConfig(archs=a.arch or list(ARCHS), steps=a.steps, lr=a.lr, seed=a.seed,
                       device=a.device, out=a.out, log_every=a.log_every, study_seeds=a.study_seeds,
                       function_seeds=a.function_seeds)


def summary(rows: list[dict]) -> str:
    head = f"{'architecture':<13} {'params':>6} {'final loss':>11}  {'outputs (00, 01, 10, 11)':<31} {'acc':>5}  solved"
    lines = [head, "-" * len(head)]
    for m in rows:
        outs = " ".join(f"{o:.4f}" for o in m["truth_table_outputs"])
        lines.append(f"{m['name']:<13} {m['parameters']:>6} {m['final_loss']:>11.6f}  {outs:<31} "
                     f"{m['accuracy']:>5.2f}  {'yes' if m['solved'] else 'no'}")
    return "\n".join(lines)


def study_summary(study: dict) -> str:
    head = f"{'architecture':<13} {'solved XOR':>16} {'95% interval':>16} {'median steps':>13} {'stuck at ln 2':>14}"
    lines = [f"many-seed study: {study['seeds']} seeds per architecture, {study['seconds']:.1f} s", head, "-" * len(head)]
    for name, a in study["architectures"].items():
        med = a["steps_to_solve"]["median"]
        lines.append(f"{name:<13} {a['successes']:>7}/{a['n']:<4} {a['rate']:>6.1%} "
                     f"{a['ci95'][0]:>8.1%} - {a['ci95'][1]:<5.1%} {'-' if med is None else f'{med:.0f}':>13} "
                     f"{a['stuck_near_ln2']:>14.1%}")
    return "\n".join(lines)


def run(cfg: TrainConfig) -> dict:
    """Train, export, verify and publish; returns the manifest written."""
    # Heavy imports here, so `--help` and configuration errors answer at once.
    import torch

    from train import repository, signals
    from train.config import function_seeds, study_seeds
    from train.study import run_study
    from train.trainer import fit

    cfg.validate()
    device = cfg.torch_device()
    if device.type == "cpu":
        # The tensors are tiny (the study's widest is 4 x 10 x 10 x 1,300 floats). Two intra-op threads
        # gain at most 2x on an idle machine, but measured here they run the study 10-15x slower
        # than one as soon as anything else wants a core (OpenMP threads wait for each other at
        # every op): one thread, predictable everywhere.
        torch.set_num_threads(1)
    out = Path(cfg.out)
    repository.check_writable(out)
    training = {"seed": cfg.seed, "steps": cfg.steps, "lr": cfg.lr, "optimizer": "SGD",
                "loss": "BCE", "device": describe(device)}
    print(f"training {', '.join(cfg.archs)} on {training['device']} (seed {cfg.seed}, {cfg.steps} steps, lr {cfg.lr})",
          file=sys.stderr)
    trained = [fit(name, cfg, device, position=i) for i, name in enumerate(cfg.archs)]
    study = raw = None
    n_seeds, n_function_seeds = study_seeds(cfg, device), function_seeds(cfg, device)
    if n_seeds:
        print(f"many-seed study: {n_seeds} seeds of each architecture on XOR, {n_function_seeds} on each "
              f"other boolean function, trained together", file=sys.stderr)
        study, raw = run_study(cfg.archs, n_seeds, n_function_seeds, cfg.steps, cfg.lr, device,
                               progress=lambda name, e: print(f"  {name}: {e['successes']}/{e['n']} solved "
                                                              f"({e['seconds']} s)", file=sys.stderr))
        study["device"] = training["device"]
    with repository.staging(out) as tmp:
        models = {t.arch.name: repository.write_model(tmp, t, training) for t in trained}
        figures = repository.draw_pictures(tmp, trained, models, study, raw)
        doc = repository.manifest(models, study, figures)
        repository.write_manifest(tmp, doc)
        signals.check()                      # nothing is swapped in after Ctrl-C or SIGTERM
        repository.publish(tmp, out)
    print(summary(list(models.values())))
    if study:
        print(study_summary(study))
    print(f"published {len(models)} models to {out}/ (manifest.json, Triton layout)")
    return doc


def main(argv: list[str] | None = None) -> int:
    from train import signals
    from train.export import ExportMismatch
    from train.repository import PublishError
    from train.trainer import TrainingDiverged

    try:
        cfg = parse_args(argv)
        with signals.installed():
            run(cfg)
    except (ConfigError, PublishError, TrainingDiverged, ExportMismatch) as e:
        print(f"xorlab-train: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a full disk or a vanished folder while writing: still one clear line
        print(f"xorlab-train: error: cannot write the repository: {e.strerror or e}; "
              "the previous repository is untouched", file=sys.stderr)
        return 2
    except signals.Interrupted as e:
        print("xorlab-train: interrupted; the previous repository is untouched", file=sys.stderr)
        return 128 + e.signum   # 130 for SIGINT, 143 for SIGTERM, as shells report them
    return 0
