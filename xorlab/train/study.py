"""The many-seed study: every architecture's seeds on XOR and on the other 15 boolean functions,
trained together (batched_trainer.py), summarised into the manifest's records: success rates with
their intervals, steps to solve, final-loss quantiles, outcomes and the capacity table."""

from __future__ import annotations

import time

import numpy as np
import torch

from xorlab.modelrepo import outcomes, records, spec, stats
from xorlab.train.batched_trainer import train_batch
from xorlab.train.config import describe
from xorlab.train.models import ARCHS

LOSS_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def tally(outcome: np.ndarray) -> records.Outcomes:
    """How many runs ended each way, and their shares."""
    n = len(outcome)
    counts = {name: int((outcome == name).sum()) for name in outcomes.OUTCOMES}
    return records.Outcomes(**{name: records.Tally(count=k, share=k / n if n else 0.0) for name, k in counts.items()})


def summarise(
    batch_solved: torch.Tensor, final_loss: torch.Tensor, steps_to_solve: torch.Tensor, outcome: np.ndarray
) -> dict:
    """Successes, Wilson interval, steps to solve, final-loss quantiles and outcomes for one group
    of runs: the fields of `records.ArchitectureStudy` that describe them."""
    n, k = len(batch_solved), int(batch_solved.sum())
    solved_steps = steps_to_solve[batch_solved].float()
    q = torch.quantile(final_loss.double(), torch.tensor(LOSS_QUANTILES, dtype=torch.float64))
    return {
        **stats.rate(k, n),
        "steps_to_solve": (
            records.StepsToSolve(median=float(solved_steps.median()), p90=float(torch.quantile(solved_steps, 0.9)))
            if k
            else records.StepsToSolve(median=None, p90=None)
        ),
        "final_loss_quantiles": {str(p): float(v) for p, v in zip(LOSS_QUANTILES, q, strict=True)},
        "outcomes": tally(outcome),
    }


def run_study(
    archs: list[str], xor_seeds: int, function_seeds: int, steps: int, lr: float, device: torch.device, progress=None
) -> tuple[records.Study, dict]:
    """Every architecture: `xor_seeds` seeds on XOR and `function_seeds` seeds on each of the other
    15 boolean functions, all in one batch per architecture. Returns (the manifest's study,
    raw per-network arrays for the pictures)."""
    # The batch: (function, seed) pairs; XOR's are the main study, seeds 0..xor_seeds-1.
    # Built as tensors: at a GPU's sizes the batch is 2.5 million networks.
    others = [f for f in range(16) if f != spec.XOR_FUNCTION]
    functions = torch.cat(
        [torch.full((xor_seeds,), spec.XOR_FUNCTION), torch.tensor(others).repeat_interleave(function_seeds)]
    )
    seeds = torch.cat([torch.arange(xor_seeds)] + [torch.arange(function_seeds)] * len(others))
    targets = torch.tensor([spec.function_targets(f) for f in range(16)])[functions]  # (B, 4)
    xor = functions == spec.XOR_FUNCTION
    results, raw, started = {}, {}, time.perf_counter()
    for name in archs:
        arch = ARCHS[name]
        batch = train_batch(arch, seeds, targets, steps, lr, device)
        outcome = batch.outcome(xor)  # XOR's networks only: on a GPU the others are 1.5 million more
        capacity = []
        for f in range(16):
            sel = functions == f
            capacity.append(
                records.FunctionRate(function=f, **stats.rate(int(batch.solved[sel].sum()), int(sel.sum())))
            )
        results[name] = records.ArchitectureStudy(
            trainer=arch.trainer,
            layers=list(arch.layers),
            seconds=round(batch.seconds, 2),
            capacity=capacity,
            **summarise(batch.solved[xor], batch.final_loss[xor], batch.steps_to_solve[xor], outcome),
        )
        raw[name] = {
            "solved": batch.solved[xor],
            "final_loss": batch.final_loss[xor],
            "steps_to_solve": batch.steps_to_solve[xor],
            "outcome": outcome,
        }
        if progress:
            progress(name, results[name])
    study = records.Study(
        task="XOR",
        seeds=xor_seeds,
        seed_range=(0, xor_seeds - 1),
        steps=steps,
        lr=lr,
        optimizer="SGD",
        loss="BCE",
        initialisation="torch.nn.Linear default, torch.manual_seed(seed)",
        device=describe(device),
        seconds=round(time.perf_counter() - started, 2),
        outcome_rule=records.OutcomeRule.for_steps(steps),
        functions=records.Functions.of(function_seeds, xor_seeds),
        architectures=results,
    )
    return study, raw
