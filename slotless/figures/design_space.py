"""Figures of {ref}`ch-design-space`: one function per figure; each takes the chapter's table (and runs)
and draws a new figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import TwoSlopeNorm

from ..book import COLORS
from ..memory import metrics
from ..memory.design_space import PAPER_POINT, pareto_front

__all__ = ["WINDOW_TITLES", "VARIANTS", "heatmap_figure", "front_figure", "law_figure", "scaling_figure",
           "paper_size_figure"]

#: Panel titles of the three age windows (paper ages; the page's networks scale them).
WINDOW_TITLES = {"young": "young (ages 1–20)", "middle": "middle (51–100)", "old": "old (201–500)"}
#: The authors' saved variants of the paper's point, marked on the maps: (k, eps) and their marker.
VARIANTS = {(PAPER_POINT["winners"], PAPER_POINT["epsilon"]): ("*", "paper's point"),
            (65, PAPER_POINT["epsilon"]): ("o", "authors' k = 65"),
            (PAPER_POINT["winners"], 0.35): ("s", "authors' ε = 0.35")}


def _cells(table, rows_key, cols_key):
    rows = sorted(table[rows_key].unique())
    cols = sorted(table[cols_key].unique())
    return rows, cols


def _grid_values(table, rows, cols, rows_key, cols_key, column):
    out = np.full((len(rows), len(cols)), np.nan)
    for _, r in table.iterrows():
        out[rows.index(r[rows_key]), cols.index(r[cols_key])] = r[column]
    return out


def _ink(image, value) -> str:
    """Black or white text, whichever reads on the cell's colour."""
    r, g, b, _ = image.cmap(image.norm(value))
    return "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black"


def _panel(ax, values, rows, cols, norm, cmap, fmt, hatch=None, labels=None):
    image = ax.imshow(values, origin="lower", aspect="auto", cmap=cmap, norm=norm)
    ax.grid(False)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if np.isfinite(values[i, j]):
                text = format(values[i, j], fmt) if labels is None else labels[i][j]
                ax.text(j, i, text, ha="center", va="center", fontsize=6.5, color=_ink(image, values[i, j]))
            else:
                ax.text(j, i, "—", ha="center", va="center", fontsize=7)
            if hatch is not None and hatch[i, j]:
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="////", lw=0,
                                           edgecolor="0.45"))
    ax.set_xticks(range(len(cols)), [f"{c:g}" for c in cols], fontsize=7)
    ax.set_yticks(range(len(rows)), [f"{r:g}" for r in rows], fontsize=7)
    return image


def _mark_variants(ax, table, rows, cols, rows_key, cols_key):
    """Mark the paper's point and the authors' variants where ``table`` holds them."""
    for (k, eps), (marker, label) in VARIANTS.items():
        hit = table[(table.winners == k) & (table.epsilon == eps) & (table.fan_in == PAPER_POINT["fan_in"])]
        if len(hit):
            r, c = hit[rows_key].iloc[0], hit[cols_key].iloc[0]
            ax.plot(cols.index(c), rows.index(r), marker, ms=15 if marker == "*" else 12, mfc="none", mec="k",
                    mew=1.2, label=label)


def heatmap_figure(table, rows_key: str | None, cols_key: str, row_label: str, col_label: str, cues=(1.0, 0.5)):
    """{numref}`fig-design-space-kepsilon` and {numref}`fig-design-space-fanin`: the K-winner's d' in the young,
    middle and old windows and the crossover age over a grid (rows ``rows_key``, columns ``cols_key`` of
    ``table``, the rows of :func:`slotless.memory.design_space.design_table` of one grid), one row of panels
    per cue. d' colours are centred on the matched MHN's value in that window (red: the K-winner is higher);
    hatched cells: the 95% paired interval of the difference contains 0; crossover cells show the first age
    at which the K-winner's RD exceeds the MHN's (— if never). ``rows_key`` None draws one row per cue."""
    if rows_key is None:
        table, rows_key = table.assign(_row=0), "_row"
    rows, cols = _cells(table, rows_key, cols_key)
    height = (3.1 if len(rows) > 1 else 1.6) * len(cues) + 0.6
    fig, axes = plt.subplots(len(cues), 4, figsize=(13, height), squeeze=False)
    for i, cue in enumerate(cues):
        part = table[table.cue == cue]
        for j, name in enumerate(WINDOW_TITLES):
            ax = axes[i, j]
            values = _grid_values(part, rows, cols, rows_key, cols_key, name)
            centre = float(part[f"{name}_mhn"].iloc[0])
            low = _grid_values(part, rows, cols, rows_key, cols_key, f"{name}_low")
            high = _grid_values(part, rows, cols, rows_key, cols_key, f"{name}_high")
            span = max(np.nanmax(np.abs(values - centre)), 1e-6)
            norm = TwoSlopeNorm(centre, centre - span, centre + span)
            image = _panel(ax, values, rows, cols, norm, "RdBu_r", ".2f", hatch=(low <= 0) & (high >= 0))
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03).set_label(f"d′ (MHN: {centre:.2f})", fontsize=7)
            ax.set_title(f"cue {cue:.0%}: d′, {WINDOW_TITLES[name]}", fontsize=8)
        ax = axes[i, 3]
        cross = _grid_values(part, rows, cols, rows_key, cols_key, "crossover")
        image = _panel(ax, cross, rows, cols, None, "viridis", ".0f")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03).set_label("age", fontsize=7)
        ax.set_title(f"cue {cue:.0%}: crossover age", fontsize=8)
        for ax in axes[i]:
            _mark_variants(ax, part, rows, cols, rows_key, cols_key)
            ax.set_xlabel(col_label, fontsize=8)
            if rows_key == "_row":
                ax.set_yticks([])
        axes[i, 0].set_ylabel(row_label, fontsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.05 if handles else 0, 1, 1))
    return fig


