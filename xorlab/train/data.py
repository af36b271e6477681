"""The truth tables as tensors: XOR for the served models, any of the 16 boolean functions for the
capacity study (the tables themselves are the contract's: `xorlab.modelrepo.spec`)."""

from __future__ import annotations

import torch

from xorlab.modelrepo import spec


def xor_table(device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """X (4, 2) and Y (4, 1) as float32 on `device`, as the lesson builds them."""
    X = torch.tensor(spec.INPUTS, dtype=torch.float32, device=device)
    Y = torch.tensor(spec.XOR, dtype=torch.float32, device=device).unsqueeze(1)
    return X, Y
