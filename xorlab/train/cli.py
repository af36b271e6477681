"""xorlab-train: the command line (its options, its exit codes); the run itself is pipeline.py."""

from __future__ import annotations

import argparse
import sys

try:
    import torch  # noqa: F401  (the command's first need: say so plainly when it is missing)
except ModuleNotFoundError as exc:  # `make run` on a committed repository installs serving only
    if exc.name != "torch":
        raise
    sys.exit(
        "xorlab-train: training needs torch, which this environment does not have: `make train` installs it "
        "(or: .venv/bin/pip install -c constraints.txt -e '.[train]')"
    )

from xorlab.train.config import STUDY_SIZES, ConfigError, TrainConfig
from xorlab.train.models import ARCHS


def parse_args(argv: list[str] | None) -> TrainConfig:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(
        prog="xorlab-train",
        description="Train the lab's networks on XOR, export them to "
        "TorchScript and ONNX, verify the exports and publish the model repository.",
    )
    parser.add_argument(
        "--arch",
        action="append",
        metavar="NAME",
        help=f"architecture to train, repeatable (default: all of {', '.join(ARCHS)})",
    )
    parser.add_argument("--steps", type=int, default=defaults.steps, help=f"SGD steps (default {defaults.steps})")
    parser.add_argument("--lr", type=float, default=defaults.lr, help=f"learning rate (default {defaults.lr})")
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"random seed (default {defaults.seed})")
    parser.add_argument(
        "--device", default=defaults.device, help="auto (CUDA when available), cpu or cuda (default auto)"
    )
    parser.add_argument(
        "--out", default=defaults.out, metavar="DIR", help=f"model repository to publish (default {defaults.out})"
    )
    parser.add_argument(
        "--log-every",
        type=int,
        default=defaults.log_every,
        metavar="N",
        help="print the loss every N steps, as the lesson does (default: off)",
    )
    parser.add_argument(
        "--study-seeds",
        type=int,
        default=None,
        metavar="N",
        help=f"many-seed study: seeds per architecture trained together (default {STUDY_SIZES['cpu'][0]:,} "
        f"on CPU, {STUDY_SIZES['cuda'][0]:,} on CUDA; 0 skips the study)",
    )
    parser.add_argument(
        "--function-seeds",
        type=int,
        default=None,
        metavar="M",
        help=f"capacity table: seeds for each of the other 15 boolean functions (default "
        f"{STUDY_SIZES['cpu'][1]:,} on CPU, {STUDY_SIZES['cuda'][1]:,} on CUDA)",
    )
    parser.add_argument(
        "--if-missing",
        action="store_true",
        help="do nothing when --out already holds a model repository this version can read "
        "(a deployment's one-shot training step: train once, not on every start)",
    )
    args = parser.parse_args(argv)
    return TrainConfig(
        archs=args.arch or list(ARCHS),
        steps=args.steps,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
        out=args.out,
        log_every=args.log_every,
        study_seeds=args.study_seeds,
        function_seeds=args.function_seeds,
        if_missing=args.if_missing,
    )


def existing(out: str) -> str | None:
    """When `out` holds a readable repository: when it was created; else None."""
    from xorlab.modelrepo import reader

    try:
        return reader.read(out).manifest.created
    except reader.RepositoryError:
        return None


def main(argv: list[str] | None = None) -> int:
    # Heavy imports here, so `--help` and configuration errors answer at once.
    from xorlab.modelrepo.writer import PublishError
    from xorlab.train import signals
    from xorlab.train.export import ExportMismatch
    from xorlab.train.pipeline import run
    from xorlab.train.trainer import TrainingDiverged

    try:
        cfg = parse_args(argv)
        if cfg.if_missing and (created := existing(cfg.out)):
            print(
                f"xorlab-train: {cfg.out} already holds a model repository (created {created}); "
                "nothing to do (--if-missing)",
                file=sys.stderr,
            )
            return 0
        with signals.installed():
            run(cfg)
    except (ConfigError, PublishError, TrainingDiverged, ExportMismatch) as e:
        print(f"xorlab-train: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a full disk or a vanished folder while writing: still one clear line
        print(
            f"xorlab-train: error: cannot write the repository: {e.strerror or e}; "
            "the previous repository is untouched",
            file=sys.stderr,
        )
        return 2
    except signals.Interrupted as e:
        print("xorlab-train: interrupted; the previous repository is untouched", file=sys.stderr)
        return 128 + e.signum  # 130 for SIGINT, 143 for SIGTERM, as shells report them
    return 0
