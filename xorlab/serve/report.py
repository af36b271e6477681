"""The verdict: which architectures solve XOR, with the evidence: the many-seed study's success
rates (when the manifest has one) and the outputs of the served models.

`build_report` gathers the evidence; `verdict` turns it into one sentence. The truth-table outputs
are those of the ONNX sessions this worker serves, not the manifest's copy of the eager model's.
"""

from __future__ import annotations

from flask import Blueprint, Response

from xorlab.serve.repository import Repository
from xorlab.serve.runtime import OnnxModel
from xorlab.serve.state import json_response, state
from xorlab.serve.study import interval, percent, study_report

bp = Blueprint("report", __name__)


@bp.get("/v1/report")
def report() -> Response:
    return json_response(build_report(state().repository))


def build_report(repository: Repository) -> dict:
    manifest = repository.manifest or {}
    models = {name: _model_report(model) for name, model in repository.models.items()}
    study = study_report(manifest.get("study"))
    return {
        "truth_table": manifest.get("truth_table"),
        "models": models,
        "study": study,
        "pictures": [
            {"path": p.name, "url": f"/pictures/{p.name}", "title": p.title, "model": p.model,
             "sha256": p.sha256, "width": p.width, "height": p.height}
            for p in repository.pictures.values()
        ],  # fmt: skip
        "verdict": verdict(list(models.values()), study),
    }


def _model_report(model: OnnxModel) -> dict:
    entry = model.entry
    architecture = entry.get("architecture") if isinstance(entry.get("architecture"), dict) else {}
    return {
        "name": model.name,
        "version": model.version,
        "ready": model.ready,
        "reason": model.reason or None,
        "layers": architecture.get("layers"),
        "activation": architecture.get("activation"),
        "trainer": entry.get("trainer"),
        "parameters": entry.get("parameters"),
        "training": entry.get("training"),
        "final_loss": entry.get("final_loss"),
        "truth_table_outputs": model.truth_table_outputs,  # from the served ONNX session
        "accuracy": model.accuracy,
        "solved": model.solved,
    }


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
