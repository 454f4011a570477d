"""Figures of {ref}`ch-performance`: one function per figure; each takes the measurements of
:mod:`slotless.perf.bench` and draws a new figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..book import COLORS

__all__ = ["SETTING_LABELS", "curves_figure", "ratios_figure", "scaling_figure", "sweeps_figure"]

SETTING_LABELS = {"kwinner": "main K-winner", "kwinner-alt": "alt. K-winner", "mhn": "1-winner MHN"}


def curves_figure(row):
    """{numref}`fig-performance-curves`: mean accuracy by age of the reference (dashed) and of slotless
    (solid) for one :class:`~slotless.perf.bench.SideBySide`, real patterns and pseudo-patterns."""
    curves = row.curves()
    age = np.arange(1, len(curves[("slotless", "real")]) + 1)
    fig, ax = plt.subplots()
    n = {"slotless": row.fast.trials, "reference": row.reference.trials}
    for kind, color in (("real", COLORS["kwinner"]), ("pseudo", COLORS["kwinner_pseudo"])):
        for side, style in (("slotless", "-"), ("reference", "--")):
            ax.plot(age, curves[(side, kind)], color=color, ls=style, label=f"{side}, {kind} ({n[side]} trials)")
    ax.set(xscale="log", xlabel="memory age (patterns learned since, + 1)", ylabel="retrieval accuracy",
           ylim=(-0.05, 1.05))
    ax.legend(fontsize=8)
    return fig


def ratios_figure(rows, targets):
    """{numref}`fig-performance-ratios`: the wall-clock and CPU-time ratios of each setting (bars, ± one
    standard error; cue levels side by side) with their targets (dashed: wall clock, dotted: CPU time)."""
    names = [s for s in SETTING_LABELS if any(r.setting == s for r in rows)]
    cues = sorted({r.cue for r in rows}, reverse=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    width = 0.8 / len(cues)
    for ax, attr, style, title in ((axes[0], "ratio", "--", "wall clock"), (axes[1], "ratio_cpu", ":", "CPU time")):
        for j, cue in enumerate(cues):
            sel = [next(r for r in rows if r.setting == s and r.cue == cue) for s in names]
            x = np.arange(len(names)) + (j - (len(cues) - 1) / 2) * width
            ax.bar(x, [getattr(r, attr).value for r in sel], width, yerr=[getattr(r, attr).se for r in sel],
                   color=[COLORS["mhn" if s == "mhn" else "kwinner"] for s in names], alpha=1.0 - 0.4 * j,
                   capsize=3, label=f"cue {cue:g}")
        goal = [getattr(targets.ratio[s], "wall" if attr == "ratio" else "cpu") for s in names]
        ax.hlines(goal, np.arange(len(names)) - 0.45, np.arange(len(names)) + 0.45, colors="k", linestyles=style,
                  label="target")
        ax.set(xticks=range(len(names)), xticklabels=[SETTING_LABELS[s] for s in names], title=title)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("speed-up (reference s / slotless s per trial)")
    return fig


def scaling_figure(scal: dict):
    """{numref}`fig-performance-scaling`: milliseconds per trial against each scanned quantity
    (:class:`~slotless.perf.bench.Scaling` by kind), log axes; dotted: proportional through the first point."""
    labels = {"n_h": "hidden units $n_h$", "n_mem": "memories $N$", "batch": "trials per call", "threads": "threads"}
    fig, axes = plt.subplots(1, len(scal), figsize=(11, 3.2))
    for ax, (kind, s) in zip(np.atleast_1d(axes), scal.items()):
        v, t = np.array(s.values, float), np.array(s.s_per_trial) * 1e3
        ax.plot(v, t, "o-", color=COLORS["kwinner"], label="slotless")
        if kind in ("n_h", "n_mem"):
            ax.plot(v, t[0] * v / v[0], ":", color="k", label="∝ value")
        ax.set(xscale="log", yscale="log", xlabel=labels[kind], xticks=v, xticklabels=[f"{x:g}" for x in v])
        ax.xaxis.set_minor_locator(plt.NullLocator())
        ax.yaxis.set_major_formatter(plt.FormatStrFormatter("%.3g"))
        ax.yaxis.set_minor_formatter(plt.FormatStrFormatter("%.3g"))
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel("milliseconds per trial")
    fig.tight_layout()
    return fig


def sweeps_figure(costs):
    """{numref}`fig-performance-sweeps`: CPU milliseconds per seed and batch against the seeds trained
    together, one colour per model: the compiled step (lines) and the readable torch step (open circles)."""
    fig, ax = plt.subplots()
    for i, c in enumerate(costs):
        color = f"C{i}"
        seeds = np.array(c.seeds)
        ax.plot(seeds, np.array(c.compiled_s_per_batch) * 1e3 / seeds, "o-", color=color, label=c.model)
        ax.plot(seeds[-1], c.readable_s_per_batch * 1e3 / seeds[-1], "o", mfc="none", color=color)
    ax.plot([], [], "o", mfc="none", color="k", label="readable torch step")
    ax.set(xscale="log", yscale="log", xlabel="seeds trained together", ylabel="CPU ms per seed per batch",
           xticks=costs[0].seeds, xticklabels=[str(n) for n in costs[0].seeds])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.legend(fontsize=8)
    return fig
