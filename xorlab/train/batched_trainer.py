"""The study's engine: train B networks of one architecture at once as batched tensors.

One program over a batch of B networks (seeds, and for the capacity table, boolean functions),
not a Python loop over seeds. The seed axis is the *last* axis of every tensor:
  activations a (4, width, B), weights w (in, out, B), biases b (out, B), targets Y (4, 1, B).
The layers are a few units wide, so each product is written out over the short axes: a layer is
`in` multiply-adds of (4, 1, B) columns into (4, out, B), every one a long vectorised loop over the
seeds. Matmuls or reductions over such short axes run tiny loops per seed, many times slower
(docs/benchmarks.md, training speed).

Seed k's initial weights are exactly a single run's (`models.build(arch, k)`), and the step is the
single-model trainer's arithmetic written out by hand: autograd's BCELoss and sigmoid backward
formulas (its 1e-12 guard included) for the autograd architectures, train/backprop.py's for the
hand-written one, and SGD's update. Only the order of the few additions inside a matmul differs, so
network k follows the single run with seed k (within 1e-5, tested). No autograd: a step is a fixed
list of in-place kernels on buffers allocated once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from xorlab.modelrepo import outcomes, spec
from xorlab.train import signals
from xorlab.train.initial_weights import Params, initial_params
from xorlab.train.models import Arch
from xorlab.train.trainer import TrainingDiverged, diverged

CHECK_EVERY = 100  # steps between checks for Ctrl-C and non-finite values (a host sync on a GPU)
BCE_GUARD = 1e-12  # autograd's BCELoss backward divides by max(p (1 - p), 1e-12)


@dataclass
class Batch:
    """Final state of B networks trained together."""

    final_loss: torch.Tensor  # (B,)
    outputs: torch.Tensor  # (B, 4): P(y=1) per truth-table row
    solved: torch.Tensor  # (B,) bool: all four rows right at threshold 0.5
    steps_to_solve: torch.Tensor  # (B,) long: first step from which all four rows stay right; -1 if never
    loss_change: torch.Tensor  # (B,) float64: how much the loss fell over the last outcomes.window(steps) steps
    seconds: float

    def outcome(self, select: torch.Tensor | None = None) -> np.ndarray:
        """Each network's outcome (those `select` keeps, if given): solved, unfinished, plateau or local_minimum."""
        keep = slice(None) if select is None else select
        return outcomes.classify(
            self.solved[keep].numpy(), self.final_loss[keep].numpy(), self.loss_change[keep].numpy()
        )


