"""Figures of {ref}`ch-controls`: one function per figure; each takes the data and draws a new figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..book import COLORS
from ..memory import metrics
from .retention import marker_rows

__all__ = ["STYLE", "MEASURE_LABELS", "random_winners_figure", "measures_figure"]

#: Colours (real, pseudo) and labels of the three models of {numref}`fig-controls-random`.
STYLE = {"kwinner": ("tab:red", "lightcoral", "K-winner (similarity)"),
         "kwinner-random": ("tab:blue", "lightblue", "K-winner (random winners)"),
         "mhn": (COLORS["mhn"], COLORS["mhn_pseudo"], "Original MHN")}

#: Legend labels and colours of the four measures of {numref}`fig-controls-measures`, by field of
#: :class:`~slotless.memory.metrics.DprimeMeasures`.
MEASURE_LABELS = {"authors": ("√2 · authors' d′ (mean over samples)", "tab:purple"),
                  "pooled_dz": ("√2 · pooled d_z", "tab:orange"),
                  "auc": ("d′_A = √2 Φ⁻¹(AUC_c)", "tab:green"),
                  "sdt": ("yes/no d′ (Hautus)", "tab:brown")}


def random_winners_figure(sims: dict, dprimes: dict, markers: dict, cues):
    """{numref}`fig-controls-random`: accuracy (top) and paired d' with ± SEM bands (bottom) of the
    similarity-based K-winner, the random-winners control and the MHN, with the marker rows of the
    similarity-vs-random comparison; one column per cue. ``sims``: ``(model, cue)`` ->
    :class:`~slotless.memory.metrics.PairedAccuracy`; ``dprimes``: ``(model, cue)`` -> ``(n_samples, E)``;
    ``markers``: cue -> :class:`~slotless.memory.metrics.AgeMarkers`."""
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    for j, c in enumerate(cues):
        for m, (col, pcol, lab) in STYLE.items():
            cur = metrics.accuracy_curves(*sims[(m, c)])
            ages = np.arange(1, cur.real.size + 1)
            axes[0, j].plot(ages, cur.real, color=col, lw=1.1, label=f"{lab}: real")
            axes[0, j].plot(ages, cur.pseudo, color=pcol, lw=0.9, label=f"{lab}: pseudo")
            mean, se = metrics.dprime_band(dprimes[(m, c)])
            axes[1, j].plot(ages, mean, color=col, lw=1.1, label=lab)
            axes[1, j].fill_between(ages, mean - se, mean + se, color=COLORS["sem"], alpha=0.5, lw=0)
        marker_rows(axes[1, j], ages, markers[c], ("red", "tab:blue"), ("similarity", "random"))
        axes[0, j].set(title=f"cue {c:.0%}", ylim=(-0.05, 1.05), ylabel="retrieval accuracy")
        axes[1, j].set(xlabel="memory age", ylim=(-1.5, 8), ylabel="paired d′")
    axes[0, 1].legend(fontsize=6, loc="upper right")
    axes[1, 1].legend(fontsize=7, loc="upper right")
    return fig


def measures_figure(measures: dict, boots: dict, grid, cues):
    """{numref}`fig-controls-measures`: the four d' measures against age (log axis) for the K-winner (top)
    and the MHN (bottom), one column per cue, with bootstrap 95% intervals of d'_A and the yes/no d' on the
    ages ``grid``. ``measures``: ``(model, cue)`` -> :class:`~slotless.memory.metrics.DprimeMeasures`;
    ``boots``: ``(model, cue)`` -> :class:`~slotless.memory.metrics.BootstrapMeasures`."""
    grid = np.asarray(grid)
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    for i, m in enumerate(("kwinner", "mhn")):
        for j, c in enumerate(cues):
            ax, meas = axes[i, j], measures[(m, c)]
            for field, (lab, col) in MEASURE_LABELS.items():
                y = getattr(meas, field)
                ax.plot(np.arange(1, y.size + 1), y, color=col, lw=1.0, label=lab)
            b = boots[(m, c)]
            for reps, field, mark in ((b.dprime_auc, "auc", "s"), (b.dprime_sdt, "sdt", "^")):
                lo_, hi_ = np.percentile(reps, [2.5, 97.5], axis=0)
                est = getattr(meas, field)[grid - 1]
                yerr = np.clip([est - lo_, hi_ - est], 0, None)
                ax.errorbar(grid, est, yerr=yerr, fmt=mark, color=MEASURE_LABELS[field][1], ms=3, capsize=2, lw=0.8)
            ax.set(xscale="log", title=f"{'K-winner' if m == 'kwinner' else 'Original MHN'}, cue {c:.0%}",
                   ylim=(-1, 8 if m == "kwinner" else 12), ylabel="d′")
            if i == 1:
                ax.set_xlabel("memory age")
    axes[0, 1].legend(fontsize=7, loc="upper right")
    return fig
