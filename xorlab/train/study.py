"""The many-seed study: train N seeds of every architecture at once as batched tensors.

One program over a batch of B networks (seeds, and for the capacity table, boolean functions),
not a Python loop over seeds. The seed axis is the *last* axis of every tensor:
  activations a (4, width, B), weights w (in, out, B), biases b (out, B), targets Y (4, 1, B).
The layers are a few units wide, so `a @ w` is a broadcast product summed over `in`; with the
seeds contiguous each kernel is one long vectorised loop, where a batched matmul or a reduction
over a short last axis runs tiny loops per seed (10-20x slower measured on this CPU).

Seed k's initial weights are exactly a single run's (`models.build(arch, k)`), and each network's
update uses only its own gradient, so network k follows the single-model trainer's trajectory.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from xorlab.modelrepo import outcomes, records, spec, stats
from xorlab.train import signals
from xorlab.train.models import ARCHS, Arch, build


@dataclass
class Batch:
    """Final state of B networks trained together."""
    final_loss: torch.Tensor      # (B,)
    outputs: torch.Tensor         # (B, 4): P(y=1) per truth-table row
    solved: torch.Tensor          # (B,) bool: all four rows right at threshold 0.5
    steps_to_solve: torch.Tensor  # (B,) long: first step from which all four rows stay right; -1 if never
    loss_change: torch.Tensor     # (B,) float64: how much the loss fell over the last outcomes.window(steps) steps
    seconds: float

    def outcome(self) -> np.ndarray:
        """(B,) each network's outcome: solved, unfinished, plateau or local_minimum."""
        return outcomes.classify(self.solved.numpy(), self.final_loss.numpy(), self.loss_change.numpy())


Params = list[tuple[torch.Tensor, torch.Tensor]]


def initial_params(arch: Arch, seeds: list[int], device: torch.device) -> Params:
    """Stacked initial weights, seeds last: w (in, out, B), b (out, B)."""
    nets = [build(arch, s).linears for s in seeds]   # initialisation only; training is batched
    return [(torch.stack([n[i].weight.detach().t() for n in nets], -1).to(device),
             torch.stack([n[i].bias.detach() for n in nets], -1).to(device))
            for i in range(len(arch.layers) - 1)]


