"""The figures of {ref}`ch-attention-results`, one function per figure.

Each function takes what the chapter computed (:mod:`slotless.attention.theory`), draws one figure with
labelled axes and a legend, and returns it. Bands are ±2 standard errors unless a docstring says otherwise.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..attention import theory as ath
from ..book import COLORS

__all__ = ["variant_label", "deviation_figure", "key_residual_figure", "cosines_figure"]

_VARIANT_COLORS = {(True, True): COLORS["theory"], (True, False): "tab:blue", (False, True): "tab:red",
                   (False, False): "grey"}
_RULE_COLORS = ("tab:purple", "tab:blue", "tab:olive", COLORS["theory"], "black")


def variant_label(projections: bool, mask: bool) -> str:
    """"projections, masked" etc.: the legend entry of one MHN-Transformer variant."""
    return f"{'projections' if projections else 'no projections'}, {'masked' if mask else 'unmasked'}"


def deviation_figure(curves, context: int):
    """{numref}`fig-attention-results-deviation`: the output deviation (left, log scale, values below 1e-16
    drawn at 1e-16) and the collision rate (right) of each :class:`~slotless.attention.theory.DeviationCurve`
    against n_h, with the context size ``context`` marked."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8))
    for curve in curves:
        key = (curve.projections, curve.mask)
        label, color = variant_label(*key), _VARIANT_COLORS[key]
        ax.errorbar(curve.hidden, np.maximum(curve.mean, 1e-16), yerr=2 * curve.se, color=color, marker="o", ms=3,
                    label=label, capsize=2)
        bx.plot(curve.hidden, curve.collision_rate, color=color, marker="o", ms=3, label=label)
    ax.set(yscale="log", xlabel="hidden units $n_h$", ylabel="relative deviation of $\\hat y$ (unitless)")
    bx.set(xlabel="hidden units $n_h$", ylabel="fraction of sequences with a collision", ylim=(-0.03, 1.03))
    ax.axvline(context, color="k", lw=0.6, ls=":")
    bx.axvline(context, color="k", lw=0.6, ls=":")
    bx.legend(fontsize=8)
    fig.tight_layout()
    return fig


def key_residual_figure(tracking: dict, key_lr: float):
    """{numref}`fig-attention-results-key-residual`: the relative key residual of {prf:ref}`thm-qk-alignment`
    along training (``tracking``: mask -> :class:`~slotless.attention.theory.KeyTracking`; mean over the
    letter columns, band ±2 SE over seeds) and the part-2 bound (dotted)."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for mask, ls, col in ((True, "-", "tab:blue"), (False, "--", "tab:orange")):
        track, name = tracking[mask], "masked" if mask else "unmasked"
        mean_s = track.relative_residual.mean(-1)                                         # (T, S)
        m, se = mean_s.mean(-1), mean_s.std(-1) / np.sqrt(mean_s.shape[-1])
        t = np.arange(1, len(m) + 1)
        ax.plot(t, m, ls=ls, color=col, label=f"measured, {name}")
        ax.fill_between(t, m - 2 * se, m + 2 * se, color=col, alpha=0.25, lw=0)
        q_norm = np.concatenate([track.query_norm, track.query_norm], -1)
        ax.plot(t, (ath.tracking_bound(track, key_lr)[:-1] / q_norm).mean((-1, -2)), ls=":", color=col,
                label=f"part-2 bound, {name}")
    ax.set(yscale="log", xlabel="batch", ylabel="$\\|W_K x_\\ell - q_\\ell\\| / \\|q_\\ell\\|$ (unitless)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def cosines_figure(cosines: dict):
    """{numref}`fig-attention-results-cosines`: the cosine of each W_K rule with the true gradient during
    training (``cosines``: mask -> :class:`~slotless.attention.theory.RuleCosines`; mean over seeds, band
    ±2 SE over seeds), masked (left) and unmasked (right)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, mask in zip(axes, (True, False)):
        rc = cosines[mask]
        for rule, color in zip(rc.rules, _RULE_COLORS):
            cos = rc.of(rule)
            m, se = cos.mean(-1), cos.std(-1) / np.sqrt(cos.shape[-1])
            ax.plot(rc.batches, m, color=color, label=rule, ls="--" if rule == "exact_reinstatement" else "-")
            ax.fill_between(rc.batches, m - 2 * se, m + 2 * se, color=color, alpha=0.2, lw=0)
        ax.set(title="masked" if mask else "unmasked", xlabel="batch", ylim=(-1.05, 1.05))
    axes[0].set_ylabel("cosine with the true $W_K$ gradient")
    axes[0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