def front_figure(fronts: dict, mhn: dict):
    """{numref}`fig-design-space-front`: every design's young-window against its old-window d' (mean over
    samples, bars ± 2 SE over samples), the non-dominated front of the designs and the matched 1-winner MHN
    (line), the MHN (grey square), the paper's point (star) and the designs that significantly dominate it
    (black rings, if any); one panel per cue. ``fronts``: cue -> :class:`~slotless.memory.design_space.Front`;
    ``mhn``: cue -> the MHN's (young, old) d'."""
    cues = list(fronts)
    fig, axes = plt.subplots(1, len(cues), figsize=(5.2 * len(cues), 4.3), squeeze=False)
    for ax, cue in zip(axes[0], cues):
        f = fronts[cue]
        y_mean, o_mean = f.young.mean(axis=1), f.old.mean(axis=1)
        y_err = 2 * metrics.sem(f.young, axis=1, ddof=1)
        o_err = 2 * metrics.sem(f.old, axis=1, ddof=1)
        ax.errorbar(y_mean, o_mean, xerr=y_err, yerr=o_err, fmt="o", color=COLORS["kwinner_pseudo"], ms=4, lw=0.6,
                    label="K-winner designs")
        young = np.append(y_mean, mhn[cue][0])
        old = np.append(o_mean, mhn[cue][1])
        on = pareto_front(young, old)
        order = np.argsort(young[on])
        ax.plot(young[on][order], old[on][order], "-", color="k", lw=1, label="non-dominated front")
        ax.plot(*mhn[cue], "s", color=COLORS["mhn"], ms=7, label="1-winner MHN")
        r = f.reference
        ax.plot(y_mean[r], o_mean[r], "*", color=COLORS["kwinner"], ms=16, mec="k", label="paper's point")
        if f.dominators.any():
            ax.plot(y_mean[f.dominators], o_mean[f.dominators], "o", ms=11, mfc="none", mec="k",
                    label="dominates the paper's point")
        ax.set(xscale="log", xlabel="d′, young memories (log scale)", ylabel="d′, old memories",
               title=f"cue {cue:.0%}")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def law_figure(table, cues=(1.0, 0.5)):
    """{numref}`fig-design-space-law`: fitted RD decay rate over the first-order law's, over (eps, k), one
    panel per cue; 1 (white) means the law holds, blue that memories fade more slowly than the law says.
    Cells whose 95% interval contains 1 are marked ✓."""
    rows, cols = _cells(table, "winners", "epsilon")
    fig, axes = plt.subplots(1, len(cues), figsize=(5.4 * len(cues), 3.8), squeeze=False)
    for ax, cue in zip(axes[0], cues):
        part = table[table.cue == cue]
        ratio = _grid_values(part, rows, cols, "winners", "epsilon", "law")
        low = _grid_values(part, rows, cols, "winners", "epsilon", "law_low")
        high = _grid_values(part, rows, cols, "winners", "epsilon", "law_high")
        span = max(np.nanmax(np.abs(np.log(ratio))), 0.05)
        labels = [[f"{ratio[i, j]:.2f}" + (" ✓" if low[i, j] <= 1 <= high[i, j] else "") for j in range(len(cols))]
                  for i in range(len(rows))]
        image = _panel(ax, np.log(ratio), rows, cols, TwoSlopeNorm(0.0, -span, span), "RdBu_r", ".2f",
                       labels=labels)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03).set_label("ln(fitted / law)", fontsize=7)
        _mark_variants(ax, part, rows, cols, "winners", "epsilon")
        ax.set(xlabel="learning rate ε", ylabel="winners k (paper's size)", title=f"cue {cue:.0%}")
    fig.tight_layout()
    return fig


