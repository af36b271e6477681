"""Fit one architecture on the XOR truth table: the lesson's loop, on any device."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from tqdm import tqdm

from xorlab.modelrepo import outcomes, spec
from xorlab.train import backprop, signals
from xorlab.train.config import TrainConfig
from xorlab.train.data import xor_table
from xorlab.train.models import ARCHS, MLP, Arch, build


class TrainingDiverged(ArithmeticError):
    """Training diverged (see `diverged`): nothing is published."""


def diverged(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Which networks diverged, from their truth-table outputs and targets (..., 4): bool (...,).

    Diverged means a non-finite output, or an output saturated at the wrong extreme: exactly 0.0
    where the target is 1, or exactly 1.0 where it is 0 (float32). There BCE's log is clamped at
    -100, the row adds 25 to the mean loss (`--lr 1e30` ends with every output 0 and loss 50.0), and
    its gradient through BCELoss's 1e-12 guard is 0: the row has stopped learning. At the lesson's
    settings no output comes near: an exact 1.0 needs a logit above 17, an exact 0.0 one below -88.
    """
    return ~torch.isfinite(outputs).all(-1) | (outputs == 1 - targets).any(-1)


def _finite_probabilities(p: torch.Tensor) -> torch.Tensor:
    """p with NaN replaced by 0.5 before BCELoss sees it: on CUDA, BCELoss on a NaN is a device-side
    assert that kills the process's CUDA context, not an exception. The run is stopped at the next
    recorded step, which looks at p itself. For finite p this is the identity, forward and backward
    (the gradient is multiplied by isfinite(p) = 1), so the lesson's figures are unchanged bit for bit."""
    return torch.nan_to_num(p, nan=0.5, posinf=1.0, neginf=0.0)


@dataclass
class Trained:
    arch: Arch
    model: MLP  # eager model on the CPU, holding the final weights
    final_loss: float
    outputs: list[float]  # P(y=1) for the four truth-table rows
    curve_steps: list[int]
    curve_loss: list[float]
    seconds: float
    outcome: outcomes.Outcome = "solved"  # solved, unfinished, plateau or local_minimum (modelrepo.outcomes)

    @property
    def accuracy(self) -> float:
        return sum((o > 0.5) == bool(t) for o, t in zip(self.outputs, spec.XOR, strict=True)) / 4

    @property
    def solved(self) -> bool:
        return self.accuracy == 1.0


def _seed(seed: int) -> None:
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)  # explicit, as the lab's notebooks do (no-op without CUDA)


def fit(name: str, cfg: TrainConfig, device: torch.device, position: int = 0) -> Trained:
    arch = ARCHS[name]
    _seed(cfg.seed)
    model = build(arch, cfg.seed)  # same initial weights on every device
    X, Y = xor_table(device)  # X (4, 2), Y (4, 1)
    steps, losses = [], []
    started = time.perf_counter()
    bar = tqdm(
        total=cfg.steps, desc=f"{name:>12}", position=position, leave=True, disable=None, mininterval=0.25, unit="step"
    )

    def record(step: int, loss: torch.Tensor, outputs: torch.Tensor | None = None) -> None:
        # One device sync per recorded step only: the loss and, for the autograd loop, the outputs.
        values = torch.cat([loss.reshape(1)] + ([] if outputs is None else [outputs.reshape(-1)])).tolist()
        value = values[0]
        if not all(math.isfinite(v) for v in values):
            raise TrainingDiverged(
                f"{name}: weights became non-finite at step {step} (lr={cfg.lr}); nothing was published"
            )
        if step % cfg.curve_every == 0 or step == cfg.steps - 1:
            steps.append(step)
            losses.append(value)
        if cfg.log_every and step % cfg.log_every == 0:
            tqdm.write(f"{name} {step} {value}")

    def watch(step: int) -> bool:
        return step % cfg.curve_every == 0 or step == cfg.steps - 1 or bool(cfg.log_every and step % cfg.log_every == 0)

    # The loss a window before the end, in float64 as the study takes it: against the final one it
    # tells a run that is stuck from one still improving (modelrepo.outcomes).
    earlier_step, earlier = cfg.steps - outcomes.window(cfg.steps), math.nan

    def bce64(p: torch.Tensor, y: torch.Tensor = Y) -> float:
        return torch.nn.functional.binary_cross_entropy(_finite_probabilities(p.detach()).double(), y.double()).item()

    if arch.trainer == "backprop":
        params = [(w.to(device), b.to(device)) for w, b in backprop.from_linears(model.linears)]
        for step in range(cfg.steps):
            signals.check()
            if step == earlier_step:
                earlier = bce64(backprop.forward(params, X)[-1])
            loss = backprop.sgd_step(params, X, Y, cfg.lr)  # its own BCE: NaN in, NaN out, no assert
            if watch(step):
                record(step, loss)
                bar.update(step + 1 - bar.n)
        backprop.to_linears([(w.cpu(), b.cpu()) for w, b in params], model.linears)
    else:
        model.to(device)
        criterion = torch.nn.BCELoss()
        optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr)
        for step in range(cfg.steps):
            signals.check()
            optimizer.zero_grad()
            hypothesis = model(X)
            if step == earlier_step:
                earlier = bce64(hypothesis)
            cost = criterion(_finite_probabilities(hypothesis), Y)
            cost.backward()
            optimizer.step()
            if watch(step):
                record(step, cost.detach(), hypothesis.detach())
                bar.update(step + 1 - bar.n)
        model.cpu()
    bar.update(cfg.steps - bar.n)
    bar.close()

    model.eval()
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        raise TrainingDiverged(f"{name}: weights became non-finite (lr={cfg.lr}); nothing was published")
    with torch.no_grad():
        Xc, Yc = xor_table("cpu")
        out = model(Xc)
        final = torch.nn.functional.binary_cross_entropy(_finite_probabilities(out), Yc).item()
    if bool(diverged(out.squeeze(1), Yc.squeeze(1))) or not math.isfinite(final):
        outputs = ", ".join(f"{o:.9g}" for o in out.squeeze(1).tolist())
        targets = ", ".join(f"{t:g}" for t in Yc.squeeze(1).tolist())
        raise TrainingDiverged(
            f"{name}: diverged (lr={cfg.lr}): final outputs {outputs} for targets {targets} "
            f"(loss {final:g}) are saturated at the wrong extreme or not finite; nothing was published"
        )
    trained = Trained(arch, model, final, out.squeeze(1).tolist(), steps, losses, time.perf_counter() - started)
    final64 = bce64(out, Yc)  # out is finite here: the same loss as `earlier`'s, taken the same way
    trained.outcome = outcomes.outcome(trained.solved, final, earlier - final64)
    return trained
