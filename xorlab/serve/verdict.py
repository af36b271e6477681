"""The verdict: one sentence saying which architectures solve XOR, who cannot and why, from the
evidence `report.build_report` gathers (the study's rates over many seeds, and the served models'
own outputs on the truth table)."""

from __future__ import annotations


def percent(share: float) -> str:
    """0.878 -> '87.8', with the exact ends written as '0' and '100'."""
    text = f"{100 * share:.1f}"
    return {"0.0": "0", "100.0": "100"}.get(text, text)


def interval(ci95) -> str:
    return f"95% CI {percent(ci95[0])}–{percent(ci95[1])}%"


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _hidden_layers(layers: object) -> int | None:
    return len(layers) - 2 if isinstance(layers, list) and len(layers) >= 2 else None


NOT_SEPARABLE = (
    "without a hidden layer a perceptron draws a single line, and XOR's four points are not "
    "linearly separable"
)
WHY = " (no line puts (0,1) and (1,0) on one side and (0,0) and (1,1) on the other)"


def verdict(models: list[dict], study: dict | None = None) -> str:
    """One sentence: who solves XOR, who cannot and why. With a study (as `study_report` shapes
    it) the rates over many seeds lead and the served models follow as a check; without one the
    served models are the whole evidence."""
    clauses = _study_clauses(study) if study else []
    clauses += _served_clauses(models, study)
    if not clauses:
        return "No model is served, so there is no verdict."
    # Model names are lowercase identifiers; the sentence keeps them as written.
    return "; ".join(clauses) + "."


def _study_clauses(study: dict) -> list[str]:
    """'mlp solves XOR from 87.8% of 1,000 seeds (95% CI 85.6–89.7%) and deep from ...;
    perceptron from none (0/1,000; 95% CI 0–0.4%): <why>'."""
    arches = study["architectures"]
    solvers = [(name, a) for name, a in arches.items() if a["successes"] > 0]
    never = [(name, a) for name, a in arches.items() if a["successes"] == 0]
    clauses, first_n = [], None
    if solvers:
        parts = []
        for name, a in solvers:
            share = f"all {a['n']:,} seeds" if a["successes"] == a["n"] else f"{percent(a['rate'])}%"
            if a["n"] != first_n and a["successes"] != a["n"]:
                share += f" of {a['n']:,} seeds"
            first_n = first_n or a["n"]
            parts.append(f"{name} from {share} ({interval(a['ci95'])})")
        parts[0] = parts[0].replace(" from ", " solves XOR from ", 1)
        clauses.append(_names(parts))
    for name, a in never:
        count = f"{a['successes']}/{a['n']:,}; {interval(a['ci95'])}"
        head = f"{name} from none ({count})" if solvers else f"{name} solves XOR from none of {a['n']:,} seeds ({interval(a['ci95'])})"
        if _hidden_layers(a["layers"]) == 0:
            clauses.append(f"{head}: {NOT_SEPARABLE}")
        else:
            clauses.append(f"{head}, although its hidden layers could draw the two lines XOR needs")
    return clauses


def _served_clauses(models: list[dict], study: dict | None) -> list[str]:
    ready = [m for m in models if m["ready"]]
    solved = [m["name"] for m in ready if m["solved"]]
    unavailable = [m["name"] for m in models if not m["ready"]]
    clauses = []
    if study:
        if ready:
            clauses.append(_served_check(ready, study))
    else:
        linear = [m["name"] for m in ready if not m["solved"] and _hidden_layers(m["layers"]) == 0]
        stuck = [m["name"] for m in ready if not m["solved"] and _hidden_layers(m["layers"]) != 0]
        if solved:
            clauses.append(f"{_names(solved)} {'solves' if len(solved) == 1 else 'solve'} XOR")
        if linear:
            clauses.append(f"{_names(linear)} cannot: {NOT_SEPARABLE}{WHY}")
        if stuck:
            clauses.append(
                f"{_names(stuck)} {'has' if len(stuck) == 1 else 'have'} hidden layers and so could "
                "draw the two lines XOR needs, but this training run did not find them"
            )
    if unavailable:
        clauses.append(f"{_names(unavailable)} could not be checked (not loaded)")
    return clauses


def served_seed(models: list[dict]) -> int | None:
    """The training seed the models share, if they share one (the manifest's 'training' block
    is informational: anything but an integer there counts as no seed)."""
    seeds = set()
    for m in models:
        training = m.get("training")
        seed = training.get("seed") if isinstance(training, dict) else None
        seeds.add(seed if isinstance(seed, int) and not isinstance(seed, bool) else None)
    return seeds.pop() if len(seeds) == 1 else None


def _served_check(ready: list[dict], study: dict) -> str:
    """The served ONNX models, one training run each: 'the served models (seed 777) agree: ...'."""
    arches = study["architectures"]
    solved = [m["name"] for m in ready if m["solved"]]
    failed = [m["name"] for m in ready if not m["solved"]]
    # They agree when each solves XOR exactly if its architecture ever did in the study.
    agree = all(m["solved"] == (arches[m["name"]]["successes"] > 0) for m in ready if m["name"] in arches)
    seed = served_seed(ready)
    subject = f"the served models (seed {seed})" if seed is not None else "the served models"
    outcome = []
    if solved:
        outcome.append(f"{_names(solved)} {'solves' if len(solved) == 1 else 'solve'} the truth table")
    if failed:
        outcome.append(f"{_names(failed)} {'does' if len(failed) == 1 else 'do'} not")
    return f"{subject} {'agree' if agree else 'differ'}: {', '.join(outcome)}"
