"""The study's initial weights: nn.Linear's initialisation for every seed at once, seeds last, bit
for bit what `models.build(arch, seed)` draws, so that network k of a batch starts where the single
run with seed k does."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from xorlab.train.models import Arch, build
from xorlab.train.torch_rng import mt19937, uniform

Params = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: w (in, out, B), b (out, B)


def _linear_bounds(fan_in: int) -> tuple[float, float]:
    """nn.Linear.reset_parameters: kaiming_uniform_(a=sqrt(5)) for the weight, 1/sqrt(fan_in) for the bias."""
    std = torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5)) / math.sqrt(fan_in)
    return math.sqrt(3.0) * std, 1 / math.sqrt(fan_in)


def _drawn_params(arch: Arch, seeds: torch.Tensor, device: torch.device, chunk: int | None = None) -> Params:
    """Seed-by-seed nn.Linear initial weights, computed for all seeds at once on `device`, `chunk`
    seeds at a time: on the CPU few enough that the ~900 temporaries stay in cache, on a GPU enough
    to fill it."""
    chunk = chunk or (1 << 18 if device.type == "cuda" else 1 << 14)
    unique, inverse = torch.unique(seeds, return_inverse=True)
    sizes = list(zip(arch.layers[:-1], arch.layers[1:], strict=True))
    draws = sum(i * o + o for i, o in sizes)  # nn.Linear draws its weight (out, in), then its bias
    parts = []
    for start in range(0, len(unique), chunk):  # under 8 KB a seed in flight
        raw, k, layers = mt19937(unique[start : start + chunk].to(device), draws), 0, []
        for i, o in sizes:
            w_bound, b_bound = _linear_bounds(i)
            w = uniform(raw[k : k + i * o], w_bound).view(o, i, -1).transpose(0, 1)  # (in, out, U)
            layers.append((w, uniform(raw[k + i * o : k + i * o + o], b_bound)))  # (out, U)
            k += i * o + o
        parts.append(layers)
    inverse = inverse.to(device)
    return [
        (
            torch.cat([p[li][0] for p in parts], -1)[..., inverse].contiguous(),
            torch.cat([p[li][1] for p in parts], -1)[..., inverse].contiguous(),
        )
        for li in range(len(sizes))
    ]


def _built_params(arch: Arch, seeds: list[int], device: torch.device) -> Params:
    """The same, one nn.Module per seed: the reference, and the fallback."""
    nets = [build(arch, s).linears for s in seeds]
    return [
        (
            torch.stack([n[i].weight.detach().t() for n in nets], -1).to(device),
            torch.stack([n[i].bias.detach() for n in nets], -1).to(device),
        )
        for i in range(len(arch.layers) - 1)
    ]


def initial_params(arch: Arch, seeds: Sequence[int] | torch.Tensor, device: torch.device) -> Params:
    """Stacked initial weights, seeds last: w (in, out, B), b (out, B), bit for bit `build(arch, seed)`'s.

    The draws follow torch's CPU generator (MT19937) and Tensor.uniform_; a few seeds are checked
    against modules built the ordinary way, and should a torch release draw differently, every seed
    is built that way instead (slow at a million seeds, never wrong)."""
    seeds = torch.as_tensor(seeds, dtype=torch.int64)
    params = _drawn_params(arch, seeds, device)
    probe = sorted({0, len(seeds) // 2, len(seeds) - 1})
    reference = _built_params(arch, seeds[probe].tolist(), device)
    if all(
        torch.equal(p[..., probe], r)
        for pair, ref in zip(params, reference, strict=True)
        for p, r in zip(pair, ref, strict=True)
    ):
        return params
    unique, inverse = torch.unique(seeds, return_inverse=True)
    inverse = inverse.to(device)
    return [
        (w[..., inverse].contiguous(), b[..., inverse].contiguous())
        for w, b in _built_params(arch, unique.tolist(), device)
    ]