class Networks:
    """B networks of one architecture trained together, seeds last.

    Every buffer a step needs is allocated here once and `step()` only runs in-place kernels on them:
    no allocation, no host sync and no Python state that changes from one step to the next, so the
    same code runs eagerly on any device and could be captured as a CUDA graph.
    """

    def __init__(self, params: Params, X: torch.Tensor, Y: torch.Tensor, lr: float, trainer: str):
        self.params, self.Y, self.lr = params, Y, lr  # Y (4, 1, B)
        self.backprop = trainer == "backprop"
        rows, B = Y.shape[0], Y.shape[-1]
        device = Y.device
        widths = [w.shape[1] for w, _ in params]
        self.acts = [X.unsqueeze(-1)] + [torch.empty(rows, o, B, device=device) for o in widths]  # (4, width, B)
        self.dz = [torch.empty(rows, o, B, device=device) for o in widths]  # dL/dz per layer
        self.grads = [(torch.empty_like(w), torch.empty_like(b)) for w, b in params]
        self.one_minus = [torch.empty(rows, o, B, device=device) for o in widths]  # 1 - a, per layer
        self.guard = torch.empty(rows, 1, B, device=device)  # max(p (1 - p), 1e-12)
        # Scalars as 0-d tensors: a Python number in an in-place op is converted to a tensor on every call.
        self.one, self.half = torch.tensor(1.0, device=device), torch.tensor(0.5, device=device)
        self.one_step = torch.tensor(1, dtype=torch.int32, device=device)
        self.mean = torch.tensor(1 / rows, device=device)  # BCE's mean over the 4 rows
        self.lr_t = torch.tensor(lr, device=device)
        self.target = Y > 0.5  # (4, 1, B) bool
        self.above = torch.empty(rows, 1, B, dtype=torch.bool, device=device)
        self.right = torch.empty(rows, 1, B, dtype=torch.int32, device=device)  # 1 where the row is right
        self.streak = torch.zeros(rows, 1, B, dtype=torch.int32, device=device)  # steps each row has been right, to now
        # Views of the short axes, taken once: columns a[:, i] (4, 1, B), rows a[n] (in, 1, B),
        # w[i] (out, B), w[:, o] (in, B).
        self.cols = [[a[:, i : i + 1] for i in range(a.shape[1])] for a in self.acts[:-1]]
        self.a_rows = [[a[n].unsqueeze(1) for n in range(rows)] for a in self.acts[:-1]]
        self.dz_rows = [[d[n].unsqueeze(0) for n in range(rows)] for d in self.dz]
        self.dz_cols = [[d[:, o : o + 1] for o in range(d.shape[1])] for d in self.dz]
        self.w_rows = [[w[i] for i in range(w.shape[0])] for w, _ in params]
        self.w_cols = [[w[:, o] for o in range(w.shape[1])] for w, _ in params]

    def forward(self) -> torch.Tensor:
        """a = sigmoid(a_in @ w + b) layer by layer, into self.acts; returns p (4, 1, B)."""
        for layer, (_w, b) in enumerate(self.params):
            a, cols, w_rows = self.acts[layer + 1], self.cols[layer], self.w_rows[layer]
            torch.addcmul(b, cols[0], w_rows[0], out=a)  # (4, out, B)
            for col, w_row in zip(cols[1:], w_rows[1:], strict=True):
                a.addcmul_(col, w_row)
            a.sigmoid_()
        return self.acts[-1]

    def _sigmoid_backward(self, layer: int) -> None:
        """dz = da * a (1 - a) in place, in the order of the trainer mirrored."""
        a, one_minus, dz = self.acts[layer + 1], self.one_minus[layer], self.dz[layer]
        torch.sub(self.one, a, out=one_minus)
        if self.backprop:
            dz.mul_(a).mul_(one_minus)  # backprop.sigmoid_backward: da * a * (1 - a)
        else:
            dz.mul_(one_minus).mul_(a)  # autograd's sigmoid_backward: da * (1 - a) * a

    def step(self) -> None:
        """One SGD step of every network: forward, BCE's gradient, backward, update, and the
        steps-to-solve bookkeeping on the outputs before the update."""
        p, Y, last = self.forward(), self.Y, len(self.params) - 1
        # Which rows are right, as the lesson counts them: (p > 0.5) == y. A row's streak restarts at 0 when wrong.
        torch.gt(p, self.half, out=self.above)
        torch.eq(self.above, self.target, out=self.right)
        self.streak.add_(self.one_step).mul_(self.right)
        # dL/dp of the mean BCE over 4 rows, as BCELoss's backward: (p - y) / max((1 - p) p, 1e-12) / 4.
        dp = self.dz[last]
        torch.sub(p, Y, out=dp)
        torch.sub(self.one, p, out=self.one_minus[last])
        torch.mul(self.one_minus[last], p, out=self.guard).clamp_min_(BCE_GUARD)
        dp.div_(self.guard).mul_(self.mean)
        # The output sigmoid (the factors do not cancel exactly in float32: kept as the trainers compute them).
        if self.backprop:
            dp.mul_(p).mul_(self.one_minus[last])
        else:
            dp.mul_(self.one_minus[last]).mul_(p)
        for layer in range(last, -1, -1):
            w, b = self.params[layer]
            dw, db = self.grads[layer]
            a_rows, dz_rows, dz = self.a_rows[layer], self.dz_rows[layer], self.dz[layer]
            torch.mul(a_rows[0], dz_rows[0], out=dw)  # dw = a_in^T dz: (in, out, B)
            for a_row, dz_row in zip(a_rows[1:], dz_rows[1:], strict=True):
                dw.addcmul_(a_row, dz_row)
            torch.sum(dz, 0, out=db)  # (out, B)
            if layer:  # da = dz w^T, w before its update
                da, dz_cols, w_cols = self.dz[layer - 1], self.dz_cols[layer], self.w_cols[layer]
                torch.mul(dz_cols[0], w_cols[0], out=da)  # (4, in, B)
                for dz_col, w_col in zip(dz_cols[1:], w_cols[1:], strict=True):
                    da.addcmul_(dz_col, w_col)
                self._sigmoid_backward(layer - 1)
            if self.backprop:  # backprop.sgd_step: w -= lr * dw
                if self.lr != 1:
                    dw.mul_(self.lr_t)
                    db.mul_(self.lr_t)
                w.sub_(dw)
                b.sub_(db)
            else:  # torch.optim.SGD: w += -lr * dw
                w.add_(dw, alpha=-self.lr)
                b.add_(db, alpha=-self.lr)


