"""The figures of {ref}`ch-memory-results`, one function per figure.

Each function takes the arrays and checks the chapter computed (:mod:`slotless.memory.theory`), draws one
figure with labelled axes and a legend, and returns it. Bands and error bars are ±2 standard errors over
trials unless a docstring says otherwise.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..book import COLORS
from ..memory import theory as th
from ..memory.metrics import sem

__all__ = [
    "survival_figure",
    "raw_difference_figure",
    "baseline_figure",
    "dprime_figure",
    "trace_figure",
    "forgetting_law_figure",
    "assumption_a1_figure",
]


def _kwinner_color(model: str) -> str:
    return COLORS["kwinner"] if model == "kwinner" else COLORS["kwinner_pseudo"]


def _mean_se(x):
    """Mean over trials and its standard error (ddof 1), per age."""
    return x.mean(axis=0), sem(x, axis=0, ddof=1)


def survival_figure(checks: dict, n_hidden: int, n_mem: int):
    """{numref}`fig-memory-results-survival`: the survival windows of {prf:ref}`thm-mhn-retention` (i)
    (``checks``: (rule, cue) -> list of :class:`~slotless.memory.theory.WindowComparison`) against pi_a."""
    fig, ax = plt.subplots()
    ages = np.arange(1, n_mem + 1)
    ax.semilogy(ages, th.survival(ages, n_hidden), color=COLORS["theory"], lw=1.5, label=r"$\pi_a=(1-1/n_h)^{a-1}$")
    rows = [(rule, c, row) for (rule, c), window_rows in checks.items() for row in window_rows]
    first = rows[0][2].lo
    # neighbouring windows are drawn slightly apart so that their bars do not overlap
    for (rule, c, row), off in zip(rows, np.tile([0.97, 1.0, 1.03], len(rows))):
        color = COLORS["mhn"] if rule == "topk" else "tab:blue"
        name = "1-winner MHN" if rule == "topk" else "random winners"
        ax.errorbar(np.sqrt(row.lo * row.hi) * off, row.simulated, yerr=2 * row.se, fmt="o" if c == 1.0 else "s",
                    color=color, ms=4, label=f"{name}, cue {c}" if row.lo == first else None)
    ax.set(xscale="log", xlabel="memory age $a$ (window geometric centre)", ylabel="fraction still stored",
           ylim=(max(1e-4, th.survival(n_mem, n_hidden) / 3), 1.5))
    ax.legend(fontsize=8)
    return fig


def raw_difference_figure(rd: dict, n_input: int, active: int, n_hidden: int):
    """{numref}`fig-memory-results-rd`: the 1-winner raw difference (``rd``: cue -> ``(trials, E)``) against
    pi_a (1 - p_b) with the exact and the approximate p_b ({prf:ref}`thm-mhn-retention` (iii))."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), sharey=True)
    for ax, (c, x) in zip(axes, rd.items()):
        ages = np.arange(1, x.shape[1] + 1)
        mean, se = _mean_se(x)
        ax.semilogy(ages, np.where(mean > 0, mean, np.nan), color=COLORS["mhn"], lw=1, label="simulation")
        ax.fill_between(ages, np.clip(mean - 2 * se, 1e-5, None), mean + 2 * se, color=COLORS["mhn"], alpha=0.3, lw=0)
        ax.semilogy(ages, th.rd_theory(ages, n_hidden, th.pb_exact(n_input, active, n_hidden, c)), ":",
                    color=COLORS["theory"], lw=1.8, label=r"$\pi_a(1-p_b)$, exact $p_b$")
        ax.semilogy(ages, th.rd_theory(ages, n_hidden, th.pb_approx(n_input, active, n_hidden, c)), "-.",
                    color=COLORS["theory"], lw=1.2, label=r"$\pi_a(1-p_b)$, approx. $p_b$")
        ax.set(title=f"cue {c:.0%}", xlabel="memory age $a$", ylim=(1e-3, 1.2))
    axes[0].set_ylabel("raw difference RD (accuracy units)")
    axes[0].legend(fontsize=8)
    return fig


