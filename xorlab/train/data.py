"""The truth tables: XOR, and all 16 boolean functions of two inputs for the capacity study."""
from __future__ import annotations

import torch

# The four points of the lesson, in its order.
INPUTS = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
XOR = [0.0, 1.0, 1.0, 0.0]


def xor_table(device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """X (4, 2) and Y (4, 1) as float32 on `device`, as the lesson builds them."""
    X = torch.tensor(INPUTS, dtype=torch.float32, device=device)
    Y = torch.tensor(XOR, dtype=torch.float32, device=device).unsqueeze(1)
    return X, Y


# Function k of two inputs has output bit i = (k >> i) & 1 for input row i (rows in INPUTS order),
# so k = 6 is XOR (0,1,1,0) and k = 9 is XNOR.
FUNCTION_NAMES = {
    0: "FALSE", 1: "NOR", 2: "x1 AND NOT x2", 3: "NOT x1", 4: "NOT x1 AND x2", 5: "NOT x2",
    6: "XOR", 7: "NAND", 8: "AND", 9: "XNOR", 10: "x2", 11: "x1 OR NOT x2", 12: "x1",
    13: "NOT x1 OR x2", 14: "OR", 15: "TRUE",
}


XOR_FUNCTION = 6


def function_targets(k: int) -> list[float]:
    """The four outputs of boolean function k (0..15), in INPUTS order."""
    return [float((k >> i) & 1) for i in range(4)]


def linearly_separable(k: int) -> bool:
    """All but XOR and XNOR: the two functions no single line separates."""
    return k not in (6, 9)
