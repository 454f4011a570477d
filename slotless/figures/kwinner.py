"""Figures of {ref}`ch-kwinner`: one function per figure; each takes the data and draws a new figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

from ..book import COLORS

__all__ = ["mask_figure", "drive_figure", "update_figure", "overlap_figure", "usage_figure", "expavg_figure",
           "retrieval_figure"]


def mask_figure(net, counts, n_rows: int = 60):
    """{numref}`fig-kwinner-mask`: the mask of the first ``n_rows`` hidden units, and the fan-out
    histogram (``counts``: :class:`~slotless.memory.network.MaskCounts`) against Binomial(n_h, f)."""
    cfg, fan_out = net.config, counts.fan_out
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [1.6, 1]})
    ax0.spy(net.mask[:n_rows], markersize=1.0, aspect="auto", color="k")
    ax0.set(xlabel="input unit i", ylabel="hidden unit u", title=f"mask A (first {n_rows} hidden units)")
    ax0.xaxis.set_ticks_position("bottom")
    grid = np.arange(fan_out.min() - 5, fan_out.max() + 6)
    ax1.hist(fan_out, bins=np.arange(grid[0], grid[-1] + 2) - 0.5, density=True, color="lightgray", label="mask")
    ax1.plot(grid, stats.binom.pmf(grid, cfg.n_hidden, cfg.fan_in), color=COLORS["kwinner"], label="Binomial(n_h, f)")
    ax1.set(xlabel="hidden units reading the input", ylabel="fraction of inputs", title="fan-out")
    ax1.legend()
    return fig


def drive_figure(ensemble, jitter_rng: np.random.Generator):
    """{numref}`fig-kwinner-drive`: the drive histogram with the ensemble (``ensemble``:
    :class:`~slotless.memory.network.Ensemble`), and drive against active inputs seen (jittered by
    ``jitter_rng``)."""
    h, ens, others, seen = ensemble.drive, ensemble.winners, ensemble.others, ensemble.seen
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.6))
    bins = np.linspace(0, h.max() * 1.02, 50)
    ax0.hist(h[others], bins=bins, color="lightgray", label="other units")
    ax0.hist(h[ens], bins=bins, color=COLORS["kwinner"], label=f"ensemble (k = {ens.size})")
    ax0.axvline(h[ens].min(), color="k", ls="--", lw=1)
    ax0.set(xlabel="hidden drive h_u (a.u.)", ylabel="hidden units", title="drive of one pattern")
    ax0.legend()
    jitter = jitter_rng.uniform(-0.25, 0.25, h.size)
    ax1.scatter(seen[others] + jitter[others], h[others], s=3, color="darkgray", label="other units")
    ax1.scatter(seen[ens] + jitter[ens], h[ens], s=8, color=COLORS["kwinner"], label="ensemble")
    ax1.set(xlabel="active inputs connected to the unit (jittered)", ylabel="hidden drive h_u (a.u.)")
    ax1.legend()
    return fig


def update_figure(step, mask: np.ndarray, x: np.ndarray, epsilon: float):
    """{numref}`fig-kwinner-update`: the changed weights of one learning step (``step``:
    :class:`~slotless.memory.network.LearningStep`; ``mask``: (n_h, n_i); ``x``: the pattern), and each
    winner connection's change against its value before the step, with the two lines of the rule."""
    ens = step.winners
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax0.spy(step.d_xy != 0, markersize=0.6, aspect="auto", color=COLORS["kwinner"])
    ax0.set(xlabel="input unit i", ylabel="hidden unit u", title="changed weights of W_xy")
    ax0.xaxis.set_ticks_position("bottom")
    rows, cols = np.nonzero(mask[ens])
    w_b, dw, on = step.before_xy[ens][rows, cols], step.d_xy[ens][rows, cols], x[cols] == 1
    ax1.scatter(w_b[~on], dw[~on], s=4, color=COLORS["mhn"], label="x_i = 0")
    ax1.scatter(w_b[on], dw[on], s=6, color=COLORS["kwinner"], label="x_i = 1")
    grid = np.linspace(0, 1, 2)
    ax1.plot(grid, epsilon * (1 - grid), "k--", lw=0.8, label="ε(1 − w) and −εw")
    ax1.plot(grid, -epsilon * grid, "k--", lw=0.8)
    ax1.set(xlabel="weight before the step", ylabel="change of the weight", title="winner connections")
    ax1.legend(fontsize=8)
    return fig


def overlap_figure(probes_k, probes_h, chance_k: float, chance_h: float):
    """{numref}`fig-kwinner-overlap`: shared ensemble fraction against pattern overlap, K-winner
    (``probes_k``, mean ± 1 SE) and 1-winner MHN (``probes_h``), with the chance levels."""
    fig, ax = plt.subplots()
    ax.errorbar(probes_k.pattern_overlap, probes_k.mean, yerr=probes_k.se, color=COLORS["kwinner"], marker="o",
                capsize=3, label="K-winner: shared winners")
    ax.plot(probes_h.pattern_overlap, probes_h.mean, color=COLORS["mhn"], marker="s", label="1-winner: same winner")
    ax.axhline(chance_k, color=COLORS["kwinner"], ls="--", lw=1, label="chance k/n_h")
    ax.axhline(chance_h, color=COLORS["mhn"], ls="--", lw=1, label="chance 1/n_h (MHN)")
    ax.set(xlabel="pattern overlap x·x'/s", ylabel="fraction of the ensemble shared", ylim=(-0.03, 1.05))
    ax.legend(fontsize=8)
    return fig


