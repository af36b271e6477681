"""The verdict: which architectures solve XOR, with the evidence computed by the served models.

`build_report` gathers the evidence; `verdict` turns it into one sentence. The truth-table outputs
are those of the ONNX sessions this worker serves, not the manifest's copy of the eager model's.
"""

from __future__ import annotations

from flask import Blueprint, Response

from serve.repository import Repository
from serve.runtime import OnnxModel
from serve.state import json_response, state

bp = Blueprint("report", __name__)


@bp.get("/v1/report")
def report() -> Response:
    return json_response(build_report(state().repository))


def build_report(repository: Repository) -> dict:
    manifest = repository.manifest or {}
    models = {name: _model_report(model) for name, model in repository.models.items()}
    return {
        "truth_table": manifest.get("truth_table"),
        "models": models,
        "verdict": verdict(list(models.values()), manifest.get("study")),
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


def _hidden_layers(model: dict) -> int | None:
    layers = model.get("layers")
    return len(layers) - 2 if isinstance(layers, list) and len(layers) >= 2 else None


def verdict(models: list[dict], study: dict | None = None) -> str:
    """One sentence: who solves XOR, who cannot and why. `study` (the manifest's many-seed results)
    is accepted for the success rates a later revision adds; one run is the evidence for now."""
    solved = [m["name"] for m in models if m["ready"] and m["solved"]]
    linear = [m["name"] for m in models if m["ready"] and not m["solved"] and _hidden_layers(m) == 0]
    stuck = [m["name"] for m in models if m["ready"] and not m["solved"] and _hidden_layers(m) != 0]
    unavailable = [m["name"] for m in models if not m["ready"]]

    clauses = []
    if solved:
        clauses.append(f"{_names(solved)} {'solves' if len(solved) == 1 else 'solve'} XOR")
    if linear:
        clauses.append(
            f"{_names(linear)} cannot: without a hidden layer a perceptron draws a single line, and "
            "XOR's four points are not linearly separable (no line puts (0,1) and (1,0) on one side "
            "and (0,0) and (1,1) on the other)"
        )
    if stuck:
        clauses.append(
            f"{_names(stuck)} {'has' if len(stuck) == 1 else 'have'} hidden layers and so could "
            "draw the two lines XOR needs, but this training run did not find them"
        )
    if unavailable:
        clauses.append(f"{_names(unavailable)} could not be checked (not loaded)")
    if not clauses:
        return "No model is served, so there is no verdict."
    # Model names are lowercase identifiers; the sentence keeps them as written.
    return "; ".join(clauses) + "."
