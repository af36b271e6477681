"""The lab's networks: stacks of Linear + Sigmoid, built in the lesson's order so a seed gives the
lesson's initial weights."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Arch:
    name: str
    layers: tuple[int, ...]  # widths from input to output, e.g. (2, 2, 1)
    trainer: str  # "autograd" or "backprop" (hand-written chain rule)
    description: str


ARCHS: dict[str, Arch] = {
    a.name: a
    for a in [
        Arch("perceptron", (2, 1), "autograd", "single layer: one line, cannot separate XOR"),
        Arch("mlp", (2, 2, 1), "autograd", "one hidden layer of 2 sigmoid units"),
        Arch("mlp-backprop", (2, 2, 1), "backprop", "the same 2-2-1 net, hand-written backpropagation"),
        Arch("deep", (2, 10, 10, 10, 1), "autograd", "three hidden layers of 10 sigmoid units"),
    ]
}


class MLP(nn.Module):
    """Linear -> Sigmoid for every layer, the output layer included (outputs are P(y=1))."""

    def __init__(self, layers: tuple[int, ...]):
        super().__init__()
        # nn.Linear draws its weights from the global generator in construction order, exactly as
        # the lesson's `torch.nn.Linear(2, 2); torch.nn.Linear(2, 1)` after torch.manual_seed(seed).
        self.linears = nn.ModuleList(nn.Linear(i, o) for i, o in zip(layers[:-1], layers[1:], strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x (batch, 2) -> (batch, 1)
        for linear in self.linears:
            x = torch.sigmoid(linear(x))
        return x


def build(arch: Arch, seed: int) -> MLP:
    """A freshly initialised network for `seed` (on the CPU, so every device starts the same)."""
    torch.manual_seed(seed)
    return MLP(arch.layers)


def parameter_count(layers: tuple[int, ...]) -> int:
    return sum(i * o + o for i, o in zip(layers[:-1], layers[1:], strict=True))
