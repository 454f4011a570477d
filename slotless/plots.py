"""Shared figure styling and small plotting helpers for the book.

Colours follow the authors' code: K-winner MHN red / light coral, original
(1-winner) MHN grey / light grey; uniform baselines chocolate / light steel blue.
"""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import seaborn as sns

__all__ = ["COLORS", "book_scale", "setup", "band"]

COLORS = {
    "kwinner": "tab:red",
    "kwinner_pseudo": "lightcoral",
    "kwinner_uniform": "chocolate",
    "mhn": "grey",
    "mhn_pseudo": "lightgrey",
    "mhn_uniform": "lightsteelblue",
    "sem": "cyan",
    "kwinner_fit": "orange",
    "mhn_fit": "black",
    "theory": "green",
}


def book_scale(quick: bool | None) -> bool:
    """Resolve a chapter's ``quick`` parameter: None means ``BOOK_QUICK`` decides.

    Returns the boolean ``quick``. Paper scale is the default.
    """
    if quick is None:
        quick = os.environ.get("BOOK_QUICK", "0") == "1"
    return bool(quick)


def setup(quick: bool) -> None:
    """Apply the book's figure style and say which scale this page runs at."""
    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.95)
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 110, "figure.figsize": (7.0, 4.0)})
    if quick:
        print("Built at QUICK scale (CI): small runs, not the paper's scale.")
    else:
        print("Built at paper scale.")


def band(ax, x, mean, half_width, color, label=None, alpha=0.25):
    """Plot ``mean`` with a shaded band ``mean ± half_width`` on ``ax``."""
    ax.plot(x, mean, color=color, label=label)
    ax.fill_between(x, mean - half_width, mean + half_width, color=color, alpha=alpha, linewidth=0)
