"""Figures of {ref}`ch-mhn-transformer`: the fast weights after storing one sequence, and the query's attention
over units against the transformer's over items. Each function draws and returns the figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..attention.mhn import FastWeights
from ..attention.task import token_names

__all__ = ["fast_weights", "attention"]


def fast_weights(fast: FastWeights, letters: int):
    """``fig-mhn-transformer-fast-weights``: W_hi, W_oh^T and W_reinst of the first sequence of the first seed of
    ``fast`` (leading dims ``(S, B)``), recruited units marked by arrows."""
    L = letters
    n_h = fast.W_oh.shape[-1]
    fig, axes = plt.subplots(1, 3, figsize=(10.0, 3.2), gridspec_kw={"width_ratios": [3.2, 1.1, 1.6]})
    panels = [(fast.W_hi[0, 0], "$W_{hi}$ (key dims)", "coolwarm"),
              (fast.W_oh[0, 0].T, "$W_{oh}^T$ (output)", "viridis"),
              (fast.W_reinst[0, 0], "$W_{reinst}$ (input unit)", "viridis")]
    rec = fast.recruited[0, 0].numpy()
    for ax, (mat, xlabel, cmap) in zip(axes, panels):
        m = mat.numpy()
        lim = np.abs(m).max() if cmap == "coolwarm" else 1.0
        im = ax.imshow(m, aspect="auto", cmap=cmap, vmin=-lim if cmap == "coolwarm" else 0, vmax=lim)
        ax.grid(False)
        ax.set_yticks(range(n_h), [f"unit {u}{' ←' if rec[u] else ''}" for u in range(n_h)])
        ax.set_xlabel(xlabel)
        fig.colorbar(im, ax=ax, fraction=0.08)
    axes[1].set_xticks([0, 1], ["lower", "upper"])
    axes[2].set_xticks(range(3 * L), token_names(L), rotation=90, fontsize=7)
    fig.tight_layout()
    return fig


def attention(a_masked: np.ndarray, a_open: np.ndarray, a_transformer: np.ndarray, unit_of_item: np.ndarray,
              recruited: np.ndarray):
    """``fig-mhn-transformer-attention``: the MHN's attention over its ``n_h`` units with unrecruited units masked
    (``a_masked (n_h,)``) or not (``a_open``), and the transformer's attention over the items
    (``a_transformer (C,)``) placed at the unit each item was stored in (``unit_of_item (C,)``);
    ``recruited (n_h,)`` bool marks the units that hold an item."""
    n_h = len(a_masked)
    fig, ax = plt.subplots(figsize=(7.0, 3.2))
    xs = np.arange(n_h)
    ax.bar(xs - 0.2, a_masked, width=0.4, label="MHN, unrecruited masked", color="tab:blue")
    ax.bar(xs + 0.2, a_open, width=0.4, label="MHN, unmasked (reference)", color="tab:orange")
    ax.plot(unit_of_item - 0.2, a_transformer, "ko", label="transformer (item's unit)")
    ax.set_xticks(xs, [f"{u}{'*' if recruited[u] else ''}" for u in xs])
    ax.set_xlabel("hidden unit (* = holds an item)")
    ax.set_ylabel("attention weight")
    ax.legend(fontsize=8)
    return fig
