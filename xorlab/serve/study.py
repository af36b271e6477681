"""The many-seed study as the report shows it: the manifest's `study`, checked and reshaped.

Training validates the manifest against its schema, but the server trusts nothing it has not
checked: `study_report` rebuilds every field it passes on from typed values and answers None
(the report then stands on the served models alone) when the study is absent or malformed.
"""

from __future__ import annotations

import math

SETTINGS = ("task", "seeds", "seed_range", "steps", "lr", "optimizer", "loss", "initialisation", "device", "stuck_tolerance")


class _Malformed(Exception):
    pass


def study_report(study: object) -> dict | None:
    if study is None:
        return None
    try:
        return _study(study)
    except (_Malformed, KeyError, TypeError, IndexError):
        return None


def _study(study: object) -> dict:
    study = _dict(study)
    architectures = {name: _architecture(entry) for name, entry in _dict(study["architectures"]).items()}
    if not architectures:
        raise _Malformed
    functions = _dict(study["functions"])
    names, tables, separable = functions["names"], functions["truth_tables"], functions["linearly_separable"]
    if not all(isinstance(x, list) and len(x) == 16 for x in (names, tables, separable)):
        raise _Malformed
    rates = {name: _dict(arch_capacity) for name, arch_capacity in _capacities(study["architectures"]).items()}
    capacity = [
        {
            "index": k,
            "name": _str(names[k]),
            "truth_table": [_num(v) for v in tables[k]],
            "linearly_separable": _bool(separable[k]),
            "rates": {name: _rate(rates[name][k]) for name in architectures},
        }
        for k in range(16)
    ]
    return {
        **{key: study[key] for key in SETTINGS if key in study and _plain(study[key])},
        "seeds": _int(study["seeds"]),
        "steps": _int(study["steps"]),
        "architectures": architectures,
        "capacity": {
            "seeds_per_function": _int(functions["seeds_per_function"]),
            "xor_seeds": _int(functions["xor_seeds"]),
            "functions": capacity,
        },
    }


def _architecture(entry: object) -> dict:
    entry = _dict(entry)
    steps = _dict(entry["steps_to_solve"])
    return {
        "trainer": _str(entry["trainer"]),
        "layers": [_int(n) for n in entry["layers"]],
        **_rate(entry),
        "steps_to_solve": {"median": _num_or_none(steps["median"]), "p90": _num_or_none(steps["p90"])},
        "stuck_near_ln2": _share(entry["stuck_near_ln2"]),
        "final_loss_quantiles": {_str(q): _num(v) for q, v in _dict(entry["final_loss_quantiles"]).items()},
    }


def _capacities(architectures: dict) -> dict[str, dict[int, dict]]:
    """Each architecture's capacity list, keyed by function index (0..15, each exactly once)."""
    out = {}
    for name, entry in architectures.items():
        by_function = {_int(c["function"]): c for c in entry["capacity"]}
        if sorted(by_function) != list(range(16)):
            raise _Malformed
        out[name] = by_function
    return out


def _rate(entry: object) -> dict:
    entry = _dict(entry)
    n, successes, ci95 = _int(entry["n"]), _int(entry["successes"]), entry["ci95"]
    if not isinstance(ci95, list) or len(ci95) != 2:
        raise _Malformed
    low, high = _share(ci95[0]), _share(ci95[1])
    if not (0 <= successes <= n and n > 0 and low <= high):
        raise _Malformed
    return {"n": n, "successes": successes, "rate": _share(entry["rate"]), "ci95": [low, high]}


# ---- typed values ----------------------------------------------------------------------------------


def _dict(x: object) -> dict:
    if not isinstance(x, dict):
        raise _Malformed
    return x


def _str(x: object) -> str:
    if not isinstance(x, str):
        raise _Malformed
    return x


def _bool(x: object) -> bool:
    if not isinstance(x, bool):
        raise _Malformed
    return x


def _int(x: object) -> int:
    if not isinstance(x, int) or isinstance(x, bool) or x < 0:
        raise _Malformed
    return x


def _num(x: object) -> float:
    if not isinstance(x, (int, float)) or isinstance(x, bool) or not math.isfinite(x):
        raise _Malformed
    return float(x)


def _num_or_none(x: object) -> float | None:
    return None if x is None else _num(x)


def _share(x: object) -> float:
    # Wilson bounds can come out a hair outside [0, 1] in float arithmetic (e.g. 2e-19 for 0).
    value = _num(x)
    if not -1e-9 <= value <= 1 + 1e-9:
        raise _Malformed
    return min(max(value, 0.0), 1.0)


def _plain(x: object) -> bool:
    return isinstance(x, (str, int, float)) or (isinstance(x, list) and all(isinstance(v, int) for v in x))


# ---- wording -----------------------------------------------------------------------------------------


def percent(share: float) -> str:
    """0.878 -> '87.8', with the exact ends written as '0' and '100'."""
    text = f"{100 * share:.1f}"
    return {"0.0": "0", "100.0": "100"}.get(text, text)


def interval(ci95: list[float]) -> str:
    return f"95% CI {percent(ci95[0])}–{percent(ci95[1])}%"