def linear(a: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """z = a @ w + b per network: (4, in, B) x (in, out, B) -> (4, out, B)."""
    return (a.unsqueeze(2) * w.unsqueeze(0)).sum(1) + b


def forward(params: Params, X: torch.Tensor) -> list[torch.Tensor]:
    acts = [X.unsqueeze(-1)]                                    # (4, 2, 1): shared by every network
    for w, b in params:
        acts.append(torch.sigmoid(linear(acts[-1], w, b)))
    return acts


def bce(p: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Mean BCE per network, as torch.nn.BCELoss (logs clamped at -100): (4, 1, B) -> (B,)."""
    logs = Y * torch.log(p).clamp(min=-100) + (1 - Y) * torch.log(1 - p).clamp(min=-100)
    return -logs.mean(dim=(0, 1))


def backprop_step(params: Params, X: torch.Tensor, Y: torch.Tensor, lr: float) -> torch.Tensor:
    """The hand-written trainer's step for every network at once (no autograd). Returns p before it.

    At the output, BCE's dL/dp = (p - y) / (p (1 - p)) / n times the sigmoid's p (1 - p) is
    (p - y) / n: train/backprop.py's chain rule, with the factors that cancel cancelled.
    """
    acts = forward(params, X)
    p = acts[-1]                                                # (4, 1, B)
    dz = (p - Y) / 4                                            # dL/dz at the output layer
    for i in range(len(params) - 1, -1, -1):
        w, b = params[i]
        a_in = acts[i]                                          # (4, in, B)
        dw = (a_in.unsqueeze(2) * dz.unsqueeze(1)).sum(0)       # (in, out, B): a_in^T dz
        db = dz.sum(0)                                          # (out, B)
        if i:                                                   # the input layer needs no dx
            da = (dz.unsqueeze(1) * w.unsqueeze(0)).sum(2)      # (4, in, B): dz w^T, w before its update
            dz = da * a_in * (1 - a_in)                         # through the sigmoid
        w.add_(dw, alpha=-lr)
        b.add_(db, alpha=-lr)
    return p


def autograd_step(params: Params, X: torch.Tensor, Y: torch.Tensor, lr: float) -> torch.Tensor:
    """The single-model trainer's step (BCE + SGD) for every network at once, through autograd.

    The sum of independent per-network losses has, for each network, exactly its own gradient.
    """
    for w, b in params:
        w.grad = b.grad = None
    p = forward(params, X)[-1]
    torch.nn.functional.binary_cross_entropy(p, Y, reduction="none").mean(dim=(0, 1)).sum().backward()
    with torch.no_grad():
        for w, b in params:
            w.add_(w.grad, alpha=-lr)
            b.add_(b.grad, alpha=-lr)
    return p.detach()


def train_batch(arch: Arch, seeds: list[int], targets: torch.Tensor, steps: int, lr: float,
                device: torch.device, engine: str | None = None) -> Batch:
    """Train len(seeds) networks of `arch` together; targets (B, 4), one truth table per network."""
    started = time.perf_counter()
    X = torch.tensor(spec.INPUTS, device=device)                # (4, 2)
    Y = targets.to(device=device, dtype=torch.float32).t().unsqueeze(1).contiguous()  # (4, 1, B)
    params = initial_params(arch, seeds, device)
    autograd = (engine or arch.trainer) == "autograd"
    for w, b in params:
        w.requires_grad_(autograd)
        b.requires_grad_(autograd)
    step_fn = autograd_step if autograd else backprop_step
    last_wrong = torch.full((len(seeds),), -1, dtype=torch.long, device=device)
    earlier_step = steps - outcomes.window(steps)
    with torch.inference_mode(not autograd):
        for step in range(steps):
            signals.check()
            p = step_fn(params, X, Y, lr)
            # p is the output before this step's update: were all four rows right at `step`?
            wrong = ((p - Y).abs() >= 0.5).any(dim=0).squeeze(0)           # (B,)
            last_wrong = torch.where(wrong, step, last_wrong)
            if step == earlier_step:   # the loss a window before the end, to tell stuck from still improving
                earlier_loss = bce(p.detach().double(), Y.double())
    with torch.no_grad():
        params = [(w.detach(), b.detach()) for w, b in params]
        p = forward(params, X)[-1]                              # after the last update
        final_loss = bce(p, Y)
        # In float64 from the float32 outputs: a network whose outputs no longer change shows exactly 0.
        loss_change = earlier_loss - bce(p.double(), Y.double())
        solved = ((p - Y).abs() < 0.5).all(dim=0).squeeze(0)
        last_wrong = torch.where(solved, last_wrong, steps)
        steps_to_solve = torch.where(solved, last_wrong + 1, -1)
    if not torch.isfinite(final_loss).all():
        bad = int((~torch.isfinite(final_loss)).sum())
        raise ArithmeticError(f"study: {arch.name}: {bad} networks ended with a non-finite loss (lr={lr})")
    return Batch(final_loss.cpu(), p[:, 0, :].t().cpu(), solved.cpu(), steps_to_solve.cpu(), loss_change.cpu(),
                 time.perf_counter() - started)


LOSS_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def tally(outcome: np.ndarray) -> records.Outcomes:
    """How many runs ended each way, and their shares."""
    n = len(outcome)
    counts = {name: int((outcome == name).sum()) for name in outcomes.OUTCOMES}
    return records.Outcomes(**{name: records.Tally(count=k, share=k / n if n else 0.0) for name, k in counts.items()})


def summarise(batch_solved: torch.Tensor, final_loss: torch.Tensor, steps_to_solve: torch.Tensor,
              outcome: np.ndarray) -> dict:
    """Successes, Wilson interval, steps to solve, final-loss quantiles and outcomes for one group
    of runs: the fields of `records.ArchitectureStudy` that describe them."""
    n, k = len(batch_solved), int(batch_solved.sum())
    solved_steps = steps_to_solve[batch_solved].float()
    q = torch.quantile(final_loss.double(), torch.tensor(LOSS_QUANTILES, dtype=torch.float64))
    return {
        **stats.rate(k, n),
        "steps_to_solve": (records.StepsToSolve(median=float(solved_steps.median()), p90=float(torch.quantile(solved_steps, 0.9)))
                           if k else records.StepsToSolve(median=None, p90=None)),
        "final_loss_quantiles": {str(p): float(v) for p, v in zip(LOSS_QUANTILES, q)},
        "outcomes": tally(outcome),
    }


def run_study(archs: list[str], xor_seeds: int, function_seeds: int, steps: int, lr: float,
              device: torch.device, progress=None) -> tuple[records.Study, dict]:
    """Every architecture: `xor_seeds` seeds on XOR and `function_seeds` seeds on each of the other
    15 boolean functions, all in one batch per architecture. Returns (the manifest's study,
    raw per-network arrays for the pictures)."""
    # The batch: (function, seed) pairs; XOR's are the main study, seeds 0..xor_seeds-1.
    pairs = [(spec.XOR_FUNCTION, s) for s in range(xor_seeds)]
    pairs += [(f, s) for f in range(16) if f != spec.XOR_FUNCTION for s in range(function_seeds)]
    functions = torch.tensor([f for f, _ in pairs])
    targets = torch.tensor([spec.function_targets(f) for f, _ in pairs])   # (B, 4)
    seeds = [s for _, s in pairs]
    results, raw, started = {}, {}, time.perf_counter()
    for name in archs:
        arch = ARCHS[name]
        batch = train_batch(arch, seeds, targets, steps, lr, device)
        xor = functions == spec.XOR_FUNCTION
        outcome = batch.outcome()[xor.numpy()]
        capacity = []
        for f in range(16):
            sel = functions == f
            capacity.append(records.FunctionRate(function=f, **stats.rate(int(batch.solved[sel].sum()), int(sel.sum()))))
        results[name] = records.ArchitectureStudy(
            trainer=arch.trainer, layers=list(arch.layers), seconds=round(batch.seconds, 2), capacity=capacity,
            **summarise(batch.solved[xor], batch.final_loss[xor], batch.steps_to_solve[xor], outcome))
        raw[name] = {"solved": batch.solved[xor], "final_loss": batch.final_loss[xor],
                     "steps_to_solve": batch.steps_to_solve[xor], "outcome": outcome}
        if progress:
            progress(name, results[name])
    study = records.Study(
        task="XOR", seeds=xor_seeds, seed_range=(0, xor_seeds - 1), steps=steps, lr=lr, optimizer="SGD", loss="BCE",
        initialisation="torch.nn.Linear default, torch.manual_seed(seed)", device=str(device),
        seconds=round(time.perf_counter() - started, 2),
        outcome_rule=records.OutcomeRule(window=outcomes.window(steps), plateau_tolerance=outcomes.PLATEAU_TOLERANCE,
                                         still_tolerance=outcomes.STILL_TOLERANCE,
                                         relative_tolerance=outcomes.RELATIVE_TOLERANCE),
        functions=records.Functions(seeds_per_function=function_seeds, xor_seeds=xor_seeds,
                                    names=list(spec.FUNCTION_NAMES),
                                    truth_tables=[spec.function_targets(f) for f in range(16)],
                                    linearly_separable=[spec.linearly_separable(f) for f in range(16)]),
        architectures=results,
    )
    return study, raw
