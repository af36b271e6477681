"""How a report writes rates: as percentages with the decimals their confidence interval shows,
never rounding to 0% or 100% what is not exactly that. Used by the verdict, the report page, the
pictures and the training summary alike. Torch-free: serving imports it."""

from __future__ import annotations

import math


def decimals(ci95) -> int:
    """Decimals of a percentage that show its interval: 1 up to some 10,000 seeds, 2 at a million."""
    width = 100 * (ci95[1] - ci95[0])
    return min(3, max(1, math.ceil(-math.log10(width)))) if width > 0 else 1


def shared_decimals(rates) -> int:
    """One number of decimals for rates written side by side (records.Rate or dicts with its fields):
    enough for the narrowest interval, not counting 0 or n successes, whose bound is exact."""
    found = [decimals(_get(r, "ci95")) for r in rates if 0 < _get(r, "successes") < _get(r, "n")]
    return max(found, default=1)


def _get(rate, field: str):
    return rate[field] if isinstance(rate, dict) else getattr(rate, field)


def percent(share: float, digits: int = 1) -> str:
    """0.878 -> '87.8'. Exactly 0 and 1 are '0' and '100', and nothing else is written as either:
    a share of 0.999996 gets the digits it needs ('99.9996'), never '100.0'."""
    if share <= 0:
        return "0"
    if share >= 1:
        return "100"
    text = f"{100 * share:.{digits}f}"
    while digits < 8 and float(text) in (0.0, 100.0):
        digits += 1
        text = f"{100 * share:.{digits}f}"
    return text


def interval(ci95, digits: int | None = None) -> str:
    """'95% CI 85.6–89.7%', with `decimals(ci95)` unless told."""
    digits = decimals(ci95) if digits is None else digits
    return f"95% CI {percent(ci95[0], digits)}–{percent(ci95[1], digits)}%"
