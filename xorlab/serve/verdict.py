"""The verdict: one sentence saying which architectures solve XOR, which cannot and why, and what
became of the seeds that did not: stuck (at ln 2, or in a local minimum) or not finished within
the steps given. It is built from typed evidence: the study's records (rates over many seeds, each
seed's outcome, the capacity table) and the served models as `Served` (the ONNX model's own
answer on the truth table, and its training run's outcome from the manifest).
"""

from __future__ import annotations

from dataclasses import dataclass

from xorlab.modelrepo import records
from xorlab.outcome_words import MORE_STEPS, OUTCOME_WORDS, STILL_FALLING, STUCK, at_the_end
from xorlab.percentages import interval, percent, shared_decimals

NOT_SEPARABLE = "without a hidden layer it draws a single line, and XOR's four points are not linearly separable"
WHY = " (no line puts (0,1) and (1,0) on one side and (0,0) and (1,1) on the other)"


@dataclass(frozen=True)
class Served:
    """A served model as the verdict sees it."""

    name: str
    ready: bool
    solved: bool | None = None  # the served ONNX model on the truth table; None when not loaded
    layers: tuple[int, ...] | None = None  # None when its manifest entry was refused
    seed: int | None = None
    steps: int | None = None
    outcome: str | None = None  # its training run's outcome (modelrepo.outcomes), from the manifest

    @property
    def hidden_layers(self) -> int | None:
        return hidden_layers(self.layers)


def hidden_layers(layers) -> int | None:
    return len(layers) - 2 if layers is not None and len(layers) >= 2 else None


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _steps(steps: int | None) -> str:
    return f"within {steps:,} steps" if steps else "within the steps given"


# ---- the sentence ----------------------------------------------------------------------------------


def verdict(models: list[Served], study: records.Study | None = None) -> str:
    """One sentence: who solves XOR, who cannot and why, what became of the rest. With a study the
    rates over many seeds lead and the served models follow as a check; without one the served
    models are the whole evidence."""
    clauses = _study_clauses(study) if study else []
    clauses += _served_clauses(models, study)
    if not clauses:
        return "No model is served, so there is no verdict."
    # Model names are lowercase identifiers; the sentence keeps them as written.
    return "; ".join(clauses) + "."


def undecided(arch: records.ArchitectureStudy) -> bool:
    """Too short a run to say whether this architecture solves XOR: more of its seeds were still
    improving at the end than had solved."""
    return arch.outcomes.unfinished.count > arch.successes


def _study_clauses(study: records.Study) -> list[str]:
    arches = study.architectures
    d = shared_decimals(arches.values())  # one precision for the sentence, enough for its narrowest interval
    cannot = {n: a for n, a in arches.items() if hidden_layers(a.layers) == 0 and a.successes == 0}
    open_ = {n: a for n, a in arches.items() if n not in cannot and undecided(a)}
    solvers = {n: a for n, a in arches.items() if n not in cannot and n not in open_ and a.successes > 0}
    never = {n: a for n, a in arches.items() if n not in cannot and n not in open_ and a.successes == 0}
    clauses = []
    if solvers:
        clauses.append(_solvers(solvers, study.steps, d))
        rest = _the_rest(solvers, d)
        if rest:
            clauses.append(rest)
    for name, a in open_.items():
        solved = (
            f"none of its {a.n:,} seeds solved XOR {_steps(study.steps)}"
            if a.successes == 0
            else f"{percent(a.rate, d)}% of its {a.n:,} seeds solved XOR {_steps(study.steps)}"
        )
        clauses.append(
            f"the run was too short to decide for {name}: {solved}, and "
            f"{percent(a.outcomes.unfinished.share, d)}% were {OUTCOME_WORDS['unfinished']} ({MORE_STEPS})"
        )
    for name, a in never.items():
        ends = [
            f"{percent(getattr(a.outcomes, k).share, d)}% {OUTCOME_WORDS[k]}"
            for k in ("local_minimum", "plateau", "unfinished")
            if getattr(a.outcomes, k).count
        ]
        clauses.append(
            f"{name} solves XOR from none of {a.n:,} seeds {_steps(study.steps)} ({interval(a.ci95, d)})"
            + (f": {_names(ends)}" if ends else "")
            + f", although its hidden layer{'s' if (hidden_layers(a.layers) or 0) > 1 else ''} "
            "could draw the two lines XOR needs"
        )
    for name, a in cannot.items():
        clauses.append(
            f"{name} cannot: {NOT_SEPARABLE} (none of {a.n:,} seeds, {interval(a.ci95, d)}"
            f"{_learns_the_separable(a, study)})"
        )
    return clauses


