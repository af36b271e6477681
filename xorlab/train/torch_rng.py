"""torch's CPU generator, reproduced for many seeds at once: the first outputs of MT19937 as
torch.manual_seed(seed) seeds it, and Tensor.uniform_ from them. Building a module per seed is far
too slow at a GPU's million seeds (docs/benchmarks.md, training speed); this draws every seed's
numbers in a few vectorised passes. Whether it still matches torch is checked on every use
(initial_weights.initial_params)."""

from __future__ import annotations

import torch


def mt19937(seeds: torch.Tensor, n: int) -> torch.Tensor:
    """The first n (< 624: one twist) 32-bit outputs of MT19937 seeded with each seed, as
    torch.manual_seed(seed) seeds the CPU generator: (n, S) int64, vectorised over seeds. Only the state
    words those outputs read are kept."""
    assert n < 624, n
    M32 = 0xFFFFFFFF
    keep = set(range(n + 1)) | set(range(397, 624))
    state, prev = {0: seeds.to(torch.int64) & M32}, seeds.to(torch.int64) & M32
    for j in range(1, 624):  # init_genrand
        prev = (1812433253 * (prev ^ (prev >> 30)) + j) & M32
        if j in keep:
            state[j] = prev
    out = []
    for i in range(n):  # the first twist, as far as needed
        y = (state[i] & 0x80000000) | (state[i + 1] & 0x7FFFFFFF)
        v = state[(i + 397) % 624] ^ (y >> 1) ^ ((y & 1) * 0x9908B0DF)
        state[i] = v
        v = v ^ (v >> 11)  # tempering
        v = v ^ ((v << 7) & 0x9D2C5680)
        v = v ^ ((v << 15) & 0xEFC60000)
        out.append(v ^ (v >> 18))
    return torch.stack(out)


def uniform(raw: torch.Tensor, bound: float) -> torch.Tensor:
    """Tensor.uniform_(-bound, bound) in float32 from raw draws: 24 random bits, scaled in double."""
    lo, hi = torch.tensor([-bound, bound], dtype=torch.float32).double().tolist()
    x = (raw & 0xFFFFFF).double() * 2.0**-24
    return (x * (hi - lo) + lo).float()
