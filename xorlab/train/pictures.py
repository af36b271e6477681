"""The pictures of the report, drawn at training time into the repository (the service only
serves files). matplotlib with the Agg backend: no display needed."""
from __future__ import annotations

from pathlib import Path

import matplotlib
import msgspec

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
import torch  # noqa: E402

from xorlab.modelrepo import records, spec, writer  # noqa: E402

DPI = 90
COLOURS = {"perceptron": "#d62728", "mlp": "#1f77b4", "mlp-backprop": "#17becf", "deep": "#2ca02c"}


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, metadata={"Software": None})   # no version stamp: reproducible bytes
    plt.close(fig)


def decision_surface(name: str, model: torch.nn.Module, path: Path) -> None:
    """P(y=1) over [-0.5, 1.5]^2, the 0.5 contour, and the four points."""
    g = np.linspace(-0.5, 1.5, 161, dtype=np.float32)
    xx, yy = np.meshgrid(g, g)
    with torch.no_grad():
        p = model(torch.from_numpy(np.stack([xx.ravel(), yy.ravel()], 1))).numpy().reshape(xx.shape)
    fig, ax = plt.subplots(figsize=(4, 3.6))
    im = ax.contourf(xx, yy, p, levels=np.linspace(0, 1, 21), cmap="RdBu_r", vmin=0, vmax=1)
    ax.contour(xx, yy, p, levels=[0.5], colors="k", linewidths=1.5)
    pts = np.array(spec.INPUTS)
    ax.scatter(pts[:, 0], pts[:, 1], c=["#ffffff" if t == 0 else "#000000" for t in spec.XOR], s=90,
               edgecolors="k", linewidths=1.5, zorder=3)
    for (x1, x2), t in zip(spec.INPUTS, spec.XOR):
        ax.annotate(f"{int(t)}", (x1, x2), textcoords="offset points", xytext=(8, 6), fontsize=10)
    ax.set(title=f"{name}: P(y=1), 0.5 contour", xlabel="x1", ylabel="x2", xlim=(-0.5, 1.5), ylim=(-0.5, 1.5))
    fig.colorbar(im, ax=ax, ticks=[0, 0.5, 1])
    _save(fig, path)


def loss_curves(models: dict[str, records.ModelEntry], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, m in models.items():
        ax.plot(m.loss_curve.steps, m.loss_curve.loss, label=name, color=COLOURS.get(name))
    ax.axhline(np.log(2), color="grey", linestyle=":", linewidth=1)
    ax.annotate("ln 2", (0, np.log(2)), textcoords="offset points", xytext=(2, 4), color="grey")
    ax.set(yscale="log", xlabel="step", ylabel="BCE loss", title="Training loss of the served models")
    ax.legend()
    _save(fig, path)


def success_rates(study: records.Study, path: Path) -> None:
    archs = study.architectures
    names = list(archs)
    rates = np.array([archs[n].rate for n in names])
    lo = np.clip(rates - np.array([archs[n].ci95[0] for n in names]), 0, None)  # rounding: never < 0
    hi = np.clip(np.array([archs[n].ci95[1] for n in names]) - rates, 0, None)
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.bar(names, rates, yerr=[lo, hi], capsize=6, color=[COLOURS.get(n, "grey") for n in names])
    for i, r in enumerate(rates):
        ax.annotate(f"{r:.1%}", (i, r), textcoords="offset points", xytext=(0, 8), ha="center")
    ax.set(ylim=(0, 1.12), ylabel="share of seeds that solve XOR",
           title=f"XOR solved, {study.seeds} seeds each (95% Wilson intervals)")
    _save(fig, path)


def capacity(study: records.Study, path: Path) -> None:
    archs = study.architectures
    names = list(archs)
    table = np.array([[c.rate for c in archs[n].capacity] for n in names])
    fns = study.functions.names
    fig, ax = plt.subplots(figsize=(10, 3.2))
    im = ax.imshow(table, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(16), fns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(16):
            ax.text(j, i, f"{table[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if table[i, j] < 0.6 else "black")
    ax.set_title(f"Success rate on each boolean function of two inputs "
                 f"(XOR: {study.seeds} seeds; others: {study.functions.seeds_per_function} seeds)")
    fig.colorbar(im, ax=ax)
    _save(fig, path)


def steps_to_solve(study: records.Study, raw: dict, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.4))
    bins = np.linspace(0, study.steps, 41)
    for name, r in raw.items():
        s = r["steps_to_solve"][r["solved"]].numpy()
        if len(s):
            ax.hist(s, bins=bins, histtype="step", linewidth=1.5, label=f"{name} ({len(s)} solved)",
                    color=COLOURS.get(name))
    ax.set(xlabel="first step from which all four points stay correct", ylabel="seeds",
           title="Steps to solve XOR")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    else:   # no seed of any architecture solved XOR (e.g. a short --steps): say so, not an empty legend
        ax.text(0.5, 0.5, "no seed solved XOR", transform=ax.transAxes, ha="center", va="center", color="grey")
    _save(fig, path)


def draw_all(root: Path, trained: list, models: dict[str, records.ModelEntry], study: records.Study | None,
             raw: dict | None) -> list[records.Picture]:
    """Every picture of the report into `root`, as top-level files (Triton reads only the model folders)."""
    drawn = []

    def add(filename: str, title: str, draw, *args, model: str | None = None) -> None:
        draw(*args, root / filename)
        drawn.append(records.Picture(**msgspec.structs.asdict(writer.record_file(root, root / filename)),
                                     title=title, model=model))

    for t in trained:
        add(f"surface-{t.arch.name}.png", f"Decision surface of {t.arch.name}", decision_surface,
            t.arch.name, t.model, model=t.arch.name)
    add("loss-curves.png", "Training loss of the served models", loss_curves, models)
    if study:
        add("study-rates.png", "Share of seeds that solve XOR, with 95% intervals", success_rates, study)
        add("capacity.png", "Success rate on all 16 boolean functions", capacity, study)
        add("steps-to-solve.png", "Steps to solve XOR", steps_to_solve, study, raw)
    return drawn