def _solvers(solvers: dict[str, records.ArchitectureStudy], steps: int, d: int) -> str:
    """'mlp solves XOR from 87.8% of 1,000 seeds within 10,001 steps (95% CI 85.6–89.7%) and deep from ...'."""
    parts, first_n = [], None
    for name, a in solvers.items():
        share = f"all {a.n:,} seeds" if a.successes == a.n else f"{percent(a.rate, d)}%"
        if a.n != first_n and a.successes != a.n:
            share += f" of {a.n:,} seeds"
        if first_n is None:
            share += f" {_steps(steps)}"
            first_n = a.n
        parts.append(f"{name} from {share} ({interval(a.ci95, d)})")
    parts[0] = parts[0].replace(" from ", " solves XOR from ", 1)
    return _names(parts)


def _the_rest(solvers: dict[str, records.ArchitectureStudy], d: int) -> str:
    """'the rest were stuck in a local minimum (mlp and mlp-backprop 12.1%) or still improving when
    the run ended (deep 5.2%, mlp and mlp-backprop 0.1%)': architectures with the same share grouped."""
    kinds = []
    for kind in ("local_minimum", "plateau", "unfinished"):
        groups: dict[str, list[str]] = {}
        for name, a in solvers.items():
            tally = getattr(a.outcomes, kind)
            if tally.count:
                groups.setdefault(percent(tally.share, d), []).append(name)
        if groups:
            kinds.append(
                f"{at_the_end(kind)} ({', '.join(f'{_names(names)} {share}%' for share, names in groups.items())})"
            )
    if not kinds:
        return ""
    return "the rest were " + (kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " or " + kinds[-1])


def _learns_the_separable(a: records.ArchitectureStudy, study: records.Study) -> str:
    """'; it learns all 14 functions that are', when the capacity table shows it."""
    separable = [c for c in a.capacity if study.functions.linearly_separable[c.function]]
    if not separable or any(c.successes == 0 for c in separable):
        return ""
    every = all(c.successes == c.n for c in separable)
    return f"; it learns all {len(separable)} functions that are{', from every seed' if every else ''}"


def _served_clauses(models: list[Served], study: records.Study | None) -> list[str]:
    ready = [m for m in models if m.ready]
    unavailable = [m.name for m in models if not m.ready]
    clauses = []
    if study:
        if ready:
            clauses.append(_served_check(ready, study))
    else:
        solved = [m.name for m in ready if m.solved]
        linear = [m.name for m in ready if not m.solved and m.hidden_layers == 0]
        others = [m for m in ready if not m.solved and m.hidden_layers != 0]
        if solved:
            clauses.append(f"{_names(solved)} {'solves' if len(solved) == 1 else 'solve'} XOR")
        if linear:
            clauses.append(f"{_names(linear)} cannot: {NOT_SEPARABLE}{WHY}")
        for m in others:
            clauses.append(_unsolved_run(m))
    if unavailable:
        clauses.append(f"{_names(unavailable)} could not be checked (not loaded)")
    return clauses


def _unsolved_run(m: Served) -> str:
    """A served model with hidden layers that did not solve XOR, without a study to compare with."""
    if m.outcome == "unfinished":
        return f"{m.name} did not solve XOR {_steps(m.steps)}, {STILL_FALLING[0]} ({MORE_STEPS})"
    if m.outcome in STUCK:
        return (
            f"{m.name} has hidden layers and so could draw the two lines XOR needs, but this training run "
            f"is {OUTCOME_WORDS[m.outcome]}"
        )
    return (
        f"{m.name} has hidden layers and so could draw the two lines XOR needs, but this training run did not find them"
    )