def usage_figure(panels):
    """{numref}`fig-kwinner-usage`: one histogram of wins per unit per panel against the binomial law of
    random recruitment. ``panels``: ``(usage, color, title)`` with ``usage`` a
    :class:`~slotless.memory.network.UsageWindow`."""
    fig, axes = plt.subplots(1, len(panels), figsize=(11, 3.4))
    for ax, (usage, color, title) in zip(axes, panels):
        w, n, p = usage.counts, usage.steps, usage.p
        grid = np.arange(0, max(w.max(), stats.binom.ppf(0.999, n, p)) + 2)
        ax.hist(w, bins=grid - 0.5, density=True, color="lightgray", label="units")
        ax.plot(grid, stats.binom.pmf(grid, n, p), color=color, label=f"Binomial({n}, {p:g})")
        ax.set(xlabel="wins per unit", ylabel="fraction of units", title=title)
        ax.legend(fontsize=8)
    return fig


def expavg_figure(sym, mask: np.ndarray, pick: np.ndarray, average, wins: np.ndarray, history_h: np.ndarray):
    """{numref}`fig-kwinner-expavg`. Left: measured against predicted asymmetry
    (``sym``: :class:`~slotless.memory.network.SymmetryCheck`) of the connections ``pick`` (indices into
    the existing connections of ``mask``). Right: the traces (``average``:
    :class:`~slotless.memory.network.ExpAverage`) of the memories of the most-used K-winner unit
    (``wins``: wins per unit) against age, and those of the last 1-winner unit (``history_h``: its winners)."""
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.8))
    pred, got = np.abs(sym.predicted)[mask][pick], np.abs(sym.measured)[mask][pick]
    ax0.loglog(np.maximum(pred, 1e-12), np.maximum(got, 1e-12), ".", ms=3, color=COLORS["kwinner"], label="connections")
    line = np.array([1e-12, 1])
    ax0.loglog(line, line, "k-", lw=0.8, label="identity holds")
    ax0.axhline(sym.bound, color="k", ls="--", lw=0.8, label="float32 bound")
    ax0.set(xlabel="predicted asymmetry (1-ε)^m |ΔW⁽⁰⁾| (floored at 1e-12)", ylabel="measured asymmetry",
            title="symmetry identity")
    ax0.legend(fontsize=8)
    n_learn = average.won.shape[0]
    u_top = int(np.argmax(wins))
    t_top = np.flatnonzero(average.won[:, u_top])
    ax1.vlines(n_learn - t_top, 0, average.trace[t_top, u_top], color=COLORS["kwinner"])
    ax1.plot(n_learn - t_top, average.trace[t_top, u_top], "o", color=COLORS["kwinner"], ms=4,
             label=f"K-winner unit {u_top} ({wins[u_top]} wins)")
    u_h = int(history_h[-1])
    t_h = np.flatnonzero(history_h == u_h)
    ax1.plot(n_learn - t_h, (t_h == t_h[-1]).astype(float), "s", color=COLORS["mhn"], ms=4,
             label=f"1-winner unit {u_h} ({t_h.size} wins)")
    ax1.set(xscale="log", xlabel="age of the memory (presentations ago, log)", ylabel="trace of the memory in the unit",
            title="a unit as an exponential average")
    ax1.legend(fontsize=8)
    return fig


def retrieval_figure(curves, width: int = 20):
    """{numref}`fig-kwinner-retrieval`: accuracy against age in bins of ``width`` ages (mean ± 1 SE per
    bin), with the pseudo-pattern means as horizontal lines. ``curves``: ``(acc, acc_pseudo, color,
    pseudo_color, label)`` with ``acc`` (E,) age 1 first."""
    fig, ax = plt.subplots()
    n_ages = curves[0][0].size
    edges = np.arange(0, n_ages + 1, width)
    centres = edges[:-1] + width / 2 + 0.5
    for acc, accp, color, colorp, label in curves:
        binned = acc[: edges[-1]].reshape(-1, width)
        mean, se = binned.mean(1), binned.std(1, ddof=1) / np.sqrt(width)
        ax.plot(centres, mean, color=color, label=label)
        ax.fill_between(centres, mean - se, mean + se, color=color, alpha=0.25, lw=0)
        ax.axhline(accp.mean(), color=colorp, ls="--", label=f"{label}: pseudo")
    ax.set(xlabel="memory age (presentations)", ylabel="retrieval accuracy x·x̂/s", ylim=(-0.05, 1.05))
    ax.legend(fontsize=8)
    return fig
