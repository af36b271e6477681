"""The study's statistics: success rates with their confidence intervals. How a report writes them
is not the contract's concern: xorlab/percentages.py."""

from __future__ import annotations

import math

Z95 = 1.959963984540054  # the standard normal's 97.5th percentile


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default). Unlike the normal
    approximation it stays inside [0, 1] and is not empty at 0 or n successes."""
    if n == 0:
        return (0.0, 1.0)
    phat = successes / n
    denom = 1 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    # At 0 or n successes the bound is exactly 0 or 1; computed, it is off by rounding.
    low = 0.0 if successes == 0 else min(max(centre - half, 0.0), 1.0)
    high = 1.0 if successes == n else min(max(centre + half, 0.0), 1.0)
    return (low, high)


def rate(successes: int, n: int) -> dict:
    """The fields of a `records.Rate`: n, successes, rate, ci95."""
    return {"n": n, "successes": successes, "rate": successes / n if n else 0.0, "ci95": wilson(successes, n)}
