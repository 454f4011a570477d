"""Figures of {ref}`ch-retention`: one function per figure; each takes the data and draws a new figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..book import COLORS
from ..memory import metrics
from ..memory.theory import pb_approx, pb_exact, rd_theory

__all__ = ["accuracy_figure", "dprime_panel", "MARKER_ROWS", "marker_rows", "dprime_figure", "rd_figure",
           "alternative_figure"]

LABELS = {"kwinner": "K-winner MHN", "mhn": "Original MHN"}


def accuracy_figure(curves: dict, cues, max_age: int):
    """{numref}`fig-retention-accuracy`: mean real and pseudo accuracy against age for the K-winner and
    the MHN, one panel per cue. ``curves``: ``(model, cue)`` -> :class:`~slotless.memory.metrics.AccuracyCurves`."""
    ages = np.arange(1, max_age + 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, c in zip(axes, cues):
        for m, lab in LABELS.items():
            cur = curves[(m, c)]
            ax.plot(ages, cur.real[:max_age], color=COLORS[m], lw=1.2, label=f"{lab}: real")
            ax.plot(ages, cur.pseudo[:max_age], color=COLORS[f"{m}_pseudo"], lw=1.0, label=f"{lab}: pseudo")
        ax.set(title=f"cue {c:.0%}", xlabel="memory age (patterns learned since, + 1)", ylim=(-0.05, 1.05))
    axes[0].set_ylabel("retrieval accuracy $x\\cdot\\hat{x}/s$")
    axes[1].legend(loc="upper right", fontsize=8)
    return fig


def dprime_panel(ax, dprime_model, dprime_mhn, markers, label: str, max_age: int):
    """One d' panel on ``ax``: the mean over samples with a ± SEM band (ddof 0, cyan) of ``dprime_model``
    (red) and ``dprime_mhn`` (grey), each ``(n_samples, E)``, and the three marker rows of ``markers``
    (:class:`~slotless.memory.metrics.AgeMarkers`, :func:`marker_rows`)."""
    ages = np.arange(1, max_age + 1)
    for d, color, lab in ((dprime_model, COLORS["kwinner"], label), (dprime_mhn, COLORS["mhn"], LABELS["mhn"])):
        mean, se = metrics.dprime_band(np.asarray(d)[:, :max_age])
        ax.plot(ages, mean, color=color, lw=1.1, label=lab)
        ax.fill_between(ages, mean - se, mean + se, color=COLORS["sem"], alpha=0.5, lw=0)
    marker_rows(ax, ages, markers, ("red", "black"), ("K", "MHN"))


#: The y positions of the three marker rows: the authors' test (ddof 0), the textbook test (ddof 1), both
#: uncorrected p<0.01, and Benjamini-Hochberg on the textbook test (q=0.01).
MARKER_ROWS = (-0.4, -0.7, -1.0)


def marker_rows(ax, ages, markers, colors, names, rows=MARKER_ROWS):
    """Draw the three marker rows of ``markers`` (:class:`~slotless.memory.metrics.AgeMarkers`) on ``ax`` at
    ``ages``: filled dots for the authors' uncorrected test (ddof 0), small bars for the textbook test
    (ddof 1), hollow circles for Benjamini-Hochberg on the textbook test; ``colors`` and ``names`` are
    those of "a better" and "b better" (``eq-methods-markers``)."""
    ages = np.asarray(ages)
    n = ages.size
    for flags_a, flags_b, y, style, what in (
            (markers.authors.a_better, markers.authors.b_better, rows[0], ".", "p<0.01, ddof 0 (authors)"),
            (markers.textbook.a_better, markers.textbook.b_better, rows[1], "|", "p<0.01, ddof 1"),
            (markers.bh_a, markers.bh_b, rows[2], "o", "BH q=0.01, ddof 1")):
        for flags, color, name in ((flags_a, colors[0], names[0]), (flags_b, colors[1], names[1])):
            sel = np.asarray(flags)[:n]
            ax.plot(ages[sel], np.full(sel.sum(), y), style, color=color, ms=3, mfc="none" if style == "o" else color,
                    label=f"{name} better, {what}")


def dprime_figure(dprimes: dict, markers: dict, cues, max_age: int):
    """{numref}`fig-retention-dprime`: :func:`dprime_panel` of the main K-winner against the MHN, one per cue.
    ``dprimes``: ``(model, cue)`` -> ``(n_samples, E)``; ``markers``: ``(model, cue)`` -> AgeMarkers."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, c in zip(axes, cues):
        dprime_panel(ax, dprimes[("kwinner", c)], dprimes[("mhn", c)], markers[("kwinner", c)], LABELS["kwinner"],
                     max_age)
        ax.set(title=f"cue {c:.0%}", xlabel="memory age", ylim=(-1.5, 12))
    axes[0].set_ylabel("paired d′ (authors' definition)")
    axes[1].legend(loc="upper right", fontsize=6, ncol=2)
    return fig


