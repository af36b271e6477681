"""The measurement behind the outcome rule (xorlab/modelrepo/outcomes.py): does a seed the rule
calls stuck stay unsolved, and does one it calls still improving go on to solve?

    python -m research.outcome_thresholds [--arch mlp --arch deep] [--seeds 1000]
        [--steps 2001 --steps 10001] [--long 100001]

For each architecture and each --steps, trains the seeds with the study's engine and classifies
them; then trains the seeds left unsolved at the longest --steps on to --long steps (the same
trajectories: a run is deterministic) and prints, for each outcome, how many of its seeds solve by
then. Also prints the smallest loss change on the plateau (ln 2) of a network that did not stop
there, against the rule's still_tolerance. Minutes on a CPU at the defaults (deep is the slow one).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from xorlab.modelrepo import outcomes
from xorlab.modelrepo.spec import XOR_FUNCTION, function_targets
from xorlab.train.batched_trainer import train_batch
from xorlab.train.models import ARCHS

CPU = torch.device("cpu")


def train(name: str, seeds: list[int], steps: int):
    return train_batch(ARCHS[name], seeds, torch.tensor([function_targets(XOR_FUNCTION)] * len(seeds)), steps, 1.0, CPU)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m research.outcome_thresholds", description=__doc__.splitlines()[0])
    p.add_argument("--arch", action="append", help="architecture, repeatable (default: perceptron, mlp, deep)")
    p.add_argument("--seeds", type=int, default=1000, help="seeds 0..N-1 (default 1000)")
    p.add_argument(
        "--steps", type=int, action="append", help="run lengths to classify at, repeatable (default 2001, 10001)"
    )
    p.add_argument(
        "--long", type=int, default=100_001, help="steps the unsolved seeds are trained on to (default 100001)"
    )
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    seeds = list(range(a.seeds))
    for name in a.arch or ["perceptron", "mlp", "deep"]:
        runs = {}
        for steps in sorted(a.steps or [2001, 10_001]):
            started = time.perf_counter()
            batch = train(name, seeds, steps)
            runs[steps] = batch
            outcome = batch.outcome()
            counts = {k: int((outcome == k).sum()) for k in outcomes.OUTCOMES}
            final, change = batch.final_loss.double().numpy(), batch.loss_change.numpy()
            moving = (np.abs(final - math.log(2)) <= outcomes.PLATEAU_TOLERANCE) & (outcome == "unfinished")
            smallest = f"{np.abs(change[moving]).min():.2g}" if moving.any() else "-"
            print(
                f"{name:<12} {steps:>7,} steps: {counts}  smallest change on the plateau, still moving: {smallest} "
                f"(still_tolerance {outcomes.STILL_TOLERANCE:g})  [{time.perf_counter() - started:.0f} s]",
                flush=True,
            )
        last = max(runs)
        unsolved = [s for s in seeds if not bool(runs[last].solved[s])]
        if not unsolved or ARCHS[name].layers == (2, 1):
            continue
        solves = train(name, unsolved, a.long).solved.numpy()
        eventually = np.zeros(len(seeds), dtype=bool)
        eventually[unsolved] = solves
        for steps, batch in runs.items():
            outcome = batch.outcome()
            for kind in ("unfinished", "plateau", "local_minimum"):
                chosen = (outcome == kind) & ~batch.solved.numpy()
                if chosen.any():
                    later = chosen & (batch.solved.numpy() | eventually | runs[last].solved.numpy())
                    print(
                        f"{name:<12} {steps:>7,} steps: {int(chosen.sum()):>4} {kind:<14} of which "
                        f"{int(later.sum())} solve by {a.long:,} steps"
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
