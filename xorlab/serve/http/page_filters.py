"""How the report page writes numbers and outcomes: the template's filters (`{{ share | pct }}`)."""

from __future__ import annotations

from xorlab.modelrepo import spec
from xorlab.outcome_words import NOT_SOLVED, OUTCOME_WORDS
from xorlab.percentages import decimals, interval, percent


def pct(share: float | None, digits: int | list[float] = 1) -> str:
    """A share as a percentage, with `digits` decimals, or as many as an interval (ci95) needs."""
    if share is None:
        return "–"
    return f"{percent(share, decimals(digits) if isinstance(digits, list) else digits)}%"


def ci(ci95: list[float], digits: int | None = None) -> str:
    return interval(ci95, digits).removeprefix("95% CI ")


def side(p: float, target: float) -> str:
    return spec.side(p, target)


def why_not(model: dict) -> str:
    """Why a served model did not solve XOR, in a few words."""
    layers = model.get("layers")
    if isinstance(layers, list) and len(layers) == 2:
        return "cannot"
    outcome = model.get("outcome")
    return OUTCOME_WORDS[outcome] if outcome in NOT_SOLVED else ""


def num(value: object) -> str:
    # A refused model's manifest entry is shown as written, so its fields may be anything.
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "–"
    return f"{value:.4g}"


def steps(value: float | None) -> str:
    return "–" if value is None else f"{round(value):,}"


def network(layers: object) -> str:
    if not isinstance(layers, list) or not layers or not all(isinstance(n, int) for n in layers):
        return "?"
    return "→".join(str(n) for n in layers)


def heat(rate: dict) -> str:
    """The capacity table's colour class, in steps that keep every seed (100%) apart from nearly
    every seed (88%); no inline styles, which the CSP forbids."""
    if rate["successes"] == rate["n"]:
        return "heat-all"
    if rate["successes"] == 0:
        return "heat-none"
    return "heat-most" if rate["rate"] >= 0.9 else "heat-half" if rate["rate"] >= 0.5 else "heat-few"


# The name each has in the template.
FILTERS = {
    "pct": pct,
    "ci": ci,
    "side": side,
    "why_not": why_not,
    "num": num,
    "steps": steps,
    "network": network,
    "heat": heat,
}
