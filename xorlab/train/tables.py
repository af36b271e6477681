"""The summary a training run prints: the served models, then the study."""

from __future__ import annotations

from xorlab.modelrepo import records
from xorlab.outcome_words import NOT_SOLVED, OUTCOME_WORDS
from xorlab.percentages import percent, shared_decimals


def models_table(models: list[records.ModelEntry]) -> str:
    head = f"{'architecture':<13} {'params':>6} {'final loss':>11}  {'outputs (00, 01, 10, 11)':<31} {'acc':>5}  solved"
    lines = [head, "-" * len(head)]
    for m in models:
        outs = " ".join(f"{o:.4f}" for o in m.truth_table_outputs)
        lines.append(
            f"{m.name:<13} {m.parameters:>6} {m.final_loss:>11.6f}  {outs:<31} "
            f"{m.accuracy:>5.2f}  {'yes' if m.solved else 'no'}"
        )
    return "\n".join(lines)


def study_table(study: records.Study) -> str:
    # The decimals that show the narrowest interval (1 at a thousand seeds, 2 at a million), and
    # never a rate written as 0% or 100% that is not exactly that (percentages.percent).
    d = shared_decimals(study.architectures.values())

    def pct(share: float) -> str:
        return percent(share, d) + "%"

    widths = {kind: len(OUTCOME_WORDS[kind]) + 1 for kind in NOT_SOLVED}  # each column as wide as its heading
    head = f"{'architecture':<13} {'solved XOR':>16} {'95% interval':>16} {'median steps':>13} " + " ".join(
        f"{OUTCOME_WORDS[kind]:>{widths[kind]}}" for kind in NOT_SOLVED
    )
    lines = [
        f"many-seed study: {study.seeds} seeds per architecture, {study.steps} steps, {study.seconds:.1f} s",
        head,
        "-" * len(head),
    ]
    for name, a in study.architectures.items():
        med, o = a.steps_to_solve.median, a.outcomes
        lines.append(
            f"{name:<13} {a.successes:>7}/{a.n:<4} {pct(a.rate):>6} "
            f"{pct(a.ci95[0]):>8} - {pct(a.ci95[1]):<5} {'-' if med is None else f'{med:.0f}':>13} "
            + " ".join(f"{pct(getattr(o, kind).share):>{widths[kind]}}" for kind in NOT_SOLVED)
        )
    return "\n".join(lines)
