"""The pictures of the report, drawn at training time into the repository (the service only
serves files). matplotlib with the Agg backend: no display needed.

Each picture is drawn at about the size the report page shows it (DPI and figure sizes below), and
is recorded with its finding in words (`alt`, computed from the data it shows) and a caption that
says how to read it: which series coincide and why, what the colours mean.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import msgspec

matplotlib.use("Agg")  # before pyplot loads: pictures are drawn to files, with no display
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import PercentFormatter

from xorlab.modelrepo import outcomes, records, spec, writer
from xorlab.outcome_words import OUTCOME_WORDS, OUTCOMES_CAPTION, loss_ending
from xorlab.percentages import decimals, percent, shared_decimals

DPI = 110  # with the sizes below, about the pixels the page gives each picture: no blurry upscaling
STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titlepad": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9.5,
    "ytick.labelsize": 9.5,
    "legend.fontsize": 9,
}
COLOURS = {"perceptron": "#d62728", "mlp": "#1f77b4", "mlp-backprop": "#17becf", "deep": "#2ca02c"}
OUTCOME_COLOURS = {"solved": "#2e8b57", "unfinished": "#f2a93b", "plateau": "#8c8c8c", "local_minimum": "#c0392b"}
TRAINER_WORDS = {"autograd": "autograd", "backprop": "the hand-written chain rule"}
TIE = spec.TIE_TOLERANCE


def _colour(name: str, i: int) -> str:
    return COLOURS.get(name, f"C{i % 10}")


def _save(fig, path: Path) -> None:
    fig.savefig(path, dpi=DPI, metadata={"Software": None})  # no version stamp: reproducible bytes
    plt.close(fig)


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _grouped(phrases: dict[str, str | tuple[str, str]]) -> list[str]:
    """Names that say the same, together: {mlp: ('falls', 'fall'), mlp-backprop: ('falls', 'fall')} ->
    ['mlp and mlp-backprop fall']. A phrase is a string, or its (singular, plural) forms."""
    groups: dict[str | tuple[str, str], list[str]] = {}
    for name, phrase in phrases.items():
        groups.setdefault(phrase, []).append(name)
    return [
        f"{_names(names)}{'' if str(phrase).startswith(':') else ' '}"
        f"{phrase if isinstance(phrase, str) else phrase[len(names) > 1]}"
        for phrase, names in groups.items()
    ]


def coinciding(series: dict[str, np.ndarray]) -> dict[str, str]:
    """Each series that equals an earlier one (to float rounding), mapped to that earlier one."""
    seen: dict[str, np.ndarray] = {}
    same = {}
    for name, values in series.items():
        for other, earlier in seen.items():
            if values.shape == earlier.shape and np.allclose(values, earlier, rtol=1e-4, atol=1e-6):
                same[name] = same.get(other, other)
                break
        seen[name] = values
    return same


def _why_same(a: str, b: str, models: dict[str, records.ModelEntry]) -> str:
    """Why two series coincide, as far as the records say."""
    ma, mb = models.get(a), models.get(b)
    if ma and mb and ma.architecture.layers == mb.architecture.layers and ma.training.seed == mb.training.seed:
        layers = "-".join(map(str, ma.architecture.layers))
        if ma.trainer != mb.trainer:
            return (
                f"the same {layers} network from the same initial weights (seed {ma.training.seed}), trained "
                f"by {TRAINER_WORDS[ma.trainer]} and by {TRAINER_WORDS[mb.trainer]}, whose gradients agree to "
                "float rounding"
            )
        return f"the same {layers} network from the same initial weights (seed {ma.training.seed})"
    return "their values are the same"


def _coincide_caption(same: dict[str, str], models: dict[str, records.ModelEntry], drawn: str) -> str:
    return " ".join(
        f"{a} and {b} coincide: {_why_same(a, b, models)}; {b} is drawn {drawn} so both show." for b, a in same.items()
    )


def _line_style(name: str, same: dict[str, str], rank: int = 0) -> dict:
    """A series that equals another is dashed, with markers, over the solid one. Solid lines are
    drawn thinner one after another (`rank`), so where two merely overlap both edges still show."""
    if name in same:
        return {"linestyle": (0, (5, 4)), "linewidth": 2.2, "marker": "o", "markersize": 4, "zorder": 3}
    return {"linestyle": "-", "linewidth": max(1.6, 4.4 - 1.0 * rank), "zorder": 2}


# ---- decision surfaces -----------------------------------------------------------------------------


def decision_surface(name: str, model: torch.nn.Module, path: Path) -> str:
    """P(y=1) over [-0.5, 1.5]^2, the 0.5 contour, and the four points. Returns the finding in words."""
    g = np.linspace(-0.5, 1.5, 161, dtype=np.float32)
    xx, yy = np.meshgrid(g, g)
    with torch.no_grad():
        p = model(torch.from_numpy(np.stack([xx.ravel(), yy.ravel()], 1))).numpy().reshape(xx.shape)
        at_points = model(torch.tensor(spec.INPUTS)).numpy()[:, 0]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(5.2, 4.6), layout="constrained")
        # Bands of 0.05 centred on 0.1 steps: 0.5 lies mid-band, so a surface at 0.5 give or take
        # float rounding is one colour, not two split along rounding noise.
        im = ax.contourf(xx, yy, p, levels=np.linspace(-0.025, 1.025, 22), cmap="RdBu_r", vmin=0, vmax=1)
        flat = float(p.max() - p.min()) <= 2 * TIE
        if not flat:  # a flat surface has no 0.5 contour to draw (matplotlib would warn)
            ax.contour(xx, yy, p, levels=[0.5], colors="k", linewidths=2)
        pts = np.array(spec.INPUTS)
        ax.scatter(
            pts[:, 0],
            pts[:, 1],
            c=["#ffffff" if t == 0 else "#000000" for t in spec.XOR],
            s=130,
            edgecolors="k",
            linewidths=1.8,
            zorder=3,
        )
        for (x1, x2), t in zip(spec.INPUTS, spec.XOR, strict=True):
            ax.annotate(
                f"y={int(t)}",
                (x1, x2),
                textcoords="offset points",
                xytext=(9, 7),
                fontsize=10,
                fontweight="bold",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
            )
        ax.set(xlabel="x1", ylabel="x2", xlim=(-0.5, 1.5), ylim=(-0.5, 1.5), xticks=[0, 0.5, 1], yticks=[0, 0.5, 1])
        ax.set_aspect("equal")
        ax.set_title(f"{name}: P(y=1) and its 0.5 contour" if not flat else f"{name}: P(y=1) = 0.5 everywhere")
        fig.colorbar(im, ax=ax, ticks=[0, 0.25, 0.5, 0.75, 1], label="P(y=1)", shrink=0.9)
        _save(fig, path)
    return _surface_finding(name, p, at_points, flat)


def _surface_finding(name: str, p: np.ndarray, at_points: np.ndarray, flat: bool) -> str:
    if flat or all(abs(v - 0.5) <= TIE for v in at_points):
        return (
            f"{name}'s decision surface: P(y=1) is 0.5 over the whole plane, so there is no boundary and each of "
            "the four points is a tie: the one line it can draw does not help"
        )
    sides = [spec.side(v, t) for t, v in zip(spec.XOR, at_points, strict=True)]
    right = [x for x, s in zip(spec.INPUTS, sides, strict=True) if s == "right"]
    wrong = [x for x, s in zip(spec.INPUTS, sides, strict=True) if s != "right"]  # ties included: not on the right side

    def point(x) -> str:
        return f"({int(x[0])},{int(x[1])})"

    if not wrong:
        return (
            f"{name}'s decision surface: the 0.5 contour puts (0,1) and (1,0) on the class-1 side and (0,0) and "
            "(1,1) on the class-0 side: all four points right"
        )
    return (
        f"{name}'s decision surface: {len(right)} of the four points on the right side of the 0.5 contour; "
        f"{_names([point(x) for x in wrong])} {'is' if len(wrong) == 1 else 'are'} not"
    )


# ---- the served models' loss curves ----------------------------------------------------------------


def loss_curves(models: dict[str, records.ModelEntry], path: Path) -> tuple[str, str]:
    """Returns (finding, caption)."""
    same = coinciding({n: np.array(m.loss_curve.loss) for n, m in models.items()})
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(5.4, 3.7), layout="constrained")
        solid = [n for n in models if n not in same]
        for i, (name, m) in enumerate(models.items()):
            label = f"{name} (dashed: on {same[name]})" if name in same else name
            ax.plot(
                m.loss_curve.steps,
                m.loss_curve.loss,
                label=label,
                color=_colour(name, i),
                markevery=max(1, len(m.loss_curve.steps) // 12),
                **_line_style(name, same, solid.index(name) if name in solid else 0),
            )
        ax.axhline(math.log(2), color="grey", linestyle=":", linewidth=1.2)
        ax.annotate(
            "ln 2",
            (1, math.log(2)),
            xycoords=("axes fraction", "data"),
            textcoords="offset points",
            xytext=(-4, -4),
            ha="right",
            va="top",
            color="dimgrey",
        )  # below the line: the curves start above it
        low = min(min(m.loss_curve.loss) for m in models.values())
        log = low < 0.1  # a log scale only when the losses span decades: a short run's stay near ln 2
        ax.set(
            yscale="log" if log else "linear",
            xlabel="step",
            ylabel="BCE loss" + (" (log scale)" if log else ""),
            title="Training loss of the served models",
        )
        ax.legend(loc="best")
        _save(fig, path)
    seed = {m.training.seed for m in models.values()}
    steps = max(m.training.steps for m in models.values())
    ends = {name: loss_ending(m.outcome, m.final_loss) for name, m in models.items()}
    finding = f"Training loss over {steps:,} steps{f' (seed {seed.pop()})' if len(seed) == 1 else ''}: " + "; ".join(
        _grouped(ends)
    )
    return finding, _coincide_caption(same, models, "dashed with dots")


# ---- the study -------------------------------------------------------------------------------------


def _outcome_phrase(a: records.ArchitectureStudy, d: int) -> str:
    return ", ".join(
        f"{percent(getattr(a.outcomes, k).share, d)}% {OUTCOME_WORDS[k]}"
        for k in outcomes.OUTCOMES
        if getattr(a.outcomes, k).count
    )


def success_rates(study: records.Study, path: Path) -> tuple[str, str]:
    """What became of every seed: one bar per architecture, split by outcome, with the 95% interval
    of the solved share. Returns (finding, caption)."""
    archs = study.architectures
    names = list(archs)
    d = shared_decimals(archs.values())
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(5.4, 2.0 + 0.55 * len(names)), layout="constrained")
        y = np.arange(len(names))[::-1]
        left = np.zeros(len(names))
        for kind in outcomes.OUTCOMES:
            share = np.array([getattr(archs[n].outcomes, kind).share for n in names])
            ax.barh(
                y,
                share,
                left=left,
                height=0.62,
                color=OUTCOME_COLOURS[kind],
                label=OUTCOME_WORDS[kind],
                edgecolor="white",
                linewidth=0.8,
            )
            for yi, lft, s in zip(y, left, share, strict=True):
                if s >= 0.15:  # a label only where it fits
                    ax.text(
                        lft + s / 2,
                        yi,
                        f"{percent(s, d)}%",
                        ha="center",
                        va="center",
                        color="white" if kind != "unfinished" else "black",
                        fontsize=9,
                        fontweight="bold",
                    )
            left += share
        rates = np.array([archs[n].rate for n in names])
        lo = np.clip(rates - np.array([archs[n].ci95[0] for n in names]), 0, None)  # rounding: never < 0
        hi = np.clip(np.array([archs[n].ci95[1] for n in names]) - rates, 0, None)
        ax.errorbar(rates, y, xerr=[lo, hi], fmt="none", ecolor="black", capsize=5, linewidth=1.4)
        ax.set_yticks(y, names)
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_xlabel(f"share of {study.seeds:,} seeds (black: 95% interval of the solved share)")
        ax.set_title(f"What became of each seed after {study.steps:,} steps")
        fig.legend(loc="outside lower center", ncol=2, frameon=False, handlelength=1.2)
        _save(fig, path)
    finding = f"Of {study.seeds:,} seeds each, after {study.steps:,} steps: " + "; ".join(
        _grouped({n: _outcome_phrase(a, d) for n, a in archs.items()})
    )
    return finding, OUTCOMES_CAPTION


def capacity(study: records.Study, path: Path) -> tuple[str, str]:
    """Per boolean function, the share of seeds of each architecture that learn it, with 95%
    intervals: where each architecture falls short of every seed. Returns (finding, caption)."""
    archs = study.architectures
    names = list(archs)
    fns = study.functions.names
    width = 0.72 / max(1, len(names))
    markers = "osD^vP*X"
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(11, 4.3), layout="constrained")
        for f, separable in enumerate(study.functions.linearly_separable):
            if not separable:
                ax.axvspan(f - 0.45, f + 0.45, color="#fbe3e0", zorder=0)
                ax.text(
                    f,
                    0.37,
                    "not linearly\nseparable",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="#9b2c2c",
                    rotation=90,
                )
        for i, name in enumerate(names):
            caps = sorted(archs[name].capacity, key=lambda c: c.function)
            x = np.arange(16) + (i - (len(names) - 1) / 2) * width
            rate = np.array([c.rate for c in caps])
            err = [
                np.clip(rate - [c.ci95[0] for c in caps], 0, None),
                np.clip([c.ci95[1] for c in caps] - rate, 0, None),
            ]
            ax.errorbar(
                x,
                rate,
                yerr=err,
                fmt=markers[i % len(markers)],
                color=_colour(name, i),
                markersize=6,
                capsize=2.5,
                linewidth=1.2,
                label=name,
                markeredgecolor="black",
                markeredgewidth=0.5,
            )
        ax.set_xticks(range(16), fns, rotation=35, ha="right")
        ax.set_xlim(-0.6, 15.6)
        ax.set_ylim(-0.04, 1.06)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_ylabel("share of seeds that learn it")
        ax.grid(axis="y", color="#dddddd", linewidth=0.8)
        ax.set_axisbelow(True)
        ax.set_title(
            f"Each boolean function of two inputs: share of seeds that learn it, with 95% intervals "
            f"(XOR: {study.seeds:,} seeds; the others: {study.functions.seeds_per_function:,} each)"
        )
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1), frameon=False)
        _save(fig, path)
    phrases = {}
    for name in names:
        caps = sorted(archs[name].capacity, key=lambda c: c.function)
        every = [c for c in caps if c.successes == c.n]
        short: dict[str, list[str]] = {}  # 'from 80.0%' -> the functions learnt from that share
        for c in caps:
            if c.successes != c.n:
                share = "from none" if c.successes == 0 else f"from {percent(c.rate, decimals(c.ci95))}%"
                short.setdefault(share, []).append(fns[c.function])
        rest = [f"{_names(f)} {share}" for share, f in short.items()]
        learns = f"{len(every)} functions from every seed" if every else ""
        phrases[name] = (
            f"learns {', '.join(filter(None, [learns, *rest]))}",
            f"learn {', '.join(filter(None, [learns, *rest]))}",
        )
    finding = "; ".join(_grouped(phrases))
    caption = (
        "Only XOR and XNOR are not linearly separable (shaded). Functions other than XOR have "
        f"{study.functions.seeds_per_function:,} seeds each, hence their wide intervals."
    )
    return finding, caption


def steps_to_solve(
    study: records.Study, raw: dict, models: dict[str, records.ModelEntry], path: Path
) -> tuple[str, str]:
    """Histogram of the first step from which all four points stay right, per architecture.
    Returns (finding, caption)."""
    bins = np.linspace(0, study.steps, 41)
    counts = {name: np.histogram(r["steps_to_solve"][r["solved"]].numpy(), bins=bins)[0] for name, r in raw.items()}
    drawn = {name: c for name, c in counts.items() if c.sum()}
    same = coinciding({n: c.astype(float) for n, c in drawn.items()})
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(5.4, 3.7), layout="constrained")
        for i, (name, c) in enumerate(counts.items()):
            if not c.sum():
                continue
            label = f"{name} ({int(c.sum()):,} solved)" + (f", dashed: on {same[name]}" if name in same else "")
            style = {k: v for k, v in _line_style(name, same).items() if k not in ("marker", "markersize")}
            ax.stairs(c, bins, label=label, color=_colour(name, i), **style)
        ax.axvline(study.steps, color="grey", linestyle=":", linewidth=1.2)
        ax.set(
            xlabel="first step from which all four points stay right",
            ylabel="seeds",
            title=f"Steps to solve XOR ({study.seeds:,} seeds each)",
            xlim=(0, study.steps * 1.02),
        )
        if drawn:
            ax.legend(loc="best")
        else:
            ax.set_ylim(0, 1)
            ax.text(
                0.5,
                0.5,
                f"No seed solved XOR within {study.steps:,} steps",
                transform=ax.transAxes,
                ha="center",
                va="center",
                fontsize=11,
                color="dimgrey",
            )
        _save(fig, path)
    phrases = {}
    for name, a in study.architectures.items():
        s = a.steps_to_solve
        phrases[name] = (
            ": no seed solves it"
            if s.median is None
            else f": a median of {round(s.median):,} steps (90% of those that solve by {round(s.p90):,})"
        )
    finding = (
        f"Steps to solve XOR within a run of {study.steps:,}: " + "; ".join(_grouped(phrases))
        if drawn
        else f"No seed of any architecture solved XOR within {study.steps:,} steps"
    )
    caption = "The dotted line is the end of the run. " + _coincide_caption(same, models, "dashed")
    return finding, caption.strip()


def draw_all(
    root: Path, trained: list, models: dict[str, records.ModelEntry], study: records.Study | None, raw: dict | None
) -> list[records.Picture]:
    """Every picture of the report into `root`, as top-level files (Triton reads only the model folders)."""
    drawn = []

    def add(filename: str, title: str, draw, *args, model: str | None = None, caption: str = "") -> None:
        said = draw(*args, root / filename)
        alt, said_caption = (said, "") if isinstance(said, str) else said
        drawn.append(
            records.Picture(
                **msgspec.structs.asdict(writer.record_file(root, root / filename)),
                title=title,
                alt=alt,
                caption=caption or said_caption,
                model=model,
            )
        )

    same = coinciding({t.arch.name: np.array(t.outputs) for t in trained})
    for t in trained:
        name = t.arch.name
        note = f"The same surface as {same[name]}'s: {_why_same(same[name], name, models)}." if name in same else ""
        add(
            f"surface-{name}.png",
            f"Decision surface of {name}",
            decision_surface,
            name,
            t.model,
            model=name,
            caption=note,
        )
    add("loss-curves.png", "Training loss of the served models", loss_curves, models)
    if study:
        add(
            "study-rates.png",
            f"What became of each seed: solved, {OUTCOME_WORDS['unfinished']} or stuck",
            success_rates,
            study,
        )
        add("capacity.png", "All 16 boolean functions: the share of seeds that learn each", capacity, study)
        add("steps-to-solve.png", "Steps to solve XOR", steps_to_solve, study, raw, models)
    return drawn
