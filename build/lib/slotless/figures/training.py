"""Figures of {ref}`ch-training`: learning curves, the seed summary, the learning-rate grid, the cosines, the
learned weights and the generalisation runs. Each function takes the run arrays (the
:func:`slotless.attention.training.result_arrays` of each run, keyed by ``(model, setting)``), draws and returns
the figure; curves are averaged over bins of 1% of training."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from ..attention import diagnostics
from ..attention.task import token_names

__all__ = ["MODEL_COLORS", "smooth", "learning_curves", "seed_summary", "lr_grid", "cosine_curves",
           "learned_weights", "generalisation"]

#: One colour per model of {ref}`ch-training` (tab10 in the order of the models, then the masked exact rule).
MODEL_COLORS = dict(zip(["transformer", "mhn-fixed-wk", "mhn-wk", "qk-mhn", "hebbian", "mhn-exact-wk",
                         "mhn-exact-wk masked"], plt.cm.tab10.colors))


def smooth(curve: np.ndarray):
    """Means of ``curve (..., batches)`` over bins of 1% of training (at least one batch), and the bin centres."""
    n = max(1, curve.shape[-1] // 100)
    return diagnostics.binned(curve, n), np.arange(0, curve.shape[-1], n) + n / 2


def learning_curves(res: dict, models):
    """``fig-training-curves``: per-seed (thin) and mean (thick) batch accuracy of each model under the default
    preset, one panel per model (2 x 3), chance dashed."""
    fig, axes = plt.subplots(2, 3, figsize=(10.0, 5.6), sharex=True, sharey=True)
    for ax, model in zip(axes.flat, models):
        acc, x = smooth(res[(model, "default")]["accuracy"])
        ax.plot(x, acc.T, color=MODEL_COLORS[model], alpha=0.35, lw=0.8)
        ax.plot(x, acc.mean(0), color=MODEL_COLORS[model], lw=2.2, label=model)
        ax.axhline(0.5, color="k", ls="--", lw=0.8)
        ax.set_title(model, fontsize=10)
        ax.set_ylim(0.4, 1.02)
    for ax in axes[1]:
        ax.set_xlabel("batch")
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy")
    fig.tight_layout()
    return fig


def seed_summary(res: dict, keys):
    """``fig-training-summary``: left, every seed's final accuracy per run (jittered dots, seeded jitter); right,
    the mean loss per sequence over seeds with a band of +-1 standard error across seeds (log scale)."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11.0, 4.2))
    rng = np.random.default_rng(0)
    for i, key in enumerate(keys):
        fa = res[key]["final_accuracy"]
        ax1.plot(i + rng.uniform(-0.15, 0.15, len(fa)), fa, "o", color=MODEL_COLORS[key[0]], alpha=0.8)
        loss, x = smooth(res[key]["loss"])
        m, se = loss.mean(0), loss.std(0, ddof=1) / math.sqrt(len(loss))
        ax2.plot(x, m, color=MODEL_COLORS[key[0]], label=key[0])
        ax2.fill_between(x, m - se, m + se, color=MODEL_COLORS[key[0]], alpha=0.25, lw=0)
    ax1.axhline(0.99, color="k", ls=":", lw=1, label="0.99")
    ax1.set_xticks(range(len(keys)), [k[0] for k in keys], fontsize=8, rotation=30, ha="right")
    ax1.set_ylabel("final accuracy (last window)")
    ax1.legend(loc="lower left")
    ax2.set_yscale("log")
    ax2.set_xlabel("batch")
    ax2.set_ylabel("loss per sequence")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _grid_counts(ax, counts: np.ndarray, grid_lrs, seeds: int, title: str, ylabels: bool):
    im = ax.imshow(counts, cmap="viridis", vmin=0, vmax=seeds)
    ax.grid(False)
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", color="w" if counts[i, j] < seeds / 2 else "k")
    ax.set_xticks([0, 1], ["key_lr = 1e-4", "key_lr = lr"])
    ax.set_yticks(range(len(grid_lrs)), [f"lr = {lr:g}" for lr in grid_lrs] if ylabels else [])
    ax.set_title(title, fontsize=10)
    return im


