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
    """The loss became NaN or infinite: nothing is published."""


@dataclass
class Trained:
    arch: Arch
    model: MLP                       # eager model on the CPU, holding the final weights
    final_loss: float
    outputs: list[float]             # P(y=1) for the four truth-table rows
    curve_steps: list[int]
    curve_loss: list[float]
    seconds: float
    outcome: outcomes.Outcome = "solved"   # solved, unfinished, plateau or local_minimum (modelrepo.outcomes)

    @property
    def accuracy(self) -> float:
        return sum((o > 0.5) == bool(t) for o, t in zip(self.outputs, spec.XOR)) / 4

    @property
    def solved(self) -> bool:
        return self.accuracy == 1.0


def _seed(seed: int) -> None:
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)  # explicit, as the lab's notebooks do (no-op without CUDA)


def fit(name: str, cfg: TrainConfig, device: torch.device, position: int = 0) -> Trained:
    arch = ARCHS[name]
    _seed(cfg.seed)
    model = build(arch, cfg.seed)            # same initial weights on every device
    X, Y = xor_table(device)                 # X (4, 2), Y (4, 1)
    steps, losses = [], []
    started = time.perf_counter()
    bar = tqdm(total=cfg.steps, desc=f"{name:>12}", position=position, leave=True,
               disable=None, mininterval=0.25, unit="step")

    def record(step: int, loss: torch.Tensor) -> None:
        value = loss.item()                  # one device sync per recorded step only
        if not math.isfinite(value):
            raise TrainingDiverged(f"{name}: loss became {value} at step {step} (lr={cfg.lr}); nothing was published")
        if step % cfg.curve_every == 0 or step == cfg.steps - 1:
            steps.append(step)
            losses.append(value)
        if cfg.log_every and step % cfg.log_every == 0:
            tqdm.write(f"{name} {step} {value}")

    def watch(step: int) -> bool:
        return step % cfg.curve_every == 0 or step == cfg.steps - 1 or bool(cfg.log_every and step % cfg.log_every == 0)

    # The loss a window before the end, in float64 as the study takes it: against the final one it
    # tells a run that is stuck from one still improving.
    earlier_step, earlier = cfg.steps - outcomes.window(cfg.steps), math.nan

    def bce64(p: torch.Tensor) -> float:
        return torch.nn.functional.binary_cross_entropy(p.detach().double(), Y.double()).item()

    step = 0
    try:
        if arch.trainer == "backprop":
            params = [(w.to(device), b.to(device)) for w, b in backprop.from_linears(model.linears)]
            for step in range(cfg.steps):
                signals.check()
                if step == earlier_step:
                    earlier = bce64(backprop.forward(params, X)[-1])
                loss = backprop.sgd_step(params, X, Y, cfg.lr)
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
                out = model(X)
                if step == earlier_step:
                    earlier = bce64(out)
                cost = criterion(out, Y)
                cost.backward()
                optimizer.step()
                if watch(step):
                    record(step, cost.detach())
                    bar.update(step + 1 - bar.n)
            model.cpu()
    except RuntimeError as e:
        # BCELoss refuses probabilities outside [0, 1]; NaN weights produce exactly that.
        if all(torch.isfinite(p).all() for p in model.parameters()):
            raise
        raise TrainingDiverged(f"{name}: weights became non-finite at step {step} (lr={cfg.lr}); "
                               "nothing was published") from e
    bar.update(cfg.steps - bar.n)
    bar.close()

    model.eval()
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        raise TrainingDiverged(f"{name}: weights became non-finite (lr={cfg.lr}); nothing was published")
    with torch.no_grad():
        Xc, Yc = xor_table("cpu")
        out = model(Xc)
        final = torch.nn.functional.binary_cross_entropy(out, Yc).item()
    if not math.isfinite(final):
        raise TrainingDiverged(f"{name}: final loss is {final}; nothing was published")
    outputs = out.squeeze(1).tolist()
    trained = Trained(arch, model, final, outputs, steps, losses, time.perf_counter() - started)
    final64 = torch.nn.functional.binary_cross_entropy(out.double(), Yc.double()).item()
    trained.outcome = outcomes.outcome(trained.solved, final, earlier - final64)
    return trained
