"""The report: which architectures solve XOR, with the evidence. The study's rates come from the
manifest (checked into records when the repository was read); the truth-table outputs are those of
the ONNX sessions this worker serves, not the manifest's copy of the eager model's."""

from __future__ import annotations

import msgspec

from xorlab.modelrepo import records, spec
from xorlab.serve.registry import Registry
from xorlab.serve.runtime import OnnxModel
from xorlab.serve.verdict import served, undecided, verdict


def build_report(registry: Registry) -> dict:
    models = {name: _model(model) for name, model in registry.models.items()}
    study = study_view(registry.study) if registry.study is not None else None
    evidence = [served(m.name, m.ready, m.solved, m.entry) for m in registry.models.values()]
    return {
        "truth_table": {"inputs": [list(row) for row in spec.INPUTS], "targets": list(spec.XOR)},
        "models": models,
        "study": study,
        "pictures": [
            {
                "path": f.picture.path,
                "url": f"/pictures/{f.picture.path}",
                "title": f.picture.title,
                "alt": f.picture.alt or f.picture.title,
                "caption": f.picture.caption,
                "model": f.picture.model,
                "sha256": f.picture.sha256,
                "width": f.width,
                "height": f.height,
            }
            for f in registry.pictures.values()
        ],
        "verdict": verdict(evidence, registry.study),
    }


def _model(model: OnnxModel) -> dict:
    entry = model.entry
    return {
        "name": model.name,
        "version": model.version,
        "ready": model.ready,
        "reason": model.reason or None,
        "layers": entry.architecture.layers if entry else None,
        "activation": entry.architecture.activation if entry else None,
        "trainer": entry.trainer if entry else None,
        "parameters": entry.parameters if entry else None,
        "training": msgspec.to_builtins(entry.training) if entry else None,
        "final_loss": entry.final_loss if entry else None,
        "truth_table_outputs": model.truth_table_outputs,  # from the served ONNX session
        "accuracy": model.accuracy,
        "solved": model.solved,
        "outcome": entry.outcome if entry else None,  # its training run's, from the manifest
    }


def study_view(study: records.Study) -> dict:
    """The study as the report shows it: per architecture its rates and outcomes (and whether the
    run was too short to decide it), and the capacity table per function (a row of rates, one per
    architecture)."""
    settings = msgspec.to_builtins(study)
    del settings["architectures"], settings["functions"]
    architectures = {}
    for name, arch in study.architectures.items():
        view = msgspec.to_builtins(arch)
        del view["capacity"], view["seconds"]
        view["undecided"] = undecided(arch)
        architectures[name] = view
    functions = study.functions
    capacity = [
        {
            "index": k,
            "name": functions.names[k],
            "truth_table": functions.truth_tables[k],
            "linearly_separable": functions.linearly_separable[k],
            "rates": {name: _rate(_capacity(arch, k)) for name, arch in study.architectures.items()},
        }
        for k in range(16)
    ]
    return {
        **settings,
        "architectures": architectures,
        "capacity": {
            "seeds_per_function": functions.seeds_per_function,
            "xor_seeds": functions.xor_seeds,
            "functions": capacity,
        },
    }


def _capacity(arch: records.ArchitectureStudy, k: int) -> records.FunctionRate:
    return next(c for c in arch.capacity if c.function == k)


def _rate(rate: records.Rate) -> dict:
    return {"n": rate.n, "successes": rate.successes, "rate": rate.rate, "ci95": list(rate.ci95)}