def served_seed(models: list[Served]) -> int | None:
    """The training seed the models share, if they share one."""
    seeds = {m.seed for m in models}
    return seeds.pop() if len(seeds) == 1 else None


def _served_check(ready: list[Served], study: records.Study) -> str:
    """The served models, one training run each, against their architectures' seeds: 'the served
    models (seed 777): mlp, mlp-backprop and deep solve XOR (as 87.8%, 87.8% and 94.8% of their
    seeds do) and perceptron does not solve it (no seed can)'. Models that ended the same way are
    named together, with their architectures' shares in the same order."""
    d = shared_decimals(study.architectures.values())
    groups: dict[tuple[int, str, str], list[tuple[str, str | None]]] = {}
    for m in ready:
        order, one, many, share = _served_phrase(m, study.architectures.get(m.name), study.steps, d)
        groups.setdefault((order, one, many), []).append((m.name, share))
    parts = []
    for i, ((_, one, many), members) in enumerate(sorted(groups.items(), key=lambda g: g[0][0])):
        names, shares = [n for n, _ in members], [s for _, s in members]
        phrase = one if len(names) == 1 else many
        if shares[0] is not None:
            same = len(set(shares)) == 1
            phrase = phrase.format("all" if same and shares[0] == "100%" else shares[0] if same else _names(shares))
        parts.append((names, phrase.replace("XOR", "it", 1) if i else phrase))  # the task named once
    seed = served_seed(ready)
    if len(ready) == 1:
        return f"the served {ready[0].name}" + (f" (seed {seed})" if seed is not None else "") + f" {parts[0][1]}"
    subject = f"the served models (seed {seed})" if seed is not None else "the served models"
    return f"{subject}: {_names([f'{_names(names)} {phrase}' for names, phrase in parts])}"


def _served_phrase(
    m: Served, a: records.ArchitectureStudy | None, steps: int, d: int
) -> tuple[int, str, str, str | None]:
    """What one served model did, set against its architecture's seeds: (order, singular and plural
    wording with {} for the share, the share)."""
    if a is None:
        return (0, "solves XOR", "solve XOR", None) if m.solved else (3, "does not solve XOR", "do not solve XOR", None)
    if m.solved:
        return 0, "solves XOR (as {} of its seeds do)", "solve XOR (as {} of their seeds do)", f"{percent(a.rate, d)}%"
    if hidden_layers(a.layers) == 0 and a.successes == 0:
        return 3, "does not solve XOR (no seed can)", "do not solve XOR (no seed can)", None
    if m.outcome == "unfinished":
        within, share = _steps(m.steps or steps), f"{percent(a.outcomes.unfinished.share, d)}%"
        return (
            1,
            f"had not solved XOR {within}, {STILL_FALLING[0]} (as for {{}} of its seeds)",
            f"had not solved XOR {within}, {STILL_FALLING[1]} (as for {{}} of their seeds)",
            share,
        )
    if m.outcome in STUCK:
        words, share = OUTCOME_WORDS[m.outcome], f"{percent(getattr(a.outcomes, m.outcome).share, d)}%"
        return 2, f"is {words} (as {{}} of its seeds are)", f"are {words} (as {{}} of their seeds are)", share
    return (
        2,
        "does not solve XOR (although {} of its seeds do)",
        "do not solve XOR (although {} of their seeds do)",
        f"{percent(a.rate, d)}%",
    )


def served(name: str, ready: bool, solved: bool | None, entry: records.ModelEntry | None) -> Served:
    """A served model for the verdict, from the ONNX model's answer and its manifest entry."""
    if entry is None:
        return Served(name=name, ready=ready, solved=solved)
    return Served(
        name=name,
        ready=ready,
        solved=solved,
        layers=tuple(entry.architecture.layers),
        seed=entry.training.seed,
        steps=entry.training.steps,
        outcome=entry.outcome,
    )
