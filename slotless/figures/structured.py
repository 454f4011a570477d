"""Figures of {ref}`ch-structured`: one function per figure; each takes the data and draws a new figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..book import COLORS
from ..memory import metrics
from .retention import marker_rows

__all__ = ["similarity_heatmaps", "similarity_densities", "accuracy_figure", "dprime_figure"]


def similarity_heatmaps(matrices: dict):
    """{numref}`fig-structured-similarity`: one similarity matrix per panel on a common 0-1 colour scale.
    ``matrices``: flips (None: unstructured random patterns) -> (n, n) similarity matrix."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(2.6 * len(matrices), 3.0))
    for ax, (b, s) in zip(axes, matrices.items()):
        im = ax.imshow(s, vmin=0, vmax=1, cmap="viridis", interpolation="nearest")
        ax.set(title="Unstructured data" if b is None else f"Structured, b={b}", xticks=[], yticks=[], xlabel="pattern",
               ylabel="pattern" if b is None else "")
    fig.colorbar(im, ax=axes, shrink=0.8, label="similarity x·x'/s")
    return fig


def similarity_densities(samples: dict, active: int, chance: float):
    """{numref}`fig-structured-similarity-density`: densities of the pooled off-diagonal similarities, one
    step histogram per kind (one bin per overlap k/s), with the random-pair mean ``chance`` = s/n_i.
    ``samples``: flips (None: unstructured) -> :class:`~slotless.memory.patterns.SimilaritySample`."""
    fig, ax = plt.subplots()
    bins = (np.arange(active + 2) - 0.5) / active
    cmap = plt.get_cmap("viridis")
    for j, (b, sample) in enumerate(samples.items()):
        color = "k" if b is None else cmap(j / len(samples))
        ax.hist(sample.off_diagonal(), bins=bins, density=True, histtype="step", color=color,
                label="unstructured" if b is None else f"b={b}", lw=1.3)
    ax.axvline(chance, color="k", ls=":", lw=1)
    ax.set(yscale="log", xlabel="off-diagonal similarity x·x'/s", ylabel="density (log scale)")
    ax.legend(fontsize=8)
    return fig


def accuracy_figure(runs: dict, flips, cues, n_ages: int, n_trials: int, smooth: int = 10):
    """{numref}`fig-structured-accuracy`: accuracy against age of learned memories, same-tree and uniform
    pseudo-patterns, one panel per (flips, cue), means over the first ``n_trials`` trials smoothed over
    ``smooth`` ages. ``runs``: ``(flips, cue, model)`` -> :class:`~slotless.memory.protocol.TrialResult`."""
    ages = np.arange(1, n_ages + 1)
    kernel = np.ones(smooth) / smooth
    fig, axes = plt.subplots(len(flips), 2, figsize=(10, 2.3 * len(flips)), sharex=True, sharey=True, squeeze=False)
    for row, b in enumerate(flips):
        for col, cue in enumerate(cues):
            ax = axes[row, col]
            for name, label in (("kwinner", "K-winner"), ("mhn", "1-winner MHN")):
                r = runs[b, cue, name]
                lines = ((r.acc_real, "-", name, ""), (r.acc_pseudo, "--", f"{name}_pseudo", " pseudo"),
                         (r.acc_uniform, ":", f"{name}_uniform", " uniform"))
                for arr, style, key, suffix in lines:
                    y = np.convolve(arr[:n_trials, : ages.size].mean(axis=0), kernel, mode="valid")
                    ax.plot(ages[: y.size] + (smooth - 1) / 2, y, style, color=COLORS[key], label=label + suffix)
            ax.set(title=f"b={b}, cue {cue:.0%}", ylim=(-0.05, 1.05))
            if col == 0:
                ax.set_ylabel("accuracy x·x̂/s")
    for ax in axes[-1]:
        ax.set_xlabel("memory age")
    axes[0, 1].legend(fontsize=7, ncol=2, loc="upper right")
    return fig


def dprime_figure(dprime_k, dprime_h, markers, max_age: int):
    """{numref}`fig-structured-dprime`: mean paired d' over samples with ± SEM bands (cyan) of the K-winner
    (``dprime_k``) and the 1-winner MHN (``dprime_h``), each ``(n_samples, E)``, over ages 1..``max_age``
    on a log axis, and the three marker rows of ``markers`` (:class:`~slotless.memory.metrics.AgeMarkers`,
    :func:`~slotless.figures.retention.marker_rows`)."""
    fig, ax = plt.subplots()
    ages = np.arange(1, max_age + 1)
    for d, color, label in ((dprime_k, COLORS["kwinner"], "K-winner MHN"), (dprime_h, COLORS["mhn"], "1-winner MHN")):
        mean, half = metrics.dprime_band(d[:, :max_age])
        ax.fill_between(ages, mean - half, mean + half, color=COLORS["sem"], alpha=0.5, lw=0)
        ax.plot(ages, mean, color=color, label=label)
    marker_rows(ax, ages, markers, ("red", "black"), ("K-winner", "1-winner"))
    ax.set(xscale="log", xlabel="memory age (log scale)", ylabel="paired d′ (authors' definition)")
    ax.legend(fontsize=6, ncol=2)
    return fig