def baseline_figure(pseudo: dict, n_input: int, active: int, n_hidden: int, cue_fraction: float = 0.5):
    """{numref}`fig-memory-results-baseline`. Left: the pseudo accuracy at ``cue_fraction`` (``pseudo``:
    "random"/"topk" -> ``(trials, E)``) against the exact law of {prf:ref}`prop-pseudo-baseline`; right: the
    error of the code's approximation against n_h."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8))
    base = th.baseline_distribution(n_input, active, n_hidden, cue_fraction)
    edges = (np.arange(active + 2) - 0.5) / active
    for rule, color in (("random", "tab:blue"), ("topk", COLORS["mhn"])):
        acc = pseudo[rule]
        ax.hist(acc.ravel(), bins=edges, density=False, alpha=0.45, color=color, weights=np.full(acc.size, 1 / acc.size),
                label="random winners" if rule == "random" else "1-winner MHN")
    ax.plot(base.values, base.pmf, "o", color=COLORS["theory"], ms=4, label="exact pmf")
    ax.axvline(base.mean, color=COLORS["theory"], lw=1, label="exact $p_b$")
    ax.axvline(th.pb_approx(n_input, active, n_hidden, cue_fraction), color=COLORS["kwinner_fit"], lw=1,
               label="approx. $p_b$")
    ax.set(xlim=(0, 0.6), xlabel="pseudo-pattern accuracy", ylabel="probability")
    ax.legend(fontsize=8)
    nhs = np.unique(np.round(np.logspace(0.31, 3.3, 25)).astype(int))
    for n_i, ls in ((1000, "-"), (200, "--")):
        for c, color in ((1.0, "tab:purple"), (0.5, "tab:olive")):
            bx.semilogx(nhs, th.pb_approx_error(n_i, n_i // 10, nhs, c), ls, color=color, label=f"$n_i$={n_i}, cue {c}")
    bx.axhline(0, color="k", lw=0.6)
    bx.set(xlabel="$n_h$", ylabel="approx. $-$ exact $p_b$")
    bx.legend(fontsize=8)
    return fig


def dprime_figure(finite: dict, n_input: int, active: int, n_hidden: int):
    """{numref}`fig-memory-results-dprime`: the authors' d' per sample (``finite``: cue ->
    :class:`~slotless.memory.theory.FiniteTCheck`) against the finite-T mixture (band ±1 SD of one sample)
    and the population d_z of {prf:ref}`cor-mhn-dprime`."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, (c, check) in zip(axes, finite.items()):
        ages, mean, sd = check.ages, check.mixture_mean, check.mixture_sd
        for row in check.dprime:
            ax.plot(ages, np.clip(row, 1e-2, None), ".", color=COLORS["mhn"], ms=4)
        ax.plot(ages, mean, color="black", lw=1.4, label="finite-T mixture, mean")
        ax.fill_between(ages, np.clip(mean - sd, 1e-2, None), mean + sd, color="black", alpha=0.15, lw=0)
        fine = np.arange(1, ages[-1] + 1)
        ax.plot(fine, th.mhn_dz(fine, n_input, active, n_hidden, c), color=COLORS["theory"], lw=1.4,
                label="population $d_z$")
        ax.set(xscale="log", yscale="log", title=f"cue {c:.0%}", xlabel="memory age $a$")
    axes[0].plot([], [], ".", color=COLORS["mhn"], label="simulation, one sample")
    axes[0].set_ylabel("paired d′ (authors' definition)")
    axes[0].legend(fontsize=8)
    return fig


