"""Hand-written backpropagation: the lesson's chain rule on plain tensors, no autograd.

Each op keeps its backward next to its forward (after micrograd's engine.py). Every function works
with or without leading batch dimensions, so the same code trains one network, weights
w (in, out) and b (1, out), or many seeds at once, w (seeds, in, out) and b (seeds, 1, out).

The lesson (the course "Deep Learning for Everyone 2", lab 8, as a blog transcribed it) writes
this loop by hand, and its code does not run as written. What was wrong there, and what is here:
  1. `learning_rate` is never defined -> the `lr` argument (the lab's PyTorch notebooks use 1);
  2. `d_B2` is a typo for `d_b2` (a NameError) -> one name per gradient;
  3. `torch.Tensor(2, 2)` allocates uninitialised memory -> the weights come from nn.Linear's own
     initialisation after the seed (`from_linears`), so a seed means the same network everywhere;
  4. the loss derivative's sign is flipped, `(Y - p) / ...`, so `w - lr * d_w` climbs the loss ->
     dL/dp = (p - y) / (p (1 - p)) / n;
  5. weight gradients are summed over the batch but bias gradients averaged -> both are the
     gradient of the mean loss (divided by n alike);
  6. the updates build an autograd graph -> everything runs under torch.no_grad().
A correct port computes exactly autograd's gradients for the same loss: the tests check that.
"""

from __future__ import annotations

import torch

Params = list[tuple[torch.Tensor, torch.Tensor]]  # [(w, b), ...] per layer


def linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return x @ w + b  # (..., n, out)


def linear_backward(x, w, dz):
    """Gradients of z = x @ w + b given dL/dz (..., n, out)."""
    dw = x.transpose(-1, -2) @ dz  # (..., in, out): summed over the n points
    db = dz.sum(-2, keepdim=True)  # (..., 1, out)
    dx = dz @ w.transpose(-1, -2)  # (..., n, in)
    return dx, dw, db


def sigmoid(z: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(z)


def sigmoid_backward(a: torch.Tensor, da: torch.Tensor) -> torch.Tensor:
    return da * a * (1.0 - a)  # sigma'(z) = sigma(z) (1 - sigma(z)) = a (1 - a)


def bce(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy over the points, as torch.nn.BCELoss (logs clamped at -100)."""
    logs = y * torch.log(p).clamp(min=-100) + (1 - y) * torch.log(1 - p).clamp(min=-100)
    return -logs.mean(dim=(-2, -1))  # (...,): one loss per network


def bce_backward(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """dL/dp for the mean BCE: (p - y) / (p (1 - p)) / n, with autograd's 1e-12 guard."""
    n = p.shape[-2] * p.shape[-1]
    return (p - y) / (p * (1 - p)).clamp(min=1e-12) / n


def forward(params: Params, x: torch.Tensor) -> list[torch.Tensor]:
    """Activations of every layer, the input first: [x, a1, ..., p]."""
    acts = [x]
    for w, b in params:
        acts.append(sigmoid(linear(acts[-1], w, b)))
    return acts


def gradients(params: Params, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, Params]:
    """The loss and its gradient for every (w, b): the chain rule from the output layer back."""
    acts = forward(params, x)
    loss = bce(acts[-1], y)
    da = bce_backward(acts[-1], y)
    grads: Params = []
    for (w, _), a_in, a_out in zip(reversed(params), reversed(acts[:-1]), reversed(acts[1:]), strict=True):
        dz = sigmoid_backward(a_out, da)
        da, dw, db = linear_backward(a_in, w, dz)
        grads.append((dw, db))
    return loss, grads[::-1]


@torch.no_grad()
def sgd_step(params: Params, x: torch.Tensor, y: torch.Tensor, lr: float) -> torch.Tensor:
    """One step of plain gradient descent in place; returns the loss before the step."""
    loss, grads = gradients(params, x, y)
    for (w, b), (dw, db) in zip(params, grads, strict=True):
        w.sub_(lr * dw)
        b.sub_(lr * db)
    return loss


def from_linears(linears) -> Params:
    """(w, b) per layer from nn.Linear modules: w = weight.T (in, out), b (1, out); copies."""
    return [(lin.weight.detach().t().contiguous().clone(), lin.bias.detach().unsqueeze(0).clone()) for lin in linears]


@torch.no_grad()
def to_linears(params: Params, linears) -> None:
    """Write (w, b) back into nn.Linear modules (for export)."""
    for (w, b), lin in zip(params, linears, strict=True):
        lin.weight.copy_(w.t())
        lin.bias.copy_(b.squeeze(0))