def lr_grid(counts: dict, fall_back: dict, slow_keys: dict, grid_lrs, seeds: int):
    """``fig-training-lr-grid``. ``counts``: model -> ``(len(grid_lrs), 2)`` seeds reaching 0.99 at key rate 1e-4
    and = lr; ``fall_back``: the MHN-W_K runs with key rate = lr, ``lr`` -> arrays (the seeds that touched 99% and
    fell back, :func:`slotless.attention.diagnostics.touched_and_fell_back`, drawn red); ``slow_keys``: ``lr`` ->
    the arrays of the key rate 1e-4 runs (every seed drawn grey). Returns the figure."""
    fig, axes = plt.subplots(1, 3, figsize=(13.0, 3.8), gridspec_kw={"width_ratios": [1, 1, 1.6]})
    for panel, (ax, (model, grid)) in enumerate(zip(axes[:2], counts.items())):
        im = _grid_counts(ax, grid, grid_lrs, seeds, model, ylabels=panel == 0)
    fig.colorbar(im, ax=axes[:2], label="seeds with final accuracy >= 0.99", shrink=0.8)
    n_fell = 0
    for lr in grid_lrs:  # per lr: the key rate 1e-4 seeds first, then the key rate = lr seeds that fell back
        acc, x = smooth(slow_keys[lr]["accuracy"])
        for row in acc:
            axes[2].plot(x, row, color="0.6", lw=0.6, alpha=0.5)
        fell = diagnostics.touched_and_fell_back(fall_back[lr])
        n_fell += int(fell.sum())
        for row in smooth(fall_back[lr]["accuracy"])[0][fell]:
            axes[2].plot(x, row, color="tab:red", lw=1)
    axes[2].plot([], [], color="tab:red", label="key_lr = lr, fell back")
    axes[2].plot([], [], color="0.6", label="key_lr = 1e-4")
    axes[2].legend(fontsize=8, loc="lower right")
    axes[2].set_xlabel("batch")
    axes[2].set_ylabel("accuracy")
    axes[2].set_title(f"MHN-W_K: {n_fell} key_lr = lr seeds touch 99% and fall back", fontsize=9)
    return fig


def cosine_curves(res: dict, keys, rules):
    """``fig-training-cosines``: the mean over seeds of each rule's cosine with the transformer's W_K gradient
    (top row) and with the MHN's own exact gradient (bottom row), along the runs ``keys`` (columns)."""
    fig, axes = plt.subplots(2, 2, figsize=(11.0, 6.4), sharey=True, sharex=True)
    for col, key in enumerate(keys):
        for row, prefix in enumerate(("cos_", "cosmhn_")):
            ax = axes[row, col]
            for rule in rules:
                c, x = smooth(res[key][f"{prefix}{rule}"])
                ax.plot(x, c.mean(0), label=rule)
            ax.axhline(0, color="k", lw=0.8)
            ax.set_title(f"{key[0]}: vs {'transformer' if row == 0 else 'MHN-own'} gradient", fontsize=9)
    axes[1, 0].set_xlabel("batch")
    axes[1, 1].set_xlabel("batch")
    axes[0, 0].set_ylabel("cosine")
    axes[1, 0].set_ylabel("cosine")
    axes[0, 1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def learned_weights(res: dict, models, letters: int):
    """``fig-training-weights``: for seed 0 of each model (rows, default preset): W_V, the query-key block of
    W_Q^T W_K and the key covariance (``eq-methods-weight-diagnostics``), each on its own symmetric colour scale."""
    L = letters
    names = token_names(L)
    fig, axes = plt.subplots(len(models), 3, figsize=(11.0, 2.6 * len(models)),
                             gridspec_kw={"width_ratios": [3, 2.2, 2]})
    for row, model in zip(axes, models):
        r = res[(model, "default")]
        mats = [r["W_V"][0], diagnostics.qk_block(r["W_Q"][0], r["W_K"][0], L),
                diagnostics.key_covariance(r["W_K"][0], L)]
        for ax, m, title in zip(row, mats, ["$W_V$", "$W_Q^T W_K$ (query rows)", "key covariance"]):
            lim = np.abs(m).max()
            im = ax.imshow(m, cmap="coolwarm", vmin=-lim, vmax=lim, aspect="auto")
            ax.grid(False)
            fig.colorbar(im, ax=ax, fraction=0.05)
            ax.set_title(f"{model}: {title}", fontsize=9)
        row[0].set_xticks(range(3 * L), names, rotation=90, fontsize=7)
        row[0].set_yticks([0, 1], ["lower", "upper"])
        row[1].set_xticks(range(2 * L), names[:2 * L], fontsize=7)
        row[1].set_yticks(range(L), names[2 * L:], fontsize=7)
        row[2].set_xticks(range(2 * L), names[:2 * L], fontsize=7)
        row[2].set_yticks(range(2 * L), names[:2 * L], fontsize=7)
    fig.tight_layout()
    return fig


def generalisation(res: dict, models, eval_context: int):
    """``fig-training-generalisation``: per seed of each model's held-out run, the final training accuracy, the
    accuracy on held-out sequences and at context ``eval_context``, joined by a line; chance dashed."""
    fig, ax = plt.subplots(figsize=(7.0, 3.8))
    for i, model in enumerate(models):
        r = res[(model, "generalisation")]
        pts = np.stack([r["final_accuracy"], r["heldout_accuracy"], r["context_accuracy"]], 1)
        xs = np.arange(3) + 4 * i
        for p in pts:
            ax.plot(xs, p, "-o", color=MODEL_COLORS[model], alpha=0.5, ms=4)
        ax.plot([], [], "-o", color=MODEL_COLORS[model], label=model)
    ax.set_xticks([0, 1, 2, 4, 5, 6], ["train", "held-out", f"C={eval_context}"] * 2)
    ax.axhline(0.5, color="k", ls="--", lw=0.8, label="chance")
    ax.set_ylabel("accuracy")
    ax.legend()
    return fig
