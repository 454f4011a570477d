"""Figures of {ref}`ch-case-sequence`: one encoded sequence, the credit of each stored item, the baseline's
learning curves. Each function draws and returns the figure; the chapter shows it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..attention.task import Sequences, describe, encode, token_names

__all__ = ["sequence_grid", "credit", "baseline_curves"]


def sequence_grid(seq: Sequences, letters: int):
    """``fig-case-sequence-example``: one sequence (the first of ``seq``) as the network sees it, context tokens
    and query as rows, the 3L input units as columns, the three token groups separated by red lines."""
    L = letters
    C = seq.letters.shape[1]
    X, xq, _ = encode(seq.take([0]), L)
    grid = torch.cat([X[0], xq]).numpy()
    fig, ax = plt.subplots(figsize=(7.0, 2.6))
    ax.imshow(grid, cmap="Greys", vmin=0, vmax=1, aspect="auto")
    ax.grid(False)
    ax.set_xticks(range(3 * L), token_names(L), rotation=90)
    ax.set_yticks(range(C + 1), [f"context {t + 1}" for t in range(C)] + ["query"])
    ax.set_xlabel("input unit (token)")
    ax.set_title(describe(seq.take([0]), L)[0])
    for x0 in (L - 0.5, 2 * L - 0.5):
        ax.axvline(x0, color="tab:red", lw=1)
    return fig


def credit(a: np.ndarray, g: np.ndarray, item_labels, query_label: str):
    """``fig-case-sequence-credit``: the attention weights ``a (C,)`` and the signed W_K weights ``g (C,)`` of one
    sequence's items (from :func:`slotless.attention.diagnostics.credit_weights`), as bars over the items."""
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.0))
    axes[0].bar(item_labels, a, color="tab:blue")
    axes[0].set_ylabel("attention weight $a_j$")
    axes[1].bar(item_labels, g, color=["tab:green" if v > 0 else "tab:red" for v in g])
    axes[1].axhline(0, color="k", lw=0.8)
    axes[1].set_ylabel("$g_j$ (weight in the $W_K$ gradient)")
    for ax in axes:
        ax.set_xlabel(f"context item (query {query_label})")
    fig.tight_layout()
    return fig


def baseline_curves(accuracy: np.ndarray, window: int = 25):
    """``fig-case-sequence-baseline``: per-seed batch accuracy ``accuracy (S, batches)`` smoothed by a
    ``window``-batch moving mean, with chance (0.5) dashed."""
    fig, ax = plt.subplots()
    kernel = np.ones(window) / window
    for row in accuracy:
        sm = np.convolve(row, kernel, mode="valid")
        ax.plot(np.arange(len(sm)) + window, sm, color="tab:blue", alpha=0.6, lw=1)
    ax.axhline(0.5, color="k", ls="--", lw=1, label="chance")
    ax.set_xlabel("batch")
    ax.set_ylabel(f"accuracy ({window}-batch mean)")
    ax.set_ylim(0.4, 1.02)
    ax.legend(loc="lower right")
    return fig