def rd_figure(fits: dict, mhn, cues, max_age: int, plot_ages: int = 350):
    """{numref}`fig-retention-rd`: sample-mean RD on a log axis over ages 1..``plot_ages`` (the authors
    plot 1-350) with the exponential fits, and the analytic 1-winner curve {eq}`eq-retention-rdth` with
    the approximate and the exact p_b. ``fits``: ``(model, cue)`` -> :class:`~slotless.memory.metrics.DecayFit`
    (its ``rd`` is the curve drawn); ``mhn``: the MHN's NetworkConfig."""
    ages = np.arange(1, min(plot_ages, max_age) + 1)
    n_i, s, nh = mhn.n_input, mhn.active, mhn.n_hidden
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, c in zip(axes, cues):
        for m, fc in (("kwinner", "kwinner_fit"), ("mhn", "mhn_fit")):
            rd = fits[(m, c)].rd[: ages.size]
            ax.semilogy(ages, np.where(rd > 0, rd, np.nan), color=COLORS[m], lw=1.0, label=LABELS[m])
            f = fits[(m, c)].fit
            ax.semilogy(ages, f.C * np.exp(-f.lam * ages), "--", color=COLORS[fc], lw=1.2,
                        label=f"fit: C={f.C:.3f}, λ={f.lam:.4f}")
        for pb, style, lab in ((pb_approx(n_i, s, nh, c), "-.", "theory, approx. $p_b$"),
                               (pb_exact(n_i, s, nh, c), ":", "theory, exact $p_b$")):
            ax.semilogy(ages, rd_theory(ages, nh, pb), style, color=COLORS["theory"], lw=1.3, label=lab)
        ax.set(title=f"cue {c:.0%}", xlabel="memory age", ylim=(1e-3, 1.5))
    axes[0].set_ylabel("raw difference RD")
    for ax in axes:
        ax.legend(fontsize=7, loc="lower left")
    return fig


def alternative_figure(curves: dict, dprimes: dict, markers: dict, cues, max_age: int):
    """{numref}`fig-retention-alt`: the alternative K-winner against the MHN: accuracy curves (top) and
    :func:`dprime_panel` (bottom), one column per cue. Dicts as in :func:`accuracy_figure` and
    :func:`dprime_figure`."""
    ages = np.arange(1, max_age + 1)
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    for j, c in enumerate(cues):
        ax = axes[0, j]
        for m, col in (("kwinner-alt", "kwinner"), ("mhn", "mhn")):
            cur = curves[(m, c)]
            ax.plot(ages, cur.real[:max_age], color=COLORS[col], lw=1.1, label=f"{m}: real")
            ax.plot(ages, cur.pseudo[:max_age], color=COLORS[f"{col}_pseudo"], lw=1.0, label=f"{m}: pseudo")
        ax.set(title=f"cue {c:.0%}", ylim=(-0.05, 1.05), ylabel="retrieval accuracy")
        dprime_panel(axes[1, j], dprimes[("kwinner-alt", c)], dprimes[("mhn", c)], markers[("kwinner-alt", c)],
                     "alternative K-winner", max_age)
        axes[1, j].set(xlabel="memory age", ylim=(-1.5, 12), ylabel="paired d′")
    axes[0, 1].legend(fontsize=7)
    axes[1, 1].legend(fontsize=6, loc="upper right")
    return fig