def bce(p: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Mean BCE per network, as torch.nn.BCELoss (logs clamped at -100): (4, 1, B) -> (B,)."""
    logs = Y * torch.log(p).clamp(min=-100) + (1 - Y) * torch.log(1 - p).clamp(min=-100)
    return -logs.mean(dim=(0, 1))


def train_batch(
    arch: Arch,
    seeds: Sequence[int] | torch.Tensor,
    targets: torch.Tensor,
    steps: int,
    lr: float,
    device: torch.device,
    trainer: str | None = None,
) -> Batch:
    """Train len(seeds) networks of `arch` together; targets (B, 4), one truth table per network.
    `trainer` picks whose arithmetic the step mirrors (default: the architecture's own)."""
    started = time.perf_counter()
    X = torch.tensor(spec.INPUTS, device=device)  # (4, 2): shared by every network
    Y = targets.to(device=device, dtype=torch.float32).t().unsqueeze(1).contiguous()  # (4, 1, B)
    nets = Networks(initial_params(arch, seeds, device), X, Y, lr, trainer or arch.trainer)
    # The loss a window before the end, against the final one, tells a stuck network from one still
    # improving (modelrepo.outcomes): one extra forward pass, once, in float64.
    earlier_step = steps - outcomes.window(steps)
    earlier_loss = torch.full((Y.shape[-1],), float("nan"), dtype=torch.float64, device=device)
    with torch.inference_mode():
        for done in range(0, steps, CHECK_EVERY):
            for step in range(done, min(done + CHECK_EVERY, steps)):
                if step == earlier_step:
                    earlier_loss = bce(nets.forward().double(), Y.double())
                nets.step()
            signals.check()
            if not bool(torch.isfinite(nets.acts[-1]).all()):  # NaN never recovers: stop at once
                break
        p = nets.forward()  # after the last update
        final_loss = bce(p, Y)
        # In float64 from the float32 outputs: a network whose outputs no longer change shows exactly 0.
        loss_change = earlier_loss - bce(p.double(), Y.double())
        outputs = p[:, 0, :].t()  # (B, 4)
        solved = torch.eq(torch.gt(p, 0.5), nets.target).all(dim=0).squeeze(0)
        streak = nets.streak.amin(dim=0).squeeze(0).long()  # steps all four rows have been right, to the last
        steps_to_solve = torch.where(solved, steps - streak, -1)
        bad = diverged(outputs, targets.to(device=device, dtype=torch.float32))
        for w, b in nets.params:
            bad |= ~torch.isfinite(w).all(dim=(0, 1)) | ~torch.isfinite(b).all(dim=0)
    if bad.any():
        raise TrainingDiverged(
            f"study: {arch.name}: {int(bad.sum())} of {len(seeds)} networks diverged (lr={lr}): "
            "non-finite values or an output saturated at the wrong extreme; nothing was published"
        )
    return Batch(
        final_loss.cpu(),
        outputs.cpu(),
        solved.cpu(),
        steps_to_solve.cpu(),
        loss_change.cpu(),
        time.perf_counter() - started,
    )