def trace_figure(kwinner: dict, nets: dict):
    """{numref}`fig-memory-results-trace`: the mean trace of the K-winner settings (``kwinner``: (model, cue)
    -> :class:`~slotless.memory.theory.MemoryArrays`) against {prf:ref}`rem-kwinner` (b), with the scaled
    1-winner survival of ``nets["mhn"]``."""
    fig, ax = plt.subplots()
    for (model, c), arrays in kwinner.items():
        cfg, color = nets[model], _kwinner_color(model)
        ages = np.arange(1, arrays.memories + 1)
        mean, se = _mean_se(arrays.trace)
        ax.semilogy(ages, mean, color=color, lw=1.2, label=f"{model}, cue {c}: simulation")
        ax.fill_between(ages, mean - 2 * se, mean + 2 * se, color=color, alpha=0.3, lw=0)
        ax.semilogy(ages, th.kwinner_trace(ages, cfg.n_hidden, cfg.winners, cfg.epsilon), "--", color="k", lw=0.8)
    mhn = nets["mhn"]
    ax.semilogy(ages, mhn.epsilon * th.survival(ages, mhn.n_hidden) * 0.3, ":", color=COLORS["mhn"], lw=1,
                label=r"$0.3\,\pi_a$ (1-winner survival, scaled)")
    ax.plot([], [], "--", color="k", lw=0.8, label=r"$\varepsilon(1-\varepsilon k/n_h)^{a-1}$")
    ax.set(xlabel="memory age $a$", ylabel="mean trace", ylim=(1e-3, 0.5))
    ax.legend(fontsize=8)
    return fig


def forgetting_law_figure(kwinner: dict, nets: dict, cues, n_input: int, active: int, max_age: int):
    """{numref}`fig-memory-results-kwinner-law`: the K-winner raw difference (``kwinner``: (model, cue) ->
    :class:`~slotless.memory.theory.MemoryArrays`) against {prf:ref}`prop-kwinner-forgetting` and the
    1-winner theory, one panel per cue level, ages up to ``max_age``."""
    fig, axes = plt.subplots(1, len(cues), figsize=(5 * len(cues), 3.8), squeeze=False)
    mhn = nets["mhn"]
    for ax, c in zip(axes[0], cues):
        for model in ("kwinner", "kwinner-alt"):
            arrays, cfg, color = kwinner[(model, c)], nets[model], _kwinner_color(model)
            ages = np.arange(1, arrays.memories + 1)
            mean, se = _mean_se(arrays.rd)
            ax.semilogy(ages, np.where(mean > 0, mean, np.nan), color=color, lw=1, label=f"{model}: simulation")
            ax.fill_between(ages, np.clip(mean - 2 * se, 1e-4, None), mean + 2 * se, color=color, alpha=0.25, lw=0)
            ax.semilogy(ages, th.kwinner_rd_theory(ages, cfg.n_hidden, cfg.winners, cfg.epsilon, mean[0]), "--",
                        color=color, lw=1.5, label=f"{model}: first-order law")
        pb = th.pb_exact(n_input, active, mhn.n_hidden, c)
        ax.semilogy(ages, th.rd_theory(ages, mhn.n_hidden, pb), ":", color=COLORS["mhn"], lw=1.2, label="1-winner theory")
        ax.set(title=f"cue {c:.0%}", xlabel="memory age $a$", ylabel="raw difference RD", ylim=(1e-3, 1.2),
               xlim=(0, max_age))
    axes[0][0].legend(fontsize=7)
    return fig


def assumption_a1_figure(kwinner: dict, nets: dict, block: int = 5):
    """{numref}`fig-memory-results-kwinner-a1`: RD(a)/RD(1) against the measured mean trace / eps, in
    blocks of ``block`` ages (bars ±2 SE of the RD over trials), against the diagonal that assumption (A1) of
    {prf:ref}`prop-kwinner-forgetting` predicts."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for (model, c), arrays in kwinner.items():
        rd_runs = arrays.rd
        n = (arrays.memories // block) * block
        rel = rd_runs / rd_runs[:, 0].mean()
        blocks = rel[:, :n].reshape(len(rel), -1, block).mean(axis=2)
        trace = arrays.trace[:, :n].mean(axis=0).reshape(-1, block).mean(axis=1) / nets[model].epsilon
        ax.errorbar(trace, blocks.mean(axis=0), yerr=2 * blocks.std(axis=0, ddof=1) / np.sqrt(len(blocks)),
                    fmt="o" if c == 1.0 else "s", color=_kwinner_color(model), ms=3, lw=0.6, label=f"{model}, cue {c}")
    ax.plot([0, 1], [0, 1], "--", color="k", lw=0.8, label="(A1): RD proportional to trace")
    ax.set(xlabel=r"mean trace / $\varepsilon$", ylabel="RD(a) / RD(1)", xlim=(0, 1.05), ylim=(-0.1, 1.3))
    ax.legend(fontsize=8)
    return fig