def _bars(value, low, high):
    """Error-bar lengths from an interval; a percentile interval may exclude its estimate, so clip at 0."""
    value, low, high = (np.asarray(v, dtype=float) for v in (value, low, high))
    return np.clip([value - low, high - value], 0, None)


def scaling_figure(table, cues=(1.0, 0.5)):
    """{numref}`fig-design-space-scaling`: the paper's point at growing size (x: n_i = 1000 x scale, with
    s, n_h and k scaled alike): left, the K-winner's d' minus the MHN's in the old window (ages scaled by
    n_h), with 95% paired intervals; right, the crossover age in units of the MHN's n_h, with bootstrap
    95% intervals (a percentile interval can exclude its estimate; the bar then stops at the point)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for cue, color in zip(cues, (COLORS["kwinner"], COLORS["kwinner_uniform"])):
        part = table[table.cue == cue].sort_values("scale")
        x = part.scale.to_numpy() * 1000
        d = part.old_diff.to_numpy()
        axes[0].errorbar(x, d, yerr=_bars(d, part.old_low, part.old_high), fmt="o-", color=color, capsize=3,
                         label=f"cue {cue:.0%}")
        c = part.crossover_per_nh.to_numpy()
        nh = part.mhn_hidden.to_numpy()
        axes[1].errorbar(x, c, yerr=_bars(c, part.crossover_low / nh, part.crossover_high / nh), fmt="o-",
                         color=color, capsize=3, label=f"cue {cue:.0%}")
    axes[0].axhline(0, color="k", lw=0.8)
    axes[0].set(ylabel="old-window d′: K-winner − MHN")
    axes[1].set(ylabel="crossover age / n_h of the MHN")
    sizes = sorted(table.scale.unique() * 1000)
    for ax in axes:
        ax.set(xscale="log", xlabel="input units n_i (s, n_h, k scaled alike)")
        ax.set_xticks(sizes, [f"{s:g}" for s in sizes])
        ax.minorticks_off()
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def paper_size_figure(runs: dict, cues=(1.0, 0.5), max_age: int = 1000):
    """{numref}`fig-design-space-paper-size`: mean retrieval accuracy (top; light lines the paired
    pseudo-patterns) and the authors' paired d' (bottom; mean over samples, cyan ± SEM) against age, for the
    runs at the paper's size. ``runs``: ``(label, cue)`` -> :class:`~slotless.memory.design_space.RunSummary`,
    labels in drawing order, "1-winner MHN" drawn grey."""
    labels = list(dict.fromkeys(label for label, _ in runs))
    palette = dict(zip(labels, ["tab:red", "tab:purple", "tab:orange", "tab:green"]))
    palette["1-winner MHN"] = COLORS["mhn"]
    fig, axes = plt.subplots(2, len(cues), figsize=(5.2 * len(cues), 7), sharex=True, squeeze=False)
    for j, cue in enumerate(cues):
        for label in labels:
            summary = runs[(label, cue)]
            ages = summary.ages[:max_age]
            color = palette[label]
            axes[0, j].plot(ages, summary.real.mean(axis=0)[:max_age], color=color, lw=1, label=f"{label}: real")
            axes[0, j].plot(ages, summary.pseudo.mean(axis=0)[:max_age], color=color, lw=0.7, alpha=0.4)
            d = np.where(np.isfinite(summary.dprime), summary.dprime, np.nan)[:, :max_age]
            mean, se = np.nanmean(d, axis=0), metrics.sem(d, ddof=0)
            axes[1, j].plot(ages, mean, color=color, lw=1, label=label)
            axes[1, j].fill_between(ages, mean - se, mean + se, color=COLORS["sem"], alpha=0.5, lw=0)
        axes[0, j].set(title=f"cue {cue:.0%}", ylabel="retrieval accuracy", ylim=(-0.05, 1.05))
        axes[1, j].set(xlabel="memory age", ylabel="paired d′", ylim=(-1, 12))
    axes[0, 0].legend(fontsize=7, loc="upper right")
    axes[1, 0].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig
