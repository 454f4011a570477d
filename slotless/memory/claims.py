"""The headline claims of Part I, each a function of the runs that returns its statistic, interval and
verdict (:class:`~slotless.claim_types.ClaimResult`).

The chapters assert these verdicts ({ref}`sec-retention-claims`, {ref}`sec-structured-dprime`,
{ref}`sec-controls-random`, {ref}`ch-memory-results`), and ``tests/test_claims.py`` evaluates each at CI
scale through the registry :mod:`slotless.claims`, together with a deliberate mutation of the runs that
must make the verdict fail. A claim no mutation can fail would not be a claim.

The unit of every d' comparison is the sample: the per-sample curves of two models are paired by sample
index (as in the authors' markers, ``eq-methods-markers``), a window's difference is the mean over samples
of the per-sample window-mean difference (:func:`~slotless.memory.metrics.window_difference`), and its
interval is Student's t with ``n_samples - 1`` degrees of freedom (ddof 1).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ..checks import ConfigError, check_float, check_int
from ..claim_types import ClaimResult
from .metrics import MeanSE, age_markers, marked_ages, window_difference
from .theory import all_survive_horizon, decay_rate_mhn, decay_rate_with_se, pb_approx, pb_exact, rd_windows

__all__ = [
    "t_interval",
    "older_ages_advantage",
    "youngest_ages_only",
    "one_winner_curve",
    "recruitment_advantage",
]


def t_interval(diff: MeanSE, n_samples: int, level: float = 0.99) -> tuple[float, float]:
    """The two-sided Student-t interval at ``level`` of a mean over ``n_samples`` samples with standard
    error ``diff.se`` (``n_samples - 1`` df): the interval of every d' claim ({ref}`sec-retention-claims`)."""
    n_samples = check_int("n_samples", n_samples, lo=2)
    level = check_float("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    half = float(stats.t.ppf(0.5 + level / 2, n_samples - 1)) * diff.se
    return diff.mean - half, diff.mean + half


def _samples(dprime_a, dprime_b) -> int:
    a, b = np.asarray(dprime_a), np.asarray(dprime_b)
    if a.ndim != 2 or a.shape != b.shape:
        raise ConfigError(f"the two d' arrays must both be (n_samples, E); got {a.shape} and {b.shape}")
    return a.shape[0]


def older_ages_advantage(dprime_kwinner, dprime_mhn, window, level: float = 0.99,
                         name: str = "K-winner") -> ClaimResult:
    """The K-winner retains older memories better: over the ages of ``window`` its paired d' is higher than
    the 1-winner MHN's ({ref}`sec-retention-claims` for random patterns, {ref}`sec-structured-dprime` for
    tree data).

    ``dprime_*``: ``(n_samples, E)`` per-sample curves, paired by sample index. The statistic is the window
    difference K - MHN (:func:`~slotless.memory.metrics.window_difference`); the claim holds when its
    two-sided t interval at ``level`` lies above 0.
    """
    n = _samples(dprime_kwinner, dprime_mhn)
    diff = window_difference(dprime_kwinner, dprime_mhn, window)
    lo, hi = t_interval(diff, n, level)
    return ClaimResult(f"{name} d' above the 1-winner MHN's over ages {window[0]}-{window[1]}", diff.mean,
                       (lo, hi), bool(lo > 0), f"{level:.0%} t interval over {n} samples; t = {diff.t:.1f}, {n - 1} df")


def youngest_ages_only(dprime_kwinner, dprime_mhn, young, n_hidden_mhn: int, runs: int, level: float = 0.99,
                       q: float = 0.01, horizon_level: float = 0.01) -> ClaimResult:
    """The 1-winner MHN's paired d' is higher only for the youngest memories ({ref}`sec-retention-claims`).

    Two parts, both required: (1) over the ages of ``young`` the difference K - MHN
    (:func:`~slotless.memory.metrics.window_difference`) has its t interval at ``level`` below 0; (2) no age
    beyond the horizon :func:`~slotless.memory.theory.all_survive_horizon` (``n_hidden_mhn``, ``runs`` per
    sample, ``horizon_level``) is marked "MHN better" by the textbook paired t (ddof 1) with
    Benjamini-Hochberg control at FDR ``q`` over the ages (:func:`~slotless.memory.metrics.age_markers`).
    The statistic is the young-window difference; ``summary`` gives the oldest MHN-better age.
    """
    n = _samples(dprime_kwinner, dprime_mhn)
    diff = window_difference(dprime_kwinner, dprime_mhn, young)
    lo, hi = t_interval(diff, n, level)
    horizon = all_survive_horizon(n_hidden_mhn, runs, horizon_level)
    mhn_better = marked_ages(age_markers(dprime_kwinner, dprime_mhn, alpha=0.01, q=q).bh_b)
    oldest = int(mhn_better.max()) if mhn_better.size else 0
    verdict = bool(hi < 0 and oldest <= horizon)
    return ClaimResult(f"1-winner MHN d' above the K-winner's over ages {young[0]}-{young[1]} and beyond age "
                       f"{horizon} nowhere", diff.mean, (lo, hi), verdict,
                       f"{level:.0%} t interval over {n} samples; oldest age marked MHN better (ddof 1, BH q={q:g}): "
                       f"{oldest}; horizon {horizon}")


def one_winner_curve(rd, n_input: int, active: int, n_hidden: int, cue_fraction: float, windows, fit_ages,
                     rng: np.random.Generator, n_se: float = 4.0, n_boot: int = 200,
                     baseline: str = "exact") -> ClaimResult:
    """The 1-winner MHN forgets on the exact curve pi_a (1 - p_b) ({prf:ref}`thm-mhn-retention` (iii) with
    the exact baseline of {prf:ref}`prop-pseudo-baseline`).

    ``rd``: ``(trials, E)`` per-trial raw differences, age 1 first. Two parts, both required: (1) the decay
    rate of an exponential fit over ``fit_ages`` (``eq-methods-expfit``; bootstrap SE over trials from
    ``rng``, which advances, :func:`~slotless.memory.theory.decay_rate_with_se`) lies within ``n_se`` SE of
    ``-ln(1 - 1/n_h)``, with no floored point in the fit; (2) in every age window of ``windows`` the simulated raw difference lies within
    ``n_se`` SE (over trials) of the window mean of pi_a (1 - p_b). ``baseline`` "exact" uses
    :func:`~slotless.memory.theory.pb_exact`, "approx" the code's extreme-value formula
    :func:`~slotless.memory.theory.pb_approx`. The statistic is the fitted rate with the interval
    ``± n_se`` SE; ``summary`` gives the largest window deviation in SE units.
    """
    if baseline not in ("exact", "approx"):
        raise ConfigError(f"baseline={baseline!r} is not allowed: choose 'exact' or 'approx'")
    n_se = check_float("n_se", n_se, 0.0, lo_open=True)
    pb = (pb_exact if baseline == "exact" else pb_approx)(n_input, active, n_hidden, cue_fraction)
    decay = decay_rate_with_se(rd, fit_ages, rng, n_boot)
    lam, se, lam_th = decay.fit.lam, decay.se, decay_rate_mhn(n_hidden)
    rows = rd_windows(rd, n_hidden, pb, windows)
    worst = max(rows, key=lambda r: abs(r.z))
    verdict = bool(decay.fit.n_floored == 0 and abs(lam - lam_th) < n_se * se and all(r.within(n_se) for r in rows))
    return ClaimResult(f"1-winner MHN raw difference on pi_a (1 - p_b) with the {baseline} p_b, decay rate "
                       f"-ln(1 - 1/n_h) = {lam_th:.5f}", lam, (lam - n_se * se, lam + n_se * se), verdict,
                       f"± {n_se:g} bootstrap SE; largest window deviation {worst.z:+.1f} SE at ages "
                       f"{worst.lo}-{worst.hi}; {decay.fit.n_floored} floored points in the fit")


def recruitment_advantage(dprime_similarity, dprime_random, windows, level: float = 0.99) -> ClaimResult:
    """Similarity-based recruitment matters: the K-winner that stores a pattern in the units it drives most has a
    higher paired d' than the same network with random learning winners (``eq-methods-random-winners``) in
    every age window ({ref}`sec-controls-random`).

    ``dprime_*``: ``(n_samples, E)``. The statistic is the difference similarity - random over all ages from
    the first window's start to the last window's end, with its t interval at ``level``; the claim holds when
    every window's t interval at ``level`` lies above 0 (``summary`` names the weakest window).
    """
    n = _samples(dprime_similarity, dprime_random)
    if not windows:
        raise ConfigError("windows is empty: give at least one age window")
    lower = {w: t_interval(window_difference(dprime_similarity, dprime_random, w), n, level)[0] for w in windows}
    weakest = min(lower, key=lower.get)
    span = (windows[0][0], windows[-1][1])
    diff = window_difference(dprime_similarity, dprime_random, span)
    lo, hi = t_interval(diff, n, level)
    return ClaimResult(f"similarity-based K-winner d' above the random-winner control's in every window of ages "
                       f"{span[0]}-{span[1]}", diff.mean, (lo, hi), bool(all(v > 0 for v in lower.values())),
                       f"{level:.0%} t interval over {n} samples; weakest window {weakest[0]}-{weakest[1]}: lower "
                       f"bound {lower[weakest]:.3f}")
