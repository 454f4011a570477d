"""Retention statistics for Part I: accuracy by age, raw difference, the authors'
paired d', significance markers, exponential fits, and the better-statistics
additions (AUC, AUC-derived d', textbook SDT d', bootstrap CIs, degeneracy flags,
age windows).

Conventions ({ref}`ch-methods`, ``sec-methods-measures``):

- ``acc_real``, ``acc_pseudo``: ``(runs, E)`` arrays, **age 1 first** — column ``a-1``
  holds every run's accuracy on its memory of age ``a`` and, in ``acc_pseudo``, on the
  pseudo-pattern paired with it by position (``eq-methods-age``). The extra paper-time pseudo
  entry must already be dropped (``acc_pseudo`` has as many columns as ``acc_real``).
- The authors' design groups ``runs = n_samples * runs_per_sample`` (10 x 20) runs into
  samples; sample ``i`` is the contiguous block of runs ``i*T .. (i+1)*T-1``
  (:func:`split_samples`). The two models share only the sample index.
- Everything here is a pure function on arrays; no simulation.

Provenance: accuracy curves, RD, the paired d', SEM, markers and exponential fits
(``eq-methods-accuracy``, ``eq-methods-rd`` to ``eq-methods-expfit``) are (C), the authors'
definitions reproduced exactly (ddof = 0 everywhere); AUC, d'_A, SDT d', bootstrap, flags,
windows and BH (``eq-methods-auc``, ``eq-methods-sdt``) are (B) book additions.
"""

from __future__ import annotations

import warnings
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd
from scipy import special, stats

from ..checks import ConfigError, check_float, check_int

__all__ = [
    "WINDOWS",
    "AccuracyCurves",
    "MarkerResult",
    "BHResult",
    "ExpFit",
    "SDTResult",
    "DegeneracyFlags",
    "accuracy_curves",
    "split_samples",
    "raw_difference",
    "paired_dprime",
    "sample_means",
    "sem",
    "one_tailed_markers",
    "bh_fdr",
    "exp_fit",
    "exp_fit_excluding_floored",
    "mann_whitney_u",
    "auc",
    "auc_dprime",
    "sdt_dprime",
    "bootstrap_ci",
    "BootstrapMeasures",
    "bootstrap_measures",
    "degeneracy_flags",
    "window_means",
    "window_labels",
    "PairedAccuracy",
    "MeanSE",
    "mean_difference",
    "run_window_means",
    "window_difference",
    "AgeMarkers",
    "age_markers",
    "marked_ages",
    "dprime_band",
    "undefined_ages",
    "DecayFit",
    "decay_fit",
    "decay_fit_table",
    "compare_decay",
    "accuracy_dprime_table",
    "PairedWindow",
    "paired_window",
    "BaselineSummary",
    "baseline_summary",
    "windows_upto",
    "log_age_grid",
    "window_moments",
    "MeasureRelation",
    "gaussian_measures",
    "DprimeMeasures",
    "dprime_measures",
    "auc_dprime_max",
    "hit_rate_z_max",
    "sdt_dprime_max",
    "GroupMeasures",
    "WindowPermutation",
    "permutation_window_test",
    "window_comparison",
    "relation_table",
    "degeneracy_table",
    "model_window_table",
]

#: The age windows of ``sec-methods-measures`` (inclusive, 1-based ages).
WINDOWS: tuple[tuple[int, int], ...] = ((1, 20), (21, 50), (51, 100), (101, 200), (201, 500), (501, 1000))

#: Paired SD below this counts as zero (:func:`degeneracy_flags`).
SD_ZERO = 1e-9


# ----------------------------------------------------------------------------- helpers
def _array(name: str, value, ndim: tuple[int, ...] | None = None, allow_nan: bool = False) -> np.ndarray:
    """``value`` as a float64 ndarray, or raise a ConfigError naming ``name``.

    ``allow_nan=True`` admits NaN and ±inf (e.g. d' curves with degenerate ages)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a numeric array ({exc})") from None
    if ndim is not None and arr.ndim not in ndim:
        allowed = " or ".join(str(n) for n in ndim)
        raise ConfigError(f"{name} has shape {arr.shape}: expected {allowed} dimensions")
    if arr.size == 0:
        raise ConfigError(f"{name} is empty: expected at least one element")
    if not allow_nan and not np.isfinite(arr).all():
        bad = ~np.isfinite(arr)
        raise ConfigError(f"{name} has {int(bad.sum())} non-finite entries: all entries must be finite")
    return arr


def _pair(acc_real, acc_pseudo, ndim=(2,)) -> tuple[np.ndarray, np.ndarray]:
    real = _array("acc_real", acc_real, ndim)
    pseudo = _array("acc_pseudo", acc_pseudo, ndim)
    if real.shape != pseudo.shape:
        raise ConfigError(
            f"acc_pseudo has shape {pseudo.shape}, acc_real {real.shape}: they must match "
            "(pairing is by position; drop the extra paper-time pseudo entry)"
        )
    return real, pseudo


def _ddof(ddof) -> int:
    return check_int("ddof", ddof, 0, 1)


# ------------------------------------------------------------------------------ accuracy curves
class AccuracyCurves(NamedTuple):
    """Mean accuracy per age (``(E,)`` each) and its SEM over runs (ddof = 1).
    Book: ``eq-methods-accuracy`` ({ref}`ch-retention`).
    """

    real: np.ndarray
    pseudo: np.ndarray
    real_sem: np.ndarray
    pseudo_sem: np.ndarray


def accuracy_curves(acc_real, acc_pseudo) -> AccuracyCurves:
    """Figure 4A curves (``eq-methods-accuracy``, {ref}`ch-retention`): mean real and paired-pseudo accuracy per age.

    ``acc_real``, ``acc_pseudo``: ``(runs, E)``, age 1 first. Returns ``(E,)`` means and
    their standard errors over runs (ddof = 1; zero when there is a single run).
    """
    real, pseudo = _pair(acc_real, acc_pseudo)
    n = real.shape[0]
    if n > 1:
        real_sem = real.std(axis=0, ddof=1) / np.sqrt(n)
        pseudo_sem = pseudo.std(axis=0, ddof=1) / np.sqrt(n)
    else:
        real_sem = np.zeros(real.shape[1])
        pseudo_sem = np.zeros(real.shape[1])
    return AccuracyCurves(real.mean(axis=0), pseudo.mean(axis=0), real_sem, pseudo_sem)


# ----------------------------------------------------------------------- samples x runs, d', RD
def split_samples(acc, n_samples: int = 10) -> np.ndarray:
    """Reshape ``(n_samples * T, E)`` runs into ``(n_samples, T, E)`` samples.

    Sample ``i`` is the contiguous block of runs ``i*T .. (i+1)*T - 1``. A 3-D input is
    returned unchanged (after validation); its first axis must equal ``n_samples``.
    Book: ``sec-methods-measures``, samples of runs ({ref}`ch-retention`).
    """
    n_samples = check_int("n_samples", n_samples, 1)
    arr = _array("acc", acc, (2, 3))
    if arr.ndim == 3:
        if arr.shape[0] != n_samples:
            raise ConfigError(f"acc has {arr.shape[0]} samples on axis 0: expected n_samples={n_samples}")
        return arr
    runs = arr.shape[0]
    if runs % n_samples:
        raise ConfigError(f"acc has {runs} runs, which is not a multiple of n_samples={n_samples}")
    return arr.reshape(n_samples, runs // n_samples, arr.shape[1])


def _paired_diff(acc_real, acc_pseudo, n_samples) -> np.ndarray:
    real = split_samples(_array("acc_real", acc_real, (2, 3)), n_samples)
    pseudo = split_samples(_array("acc_pseudo", acc_pseudo, (2, 3)), n_samples)
    if real.shape != pseudo.shape:
        raise ConfigError(f"acc_pseudo has shape {pseudo.shape}, acc_real {real.shape}: they must match")
    return real - pseudo


def raw_difference(acc_real, acc_pseudo, n_samples: int = 10) -> np.ndarray:
    """Raw difference RD(a) = mean real - mean paired pseudo accuracy, per sample (``eq-methods-dprime``).

    ``acc_*``: ``(n_samples*T, E)`` or ``(n_samples, T, E)``. Returns ``(n_samples, E)``.
    """
    return _paired_diff(acc_real, acc_pseudo, n_samples).mean(axis=1)


def paired_dprime(acc_real, acc_pseudo, n_samples: int = 10, ddof: int = 0) -> np.ndarray:
    """The authors' paired d' (``eq-methods-dprime``): per sample and age,
    ``mean_t(r_t - p_t) / SD_t(r_t - p_t)`` with the population SD (``ddof=0``).

    This is Cohen's d_z of the per-run paired difference, not z(H) - z(F).
    ``acc_*``: ``(n_samples*T, E)`` or ``(n_samples, T, E)``. Returns ``(n_samples, E)``.
    Where the paired SD is exactly zero the ratio follows IEEE rules (``±inf``, or ``nan``
    for 0/0), as numpy does in the reference; :func:`degeneracy_flags` marks those ages.
    """
    ddof = _ddof(ddof)
    diff = _paired_diff(acc_real, acc_pseudo, n_samples)
    if diff.shape[1] - ddof < 1:
        raise ConfigError(f"ddof={ddof} needs more than {ddof} runs per sample; got {diff.shape[1]}")
    with np.errstate(divide="ignore", invalid="ignore"):
        return diff.mean(axis=1) / diff.std(axis=1, ddof=ddof)


def sample_means(acc, n_samples: int = 10) -> np.ndarray:
    """Mean accuracy per sample and age: ``(n_samples*T, E) -> (n_samples, E)``.
    Book: ``sec-methods-measures`` ({ref}`ch-retention`).
    """
    return split_samples(acc, n_samples).mean(axis=1)


# ------------------------------------------------------------------------------ SEM and markers
def sem(x, axis: int = 0, ddof: int = 0) -> np.ndarray:
    """Standard error ``SD^(ddof)/sqrt(n)`` along ``axis`` (the authors' band, ``eq-methods-markers``, uses ddof = 0).

    ``x``: e.g. ``(n_samples, E)`` d' values; returns ``(E,)``. NaN propagates.
    """
    ddof = _ddof(ddof)
    arr = _array("x", x, allow_nan=True)
    axis = check_int("axis", axis, -arr.ndim, arr.ndim - 1)
    n = arr.shape[axis]
    if n - ddof < 1:
        raise ConfigError(f"sem needs more than ddof={ddof} values along axis {axis}; got {n}")
    return arr.std(axis=axis, ddof=ddof) / np.sqrt(n)


class MarkerResult(NamedTuple):
    """Per-age one-tailed paired t-test between two models' sample curves.

    ``a_better``/``b_better``: boolean ``(E,)`` (red / black dots); ``t``: ``(E,)``;
    ``t0``: critical value; ``p_a``/``p_b``: one-tailed p-values of "a > b" / "b > a"
    from Student's t with ``n-1`` df applied to ``t`` (for ddof = 0 this is the authors'
    slightly liberal statistic, consistent with comparing it to ``t0``).
    Book: ``eq-methods-markers`` ({ref}`ch-retention`).
    """

    a_better: np.ndarray
    b_better: np.ndarray
    t: np.ndarray
    t0: float
    p_a: np.ndarray
    p_b: np.ndarray


def one_tailed_markers(dprime_a, dprime_b, alpha: float = 0.01, ddof: int = 0) -> MarkerResult:
    """Significance markers (``eq-methods-markers``).

    ``dprime_a``, ``dprime_b``: ``(n_samples, E)`` per-sample curves of models a
    (K-winner) and b (MHN), paired by sample index. With ``Δ = a - b``:
    ``t = mean(Δ) / (SD^(ddof)(Δ)/sqrt(n))`` and ``t0 = t_{1-alpha, n-1}``; a is better
    where ``t > t0``, b where ``t < -t0``. With ddof = 0, ``t`` is ``sqrt(n/(n-1))`` times
    the textbook paired t. A zero SD with a nonzero mean gives ``±inf`` (a marker); 0/0
    gives no marker.
    """
    ddof = _ddof(ddof)
    alpha = check_float("alpha", alpha, 0.0, 0.5, lo_open=True, hi_open=True)
    a = _array("dprime_a", dprime_a, (2,), allow_nan=True)
    b = _array("dprime_b", dprime_b, (2,), allow_nan=True)
    if a.shape != b.shape:
        raise ConfigError(f"dprime_b has shape {b.shape}, dprime_a {a.shape}: they must match")
    n = a.shape[0]
    if n < 2:
        raise ConfigError(f"one_tailed_markers needs at least 2 samples; got {n}")
    with np.errstate(invalid="ignore"):
        delta = a - b
        mean = delta.mean(axis=0)
        sd = delta.std(axis=0, ddof=ddof)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = mean / (sd / np.sqrt(n))
    t0 = float(stats.t.ppf(1.0 - alpha, n - 1))
    with np.errstate(invalid="ignore"):
        a_better = np.nan_to_num(t, nan=0.0) > t0
        b_better = np.nan_to_num(t, nan=0.0) < -t0
    p_a = np.where(np.isnan(t), 1.0, stats.t.sf(np.nan_to_num(t, nan=0.0), n - 1))
    p_b = np.where(np.isnan(t), 1.0, stats.t.cdf(np.nan_to_num(t, nan=0.0), n - 1))
    return MarkerResult(a_better, b_better, t, t0, p_a, p_b)


class BHResult(NamedTuple):
    """Benjamini-Hochberg result: ``reject`` (bool, same shape as p) and BH-adjusted p.
    Book: ``eq-methods-markers`` ({ref}`ch-controls`).
    """

    reject: np.ndarray
    p_adjusted: np.ndarray


def bh_fdr(p, q: float = 0.01) -> BHResult:
    """Benjamini-Hochberg step-up procedure at FDR level ``q`` over all entries of ``p``.

    Rejects the ``k`` smallest p-values, where ``k`` is the largest rank with
    ``p_(k) <= k q / m``. NaN p-values count as 1 (never rejected, still counted in m). The adjusted
    p-values are scipy's ``false_discovery_control(method="bh")``; a p-value is rejected exactly when
    its adjusted value is at most ``q`` (tested against scipy).
    Book: ``eq-methods-markers`` ({ref}`ch-controls`).
    """
    q = check_float("q", q, 0.0, 1.0, lo_open=True, hi_open=True)
    arr = _array("p", p, allow_nan=True)
    arr = np.where(np.isnan(arr), 1.0, arr)
    if ((arr < 0) | (arr > 1)).any():
        raise ConfigError("p must hold probabilities in [0, 1]")
    flat = arr.ravel()
    m = flat.size
    order = np.argsort(flat, kind="stable")
    below = np.nonzero(flat[order] <= q * np.arange(1, m + 1) / m)[0]
    reject = np.zeros(m, dtype=bool)
    if below.size:
        reject[order[: below[-1] + 1]] = True
    adjusted = stats.false_discovery_control(flat, method="bh")
    return BHResult(reject.reshape(arr.shape), np.asarray(adjusted).reshape(arr.shape))


# ----------------------------------------------------------------------------- exponential fits
class ExpFit(NamedTuple):
    """OLS fit ``ln RD(a) = ln C - lam * a`` (``eq-methods-expfit``).

    ``C``, ``lam``, ``r2`` on the fitted range; ``n_floored``: points of the range with
    RD at or below the floor; ``n_used``: points in the regression; ``se_lam``,
    ``se_logC``: OLS standard errors (residual variance with n-2 df).
    """

    C: float
    lam: float
    r2: float
    n_floored: int
    n_used: int
    se_lam: float
    se_logC: float


def exp_fit(
    rd,
    ages=None,
    age_range: tuple[int, int] = (1, 200),
    floor: float = 1e-100,
    exclude_floored: bool = False,
) -> ExpFit:
    """Exponential fit of a raw-difference curve (``eq-methods-expfit``).

    ``rd``: ``(E,)`` sample-mean RD, age 1 first; ``ages``: ``(E,)`` (default ``1..E``).
    As the reference does, RD is floored at ``floor`` before the log, so a non-positive
    RD enters as ``ln(1e-100) ≈ -230``; ``n_floored`` counts them. With
    ``exclude_floored=True`` those points are dropped instead (the variant of ``eq-methods-expfit`` that drops floored points).
    """
    y = _array("rd", rd, (1,))
    x = np.arange(1, y.size + 1, dtype=np.float64) if ages is None else _array("ages", ages, (1,))
    if x.shape != y.shape:
        raise ConfigError(f"ages has shape {x.shape}, rd {y.shape}: they must match")
    floor = check_float("floor", floor, 0.0, lo_open=True)
    lo = check_int("age_range[0]", age_range[0], 1)
    hi = check_int("age_range[1]", age_range[1], lo)
    sel = (x >= lo) & (x <= hi)
    floored = sel & (y <= floor)
    n_floored = int(floored.sum())
    use = sel & ~floored if exclude_floored else sel
    n = int(use.sum())
    if n < 3:
        raise ConfigError(f"exp_fit has {n} usable points in ages {lo}-{hi}: needs at least 3")
    xs = x[use]
    ys = np.log(np.maximum(y[use], floor))
    xm, ym = xs.mean(), ys.mean()
    sxx = ((xs - xm) ** 2).sum()
    if sxx == 0:
        raise ConfigError("exp_fit needs at least two distinct ages")
    slope = ((xs - xm) * (ys - ym)).sum() / sxx
    intercept = ym - slope * xm
    resid = ys - (intercept + slope * xs)
    ss_res = float((resid**2).sum())
    ss_tot = float(((ys - ym) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    s2 = ss_res / (n - 2)
    se_slope = float(np.sqrt(s2 / sxx))
    se_intercept = float(np.sqrt(s2 * (1.0 / n + xm**2 / sxx)))
    return ExpFit(float(np.exp(intercept)), float(-slope), float(r2), n_floored, n, se_slope, se_intercept)


def exp_fit_excluding_floored(rd, ages=None, age_range=(1, 200), floor: float = 1e-100) -> ExpFit:
    """:func:`exp_fit` with floored (non-positive) points dropped (``eq-methods-expfit``)."""
    return exp_fit(rd, ages, age_range, floor, exclude_floored=True)


# --------------------------------------------------------------------------------- AUC and d'_A
def mann_whitney_u(real, pseudo, axis: int = -2) -> np.ndarray:
    """Mann-Whitney U of ``real`` over ``pseudo`` along ``axis`` (ties count 1/2).

    ``real``: ``(..., n_R, E)``, ``pseudo``: ``(..., n_P, E)`` (default ``axis=-2`` is the
    run axis). ``U = #{(i,j): r_i > p_j} + 1/2 #{r_i = p_j}``, computed from mid-ranks of
    the pooled values; returns the remaining shape (e.g. ``(E,)``).
    Book: ``eq-methods-auc`` ({ref}`ch-controls`).
    """
    r = _array("real", real)
    p = _array("pseudo", pseudo)
    if r.ndim != p.ndim or r.ndim < 1:
        raise ConfigError(f"real {r.shape} and pseudo {p.shape} must have the same number of dimensions")
    axis = check_int("axis", axis, -r.ndim, r.ndim - 1)
    pooled = np.concatenate([r, p], axis=axis)
    ranks = stats.rankdata(pooled, method="average", axis=axis)
    n_r = r.shape[axis]
    rank_sum = np.take(ranks, np.arange(n_r), axis=axis).sum(axis=axis)
    return rank_sum - n_r * (n_r + 1) / 2.0


def auc(real, pseudo, axis: int = -2) -> np.ndarray:
    """ROC-AUC per age, ``U / (n_R n_P)`` (``eq-methods-auc``): real accuracies vs pseudo ones.

    ``real``: ``(n_R, E)``, ``pseudo``: ``(n_P, E)`` (pooled runs). Returns ``(E,)`` in [0, 1].
    """
    r = np.asarray(real)
    p = np.asarray(pseudo)
    u = mann_whitney_u(r, p, axis)
    return u / (r.shape[axis] * p.shape[axis])


def auc_dprime(real, pseudo, axis: int = -2) -> np.ndarray:
    """AUC-derived d' (``eq-methods-auc``): ``sqrt(2) Phi^{-1}(AUC_c)`` with
    ``AUC_c = (U + 1/2) / (n_R n_P + 1)``, finite even at perfect separation.

    Shapes as :func:`auc`. The largest attainable value is
    ``sqrt(2) Phi^{-1}((n_R n_P + 1/2)/(n_R n_P + 1))``.
    """
    r = np.asarray(real)
    p = np.asarray(pseudo)
    u = mann_whitney_u(r, p, axis)
    n = r.shape[axis] * p.shape[axis]
    return np.sqrt(2.0) * special.ndtri((u + 0.5) / (n + 1.0))


# --------------------------------------------------------------------------------------- SDT d'
class SDTResult(NamedTuple):
    """Textbook yes/no d' per age: ``dprime = z(H) - z(F)`` with Hautus-corrected rates.

    ``hits``/``false_alarms``: raw counts ``(E,)``; ``H``/``F``: corrected rates;
    ``H_raw``/``F_raw``: uncorrected rates; ``threshold``: the criterion used.
    Book: ``eq-methods-sdt`` ({ref}`ch-controls`).
    """

    dprime: np.ndarray
    H: np.ndarray
    F: np.ndarray
    H_raw: np.ndarray
    F_raw: np.ndarray
    hits: np.ndarray
    false_alarms: np.ndarray
    threshold: float


def sdt_dprime(real, pseudo, percentile: float = 95.0, threshold: float | None = None) -> SDTResult:
    """Yes/no SDT d' (``eq-methods-sdt``) with one criterion per model and cue level.

    ``real``, ``pseudo``: ``(runs, E)`` pooled runs. "Old" means ``acc >= threshold``;
    by default the threshold is the ``percentile``-th percentile of **all** entries of
    ``pseudo`` (documented choice: pooled over runs and ages). Hautus log-linear
    correction: ``H = (hits + 1/2)/(n_R + 1)``, ``F = (fa + 1/2)/(n_P + 1)``.
    """
    r, p = _pair(real, pseudo)
    if threshold is None:
        percentile = check_float("percentile", percentile, 0.0, 100.0)
        theta = float(np.percentile(p, percentile))
    else:
        theta = check_float("threshold", threshold)
    hits = (r >= theta).sum(axis=0)
    fas = (p >= theta).sum(axis=0)
    n_r, n_p = r.shape[0], p.shape[0]
    H = (hits + 0.5) / (n_r + 1.0)
    F = (fas + 0.5) / (n_p + 1.0)
    d = special.ndtri(H) - special.ndtri(F)
    return SDTResult(d, H, F, hits / n_r, fas / n_p, hits, fas, theta)


# ------------------------------------------------------------------------------------ bootstrap
def bootstrap_ci(
    data,
    statistic: Callable[..., np.ndarray] | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int | np.random.Generator = 0,
    chunk: int = 200,
    return_samples: bool = False,
):
    """Percentile bootstrap CI, resampling the leading (run or sample) axis.

    ``data``: one array ``(N, ...)`` or a tuple of arrays sharing their first axis ``N``
    (e.g. ``(acc_real, acc_pseudo)``, resampled **jointly** so pairing is kept).
    ``statistic(*batch)`` receives arrays of shape ``(b, N, ...)`` (``b`` resamples at
    once) and returns ``(b, ...)``; the default is the mean over the run axis. Resamples
    are drawn with a generator seeded by ``seed`` (an int or a Generator) and processed
    ``chunk`` at a time to bound memory; the result does not depend on ``chunk``.
    Returns ``(lo, hi)`` of the statistic's shape, and with ``return_samples=True`` also the
    ``(n_boot, ...)`` bootstrap replicates (e.g. for a bootstrap p-value,
    ``(1 + #(rep <= 0)) / (n_boot + 1)``).
    Book: ``sec-methods-measures`` ({ref}`ch-controls`).
    """
    n_boot = check_int("n_boot", n_boot, 1)
    chunk = check_int("chunk", chunk, 1)
    level = check_float("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    arrays = tuple(data) if isinstance(data, (tuple, list)) else (data,)
    arrays = tuple(_array(f"data[{i}]", a, allow_nan=True) for i, a in enumerate(arrays))
    n = arrays[0].shape[0]
    if any(a.shape[0] != n for a in arrays):
        raise ConfigError("all data arrays must share their first (run) axis")
    if statistic is None:

        def statistic(*batch):
            return batch[0].mean(axis=1)

    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(check_int("seed", seed, 0))
    idx = rng.integers(0, n, size=(n_boot, n))  # all indices drawn up front: chunk-invariant
    out = []
    for start in range(0, n_boot, chunk):
        sel = idx[start : start + chunk]
        out.append(np.asarray(statistic(*(a[sel] for a in arrays)), dtype=np.float64))
    boots = np.concatenate(out, axis=0)
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.nanpercentile(boots, [tail, 100.0 - tail], axis=0)
    return (lo, hi, boots) if return_samples else (lo, hi)


class BootstrapMeasures(NamedTuple):
    """Bootstrap replicates, each ``(n_boot, E)``, of the pooled measures of one model and cue:
    ``auc`` (uncorrected), ``dprime_auc`` (corrected d'_A), ``dprime_sdt`` (Hautus, fixed
    ``threshold``), ``dz`` (pooled paired d_z, ddof 0); ``threshold`` is the SDT criterion.
    Book: ``eq-methods-auc``, ``eq-methods-sdt``, ``eq-methods-dprime`` ({ref}`ch-controls`).
    """

    auc: np.ndarray
    dprime_auc: np.ndarray
    dprime_sdt: np.ndarray
    dz: np.ndarray
    threshold: float


def bootstrap_measures(
    real, pseudo, n_boot: int = 2000, seed: int | np.random.Generator = 0, threshold: float | None = None,
    chunk: int = 200,
) -> BootstrapMeasures:
    """Bootstrap replicates of AUC, d'_A, SDT d' and pooled d_z, resampling runs (pairs kept).

    ``real``, ``pseudo``: ``(N, E)``. Run indices are drawn exactly as in :func:`bootstrap_ci`
    with the same ``seed``, so the replicates equal ``bootstrap_ci(..., return_samples=True)``
    with the corresponding statistic. A resample is represented by its count vector ``w``, and
    each measure is a weighted sum, so no resampled copy of the data is made. AUC uses the
    value levels of the data (``np.unique``; accuracies lie on a grid of ``1/s``), so its cost
    grows with ``N x E x levels``; it raises for more than 2048 distinct values. The SDT
    criterion stays fixed at ``threshold`` (default: the 95th percentile of all of ``pseudo``,
    as in :func:`sdt_dprime`).
    Book: ``eq-methods-auc``, ``eq-methods-sdt``, ``eq-methods-dprime`` ({ref}`ch-controls`).
    """
    r, p = _pair(real, pseudo)
    n_boot = check_int("n_boot", n_boot, 1)
    chunk = check_int("chunk", chunk, 1)
    n, e = r.shape
    levels = np.unique(np.concatenate([r.ravel(), p.ravel()]))
    if levels.size > 2048:
        raise ConfigError(f"real/pseudo have {levels.size} distinct values: bootstrap_measures needs <= 2048")
    theta = float(np.percentile(p, 95.0)) if threshold is None else check_float("threshold", threshold)
    L = levels.size
    one_r = np.zeros((n, e, L), dtype=np.float64)
    one_p = np.zeros((n, e, L), dtype=np.float64)
    rows, cols = np.indices((n, e))
    one_r[rows, cols, np.searchsorted(levels, r)] = 1.0
    one_p[rows, cols, np.searchsorted(levels, p)] = 1.0
    one_r, one_p = one_r.reshape(n, e * L), one_p.reshape(n, e * L)
    hit, fa = (r >= theta).astype(np.float64), (p >= theta).astype(np.float64)
    diff = r - p
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(check_int("seed", seed, 0))
    idx = rng.integers(0, n, size=(n_boot, n))  # identical draw to bootstrap_ci
    out = {k: np.empty((n_boot, e)) for k in ("auc", "dprime_auc", "dprime_sdt", "dz")}
    for start in range(0, n_boot, chunk):
        sel = idx[start : start + chunk]
        b = sel.shape[0]
        w = np.zeros((b, n))
        np.add.at(w, (np.repeat(np.arange(b), n), sel.ravel()), 1.0)
        h_r = (w @ one_r).reshape(b, e, L)
        h_p = (w @ one_p).reshape(b, e, L)
        below = np.cumsum(h_p, axis=-1) - h_p
        u = (h_r * (below + 0.5 * h_p)).sum(axis=-1)
        sl = slice(start, start + b)
        out["auc"][sl] = u / (n * n)
        out["dprime_auc"][sl] = np.sqrt(2.0) * special.ndtri((u + 0.5) / (n * n + 1.0))
        out["dprime_sdt"][sl] = special.ndtri((w @ hit + 0.5) / (n + 1.0)) - special.ndtri((w @ fa + 0.5) / (n + 1.0))
        mean = w @ diff / n
        var = np.maximum(w @ diff**2 / n - mean**2, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["dz"][sl] = mean / np.sqrt(var)
    return BootstrapMeasures(out["auc"], out["dprime_auc"], out["dprime_sdt"], out["dz"], theta)


# ----------------------------------------------------------------------------- degeneracy flags
class DegeneracyFlags(NamedTuple):
    """Boolean ``(E,)`` flags of ages where a measure is degenerate ({ref}`ch-controls`).

    ``paired_sd_zero``: some sample has paired SD < 1e-9 (authors' d' infinite/undefined);
    ``auc_extreme``: uncorrected AUC is 0 or 1; ``rate_extreme``: uncorrected H or F is 0 or 1.
    Book: ``sec-methods-measures``.
    """

    paired_sd_zero: np.ndarray
    auc_extreme: np.ndarray
    rate_extreme: np.ndarray


def degeneracy_flags(acc_real, acc_pseudo, n_samples: int = 10, threshold: float | None = None) -> DegeneracyFlags:
    """Flag degenerate ages for the three d' measures ({ref}`ch-controls`).

    ``acc_*``: ``(n_samples*T, E)`` pooled runs. ``threshold``: SDT criterion (default as
    in :func:`sdt_dprime`).
    Book: ``sec-methods-measures``.
    """
    real, pseudo = _pair(acc_real, acc_pseudo)
    diff = split_samples(real - pseudo, n_samples)
    sd = diff.std(axis=1, ddof=0)
    a = auc(real, pseudo)
    s = sdt_dprime(real, pseudo, threshold=threshold)
    rate = (s.H_raw == 0) | (s.H_raw == 1) | (s.F_raw == 0) | (s.F_raw == 1)
    return DegeneracyFlags((sd < SD_ZERO).any(axis=0), (a == 0) | (a == 1), rate)


# -------------------------------------------------------------------------------------- windows
def window_labels(windows=WINDOWS) -> list[str]:
    """``["1-20", "21-50", ...]`` for the windows. Book: ``sec-methods-measures`` ({ref}`ch-controls`)."""
    return [f"{lo}-{hi}" for lo, hi in windows]


def window_means(x, ages=None, windows=WINDOWS) -> np.ndarray:
    """Mean of ``x`` over each age window (``sec-methods-measures``), along the last axis.

    ``x``: ``(..., E)`` curve(s), age 1 first; ``ages``: ``(E,)`` (default ``1..E``).
    Returns ``(..., len(windows))``; a window with no available ages is NaN. NaN/inf
    entries propagate (use finite curves).
    """
    arr = _array("x", x, allow_nan=True)
    e = arr.shape[-1]
    a = np.arange(1, e + 1) if ages is None else _array("ages", ages, (1,))
    if a.shape != (e,):
        raise ConfigError(f"ages has shape {a.shape}: expected ({e},)")
    out = np.full(arr.shape[:-1] + (len(windows),), np.nan)
    for i, (lo, hi) in enumerate(windows):
        sel = (a >= lo) & (a <= hi)
        if sel.any():
            out[..., i] = arr[..., sel].mean(axis=-1)
    return out


# ------------------------------------------------------- paired accuracies and simple contrasts
class PairedAccuracy(NamedTuple):
    """The accuracies of one run set (``eq-methods-age``): ``real`` and its paired ``pseudo``, each
    ``(runs, E)``, age 1 first. Unpacks as ``real, pseudo`` into every function of this module that
    takes ``(acc_real, acc_pseudo)``."""

    real: np.ndarray
    pseudo: np.ndarray

    def first_ages(self, n_ages: int) -> "PairedAccuracy":
        """Only ages ``1..n_ages`` ({ref}`ch-controls` analyses the ages it shows)."""
        n_ages = check_int("n_ages", n_ages, 1)
        return PairedAccuracy(self.real[:, :n_ages], self.pseudo[:, :n_ages])


class MeanSE(NamedTuple):
    """An estimate and its standard error (the book's "mean ± SE", e.g. {ref}`sec-retention-claims`)."""

    mean: float
    se: float

    @property
    def t(self) -> float:
        """``mean / se``, the estimate in units of its standard error."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.float64(self.mean) / np.float64(self.se))

    def sign(self, k: float = 3.0) -> int:
        """+1 if ``mean > k se``, -1 if ``mean < -k se``, else 0 (within ``k`` standard errors of 0)."""
        if self.mean > k * self.se:
            return 1
        return -1 if self.mean < -k * self.se else 0


def mean_difference(a, b) -> MeanSE:
    """Difference of the means of two independent samples and its (Welch) standard error
    ``sqrt(SD(a)^2/n_a + SD(b)^2/n_b)`` (ddof 1), as in the checks of {ref}`sec-kwinner-retrieval`
    and {ref}`sec-structured-retention`. ``a``: ``(n_a,)``, ``b``: ``(n_b,)``, each with 2 or more values."""
    x = _array("a", a, (1,))
    y = _array("b", b, (1,))
    if x.size < 2 or y.size < 2:
        raise ConfigError(f"mean_difference needs at least 2 values in each sample; got {x.size} and {y.size}")
    se = np.hypot(x.std(ddof=1) / np.sqrt(x.size), y.std(ddof=1) / np.sqrt(y.size))
    return MeanSE(float(x.mean() - y.mean()), float(se))


def _window(window, n_ages: int | None = None) -> tuple[int, int]:
    lo = check_int("window[0]", window[0], 1)
    hi = check_int("window[1]", window[1], lo)
    if n_ages is not None and hi > n_ages:
        raise ConfigError(f"window=({lo}, {hi}) goes beyond the {n_ages} ages available")
    return lo, hi


def run_window_means(acc, window, n_runs: int | None = None) -> np.ndarray:
    """Per-run mean accuracy over the ages of ``window`` (inclusive, 1-based), ``(runs,)``
    ({ref}`sec-structured-retention`). ``acc``: ``(runs, E)``, age 1 first; ``n_runs``: use only the
    first ``n_runs`` runs (default all)."""
    arr = _array("acc", acc, (2,))
    lo, hi = _window(window, arr.shape[1])
    n = arr.shape[0] if n_runs is None else check_int("n_runs", n_runs, 1, arr.shape[0])
    return arr[:n, lo - 1:hi].mean(axis=1)


def window_difference(dprime_a, dprime_b, window) -> MeanSE:
    """Window contrast of two models' per-sample d' curves (``eq-methods-markers``; used in
    {ref}`sec-retention-claims`, {ref}`sec-structured-dprime`, {ref}`sec-controls-random`).

    ``dprime_a``, ``dprime_b``: ``(n_samples, E)``, paired by sample index. Per sample, the mean over
    the ages of ``window`` of the paired difference ``a - b`` (ages where it is not finite are
    skipped; a sample without any finite age makes the result NaN); then their mean over samples and its
    standard error (ddof 1). ``.t`` is the textbook paired t statistic with ``n_samples - 1`` degrees of
    freedom."""
    a = _array("dprime_a", dprime_a, (2,), allow_nan=True)
    b = _array("dprime_b", dprime_b, (2,), allow_nan=True)
    if a.shape != b.shape:
        raise ConfigError(f"dprime_b has shape {b.shape}, dprime_a {a.shape}: they must match")
    lo, hi = _window(window, a.shape[1])
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a sample without a finite age gives NaN
        d = a[:, lo - 1:hi] - b[:, lo - 1:hi]
        per_sample = np.nanmean(np.where(np.isfinite(d), d, np.nan), axis=1)
    return MeanSE(float(per_sample.mean()), float(sem(per_sample, ddof=1)))


# ------------------------------------------------------------------- markers with FDR control
class AgeMarkers(NamedTuple):
    """Per-age markers of a model comparison (``eq-methods-markers``), every direction on its own:

    - ``authors``: the authors' uncorrected one-tailed paired t over samples, with the population SD
      (ddof 0, which inflates t by ``sqrt(n/(n-1))``);
    - ``textbook``: the same test with the textbook paired t (ddof 1), also uncorrected;
    - ``bh_a``/``bh_b``: Benjamini-Hochberg rejections at FDR ``q`` of the textbook test's one-tailed
      p-values over the ages, for "a better" and "b better" (boolean ``(E,)`` each).
    """

    authors: MarkerResult
    textbook: MarkerResult
    bh_a: np.ndarray
    bh_b: np.ndarray

    def counts(self, window, ddof: int = 0) -> tuple[int, int]:
        """Uncorrected markers in ``window`` (1-based, inclusive): ``(a better, b better)``, of the authors'
        test (``ddof=0``) or of the textbook test (``ddof=1``)."""
        mk = self.textbook if _ddof(ddof) else self.authors
        lo, hi = _window(window, mk.t.size)
        return int(mk.a_better[lo - 1:hi].sum()), int(mk.b_better[lo - 1:hi].sum())

    def bh_counts(self, window) -> tuple[int, int]:
        """Benjamini-Hochberg rejections in ``window`` (1-based, inclusive): ``(a better, b better)``."""
        lo, hi = _window(window, self.bh_a.size)
        return int(self.bh_a[lo - 1:hi].sum()), int(self.bh_b[lo - 1:hi].sum())


def age_markers(dprime_a, dprime_b, alpha: float = 0.01, q: float = 0.01) -> AgeMarkers:
    """:class:`AgeMarkers` of ``a`` vs ``b`` (``(n_samples, E)`` each): the authors' (ddof 0) and the
    textbook (ddof 1) :func:`one_tailed_markers` at ``alpha``, and Benjamini-Hochberg at FDR ``q`` over the
    ages on the textbook p-values, separately for each direction (``eq-methods-markers``; the marker rows of
    {numref}`fig-retention-dprime`, {numref}`fig-structured-dprime` and {numref}`fig-controls-random`)."""
    authors = one_tailed_markers(dprime_a, dprime_b, alpha=alpha, ddof=0)
    textbook = one_tailed_markers(dprime_a, dprime_b, alpha=alpha, ddof=1)
    return AgeMarkers(authors, textbook, bh_fdr(textbook.p_a, q=q).reject, bh_fdr(textbook.p_b, q=q).reject)


def marked_ages(flags, max_age: int | None = None) -> np.ndarray:
    """The 1-based ages where ``flags`` (boolean ``(E,)``, age 1 first) is set, up to ``max_age``
    (the red and black dots of {numref}`fig-structured-dprime`)."""
    arr = np.asarray(flags, dtype=bool)
    if arr.ndim != 1:
        raise ConfigError(f"flags has shape {arr.shape}: expected one flag per age")
    n = arr.size if max_age is None else check_int("max_age", max_age, 1)
    return np.flatnonzero(arr[:n]) + 1


def dprime_band(dprime, ddof: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean over samples of per-sample d' curves ``(n_samples, E)`` and its standard error
    (ddof 0, the authors' cyan band, ``eq-methods-markers``). Non-finite d' values (paired SD 0) are
    left out of the mean; the standard error is NaN at such ages. Returns two ``(E,)`` arrays."""
    arr = _array("dprime", dprime, (2,), allow_nan=True)
    finite = np.where(np.isfinite(arr), arr, np.nan)
    with warnings.catch_warnings():  # an age without any finite d' has a NaN mean: expected, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(finite, axis=0), sem(finite, ddof=ddof)


def undefined_ages(dprime) -> int:
    """Number of ages at which some sample's d' is infinite or undefined (paired SD 0;
    {ref}`sec-retention-dprime`). ``dprime``: ``(n_samples, E)``."""
    arr = _array("dprime", dprime, (2,), allow_nan=True)
    return int((~np.isfinite(arr)).any(axis=0).sum())


# ------------------------------------------------------------- decay rates with bootstrap errors
class DecayFit(NamedTuple):
    """Exponential fit of a model's sample-mean RD (``eq-methods-expfit``, {ref}`sec-retention-fits`):
    ``fit`` (floored points kept, as the authors do), ``fit_excluding_floored``, ``lam_se``, the
    bootstrap standard error of the decay rate over runs, and ``rd``, the fitted ``(E,)`` curve."""

    fit: ExpFit
    fit_excluding_floored: ExpFit
    lam_se: float
    rd: np.ndarray

    @property
    def lam(self) -> float:
        """The fitted decay rate."""
        return self.fit.lam


def decay_fit(acc_real, acc_pseudo, n_samples: int = 10, age_range=(1, 200), n_boot: int = 2000,
              seed: int | np.random.Generator = 0, level: float = 0.95) -> DecayFit:
    """Fit ``ln RD(a) = ln C - lam a`` on ``age_range`` to the mean over samples of
    :func:`raw_difference` (``eq-methods-expfit``) and give ``lam`` a bootstrap standard error
    ({ref}`sec-retention-fits`).

    ``acc_*``: ``(n_samples*T, E)``. The bootstrap resamples runs (real-pseudo pairs kept) ``n_boot``
    times, refits each resample's mean RD, and converts the percentile interval at ``level`` into a
    standard error, ``(hi - lo) / (2 z_{(1+level)/2})`` (``z`` = 1.96 at 95%). Neighbouring ages share
    runs, so this error is honest where the OLS ``se_lam`` (which treats ages as independent) is not.
    """
    real, pseudo = _pair(acc_real, acc_pseudo)
    lo, hi = _window(age_range, real.shape[1])
    rd_mean = raw_difference(real, pseudo, n_samples=n_samples).mean(axis=0)
    fit = exp_fit(rd_mean, age_range=(lo, hi))
    floored = exp_fit_excluding_floored(rd_mean, age_range=(lo, hi))

    def decay_rates(diff):  # diff: (b, runs, ages) resampled real - pseudo -> (b,) rates
        return np.array([exp_fit(rd, age_range=(lo, hi)).lam for rd in diff.mean(axis=1)])

    lo_ci, hi_ci = bootstrap_ci(real[:, :hi] - pseudo[:, :hi], decay_rates, n_boot=n_boot, seed=seed, level=level)
    z = 1.96 if level == 0.95 else float(special.ndtri((1 + level) / 2))
    return DecayFit(fit, floored, float((hi_ci - lo_ci) / (2 * z)), rd_mean)


def compare_decay(a: DecayFit, b: DecayFit) -> MeanSE:
    """``lam_a - lam_b`` with the combined bootstrap standard error ``hypot(se_a, se_b)`` (independent
    runs; {ref}`sec-retention-claims`)."""
    return MeanSE(a.lam - b.lam, float(np.hypot(a.lam_se, b.lam_se)))


def decay_fit_table(fits: dict) -> pd.DataFrame:
    """The table of {ref}`sec-retention-fits`: one row per ``(model, cue)`` key of ``fits`` (values
    :class:`DecayFit`), in the dict's order, with C, lam and its bootstrap and OLS errors, r^2, the
    number of floored points and lam without them."""
    rows = []
    for (model, cue), f in fits.items():
        rows.append(dict(model=model, cue=cue, C=round(f.fit.C, 4), lam=round(f.fit.lam, 5),
                         lam_se_boot=round(float(f.lam_se), 5), lam_se_ols=round(f.fit.se_lam, 5),
                         r2=round(f.fit.r2, 3), n_floored=f.fit.n_floored,
                         lam_excl_floored=round(f.fit_excluding_floored.lam, 5)))
    return pd.DataFrame(rows)


def accuracy_dprime_table(curves: dict, dprimes: dict, max_age: int, ages=(1, 100, 200),
                          window=(51, 100)) -> pd.DataFrame:
    """The numbers table of {ref}`sec-retention-numbers`: per ``(model, cue)`` key of ``dprimes`` (in its
    order), the mean accuracy at ``ages`` (from ``curves``, :class:`AccuracyCurves`), the pseudo baseline
    (mean pseudo accuracy over ages ``1..max_age``), and the per-sample mean d' over ``window``: its
    mean over samples and SEM (ddof 0). Accuracies are rounded to 3 decimals, d' to 2."""
    lo, hi = _window(window)
    rows = []
    for (model, cue), dp in dprimes.items():
        cur = curves[(model, cue)]
        win = np.asarray(dp)[:, lo - 1:hi].mean(axis=1)
        row = {"model": model, "cue": cue}
        row.update({f"acc age {a}": round(float(cur.real[a - 1]), 3) for a in ages})
        row.update({"pseudo baseline": round(float(cur.pseudo[:max_age].mean()), 3),
                    f"d' {lo}-{hi}": round(float(win.mean()), 2), "SEM": round(float(sem(win, ddof=0)), 2)})
        rows.append(row)
    return pd.DataFrame(rows)


class PairedWindow(NamedTuple):
    """Over an age window ({ref}`sec-retention-claims`): ``rd``, the mean raw difference, and ``sd``, the
    run-to-run SD (ddof 0, all runs pooled) of the paired difference real - pseudo, averaged over ages."""

    rd: float
    sd: float


def paired_window(acc_real, acc_pseudo, window, n_samples: int = 10) -> PairedWindow:
    """:class:`PairedWindow` of ``acc_*`` (``(n_samples*T, E)``) over ``window`` (1-based, inclusive):
    what separates a large paired d' from a large raw difference ({ref}`sec-retention-claims`)."""
    real, pseudo = _pair(acc_real, acc_pseudo)
    lo, hi = _window(window, real.shape[1])
    rd = raw_difference(real, pseudo, n_samples=n_samples)[:, lo - 1:hi].mean()
    sd = (real - pseudo)[:, lo - 1:hi].std(axis=0).mean()
    return PairedWindow(float(rd), float(sd))


# ------------------------------------------------------------------------ structured baselines
class BaselineSummary(NamedTuple):
    """Per-run summaries of one tree-data run set ({ref}`sec-structured-retention`), each ``(runs,)``:
    ``newest`` (accuracy at age 1), ``old`` (mean accuracy over the old window), ``same_tree`` and
    ``uniform`` (mean accuracy of the paired same-tree and of the uniform pseudo-patterns over all ages)."""

    newest: np.ndarray
    old: np.ndarray
    same_tree: np.ndarray
    uniform: np.ndarray

    @property
    def baseline_gap(self) -> MeanSE:
        """Same-tree minus uniform pseudo accuracy, with its standard error (:func:`mean_difference`)."""
        return mean_difference(self.same_tree, self.uniform)


def baseline_summary(acc_real, acc_pseudo, acc_uniform, old_window, n_runs: int | None = None) -> BaselineSummary:
    """:class:`BaselineSummary` of the first ``n_runs`` runs (``eq-methods-tree``: the same-tree and the
    uniform baselines). ``acc_*``: ``(runs, E)``, age 1 first; ``old_window``: 1-based, inclusive."""
    real, pseudo = _pair(acc_real, acc_pseudo)
    uniform = _array("acc_uniform", acc_uniform, (2,))
    if uniform.shape != real.shape:
        raise ConfigError(f"acc_uniform has shape {uniform.shape}, acc_real {real.shape}: they must match")
    every_age = (1, real.shape[1])
    return BaselineSummary(run_window_means(real, (1, 1), n_runs), run_window_means(real, old_window, n_runs),
                           run_window_means(pseudo, every_age, n_runs), run_window_means(uniform, every_age, n_runs))


# ------------------------------------------------------------------- which d' to trust (controls)
def windows_upto(max_age: int, windows=WINDOWS) -> tuple[tuple[int, int], ...]:
    """The age windows (``sec-methods-measures``) that end at or before ``max_age``."""
    max_age = check_int("max_age", max_age, 1)
    return tuple(w for w in windows if w[1] <= max_age)


def log_age_grid(max_age: int, n: int = 16) -> np.ndarray:
    """About ``n`` log-spaced integer ages from 1 to ``max_age`` (duplicates removed), where
    {numref}`fig-controls-measures` draws bootstrap intervals."""
    max_age = check_int("max_age", max_age, 1)
    n = check_int("n", n, 2)
    return np.unique(np.round(np.geomspace(1, max_age, n)).astype(int))


def window_moments(acc_real, acc_pseudo, window) -> tuple[float, float, float, float]:
    """Mean and SD (ddof 0) of the real and of the pseudo accuracies over all runs and the ages of
    ``window``: ``(mu_real, mu_pseudo, sd_real, sd_pseudo)`` ({ref}`sec-controls-measures`)."""
    real, pseudo = _pair(acc_real, acc_pseudo)
    lo, hi = _window(window, real.shape[1])
    r, p = real[:, lo - 1:hi], pseudo[:, lo - 1:hi]
    return float(r.mean()), float(p.mean()), float(r.std()), float(p.std())


class MeasureRelation(NamedTuple):
    """The d' measures on one synthetic Gaussian data set ({ref}`sec-controls-measures`): the paired
    ``dz`` (ddof 0) and its large-sample standard error ``dz_se = sqrt((1 + dz^2/2)/n)``, the
    AUC-derived ``dprime_auc``, the yes/no ``dprime_sdt`` (``eq-methods-auc``, ``eq-methods-sdt``) and
    ``dprime_true = (mu_real - mu_pseudo) / sd_pseudo``; ``sd_ratio = sd_real / sd_pseudo``."""

    sd_ratio: float
    dz: float
    dz_se: float
    dprime_auc: float
    dprime_sdt: float
    dprime_true: float


def gaussian_measures(mu_real: float, mu_pseudo: float, sd_real: float, sd_pseudo: float, n: int,
                      rng: np.random.Generator) -> MeasureRelation:
    """Draw ``n`` independent Gaussian real and pseudo values (real first, then pseudo, from ``rng``)
    and compute every d' measure on them: the relations of {ref}`sec-controls-measures` in action."""
    n = check_int("n", n, 2)
    real = rng.normal(mu_real, sd_real, (n, 1))
    pseudo = rng.normal(mu_pseudo, sd_pseudo, (n, 1))
    dz = paired_dprime(real, pseudo, n_samples=1)[0, 0]
    return MeasureRelation(sd_real / sd_pseudo, float(dz), float(np.sqrt((1 + dz**2 / 2) / n)),
                           float(auc_dprime(real, pseudo)[0]), float(sdt_dprime(real, pseudo).dprime[0]),
                           (mu_real - mu_pseudo) / sd_pseudo)


class DprimeMeasures(NamedTuple):
    """Four d' measures per age of one model and cue, on the yes/no d' scale, each ``(E,)``
    ({numref}`fig-controls-measures`): ``authors`` (sqrt 2 times the mean over samples of the authors'
    paired d'), ``pooled_dz`` (sqrt 2 times the paired d_z of all runs at once), ``auc`` (d'_A) and
    ``sdt`` (yes/no d', Hautus); ``threshold``: the yes/no criterion; ``flags``: the degenerate ages."""

    authors: np.ndarray
    pooled_dz: np.ndarray
    auc: np.ndarray
    sdt: np.ndarray
    threshold: float
    flags: DegeneracyFlags


def dprime_measures(acc_real, acc_pseudo, n_samples: int = 10) -> DprimeMeasures:
    """:class:`DprimeMeasures` of pooled runs ``(n_samples*T, E)`` (``eq-methods-dprime``,
    ``eq-methods-auc``, ``eq-methods-sdt``; {ref}`sec-controls-measures`)."""
    real, pseudo = _pair(acc_real, acc_pseudo)
    authors, _ = dprime_band(paired_dprime(real, pseudo, n_samples=n_samples))
    sdt = sdt_dprime(real, pseudo)
    return DprimeMeasures(np.sqrt(2) * authors, np.sqrt(2) * paired_dprime(real, pseudo, n_samples=1)[0],
                          auc_dprime(real, pseudo), sdt.dprime, sdt.threshold,
                          degeneracy_flags(real, pseudo, n_samples=n_samples))


def auc_dprime_max(n_real: int, n_pseudo: int) -> float:
    """The largest d'_A that :func:`auc_dprime` can give, at complete separation:
    ``sqrt(2) Phi^{-1}((n_R n_P + 1/2)/(n_R n_P + 1))`` ({ref}`sec-controls-degeneracy`)."""
    n = check_int("n_real", n_real, 1) * check_int("n_pseudo", n_pseudo, 1)
    return float(np.sqrt(2) * stats.norm.ppf((n + 0.5) / (n + 1)))


def hit_rate_z_max(n: int) -> float:
    """``Phi^{-1}((n + 1/2)/(n + 1))``, the largest z(H) of the Hautus-corrected hit rate of ``n`` items
    (:func:`sdt_dprime`; {ref}`sec-controls-degeneracy`)."""
    n = check_int("n", n, 1)
    return float(stats.norm.ppf((n + 0.5) / (n + 1)))


def sdt_dprime_max(n: int, false_alarm_rate: float) -> float:
    """The ceiling of the yes/no d' of ``n`` items at a false-alarm rate ``F``: ``z(H_max) - z(F)`` with
    ``z(H_max)`` = :func:`hit_rate_z_max` ``(n)``, the largest Hautus-corrected hit rate's z
    ({ref}`sec-controls-measures`). A larger d' cannot be followed by :func:`sdt_dprime`."""
    f = check_float("false_alarm_rate", false_alarm_rate, 0.0, 1.0, lo_open=True, hi_open=True)
    return hit_rate_z_max(n) - float(stats.norm.ppf(f))


def _level_onehots(runs, levels, grid):
    """One-hot level indicators of ``runs (N, E)`` on the ``grid`` ages: ``(N, G * L)``."""
    sub = runs[:, np.asarray(grid) - 1]
    n, g = sub.shape
    onehot = np.zeros((n, g, levels.size))
    rows, cols = np.indices((n, g))
    onehot[rows, cols, np.searchsorted(levels, sub)] = 1.0
    return onehot.reshape(n, g * levels.size)


def _weighted_percentile(counts, levels, q: float):
    """The ``q``-th percentile (numpy's linear method) of data given as level counts ``(b, L)`` per row:
    ``(b,)``. Order statistics are read off the cumulative counts; the interpolation is numpy's."""
    total = counts.sum(axis=1)
    cum = np.cumsum(counts, axis=1)
    h = (total - 1) * (q / 100.0)
    k = np.floor(h)
    t = h - k
    idx_lo = np.minimum((cum <= k[:, None]).sum(axis=1), levels.size - 1)
    idx_hi = np.minimum((cum <= np.minimum(k + 1, total - 1)[:, None]).sum(axis=1), levels.size - 1)
    a, b = levels[idx_lo], levels[idx_hi]
    diff = b - a
    # numpy's _lerp: a + diff t, but b - diff (1 - t) for t >= 0.5 (so the ends are exact)
    return np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)


class GroupMeasures(NamedTuple):
    """d'_A and the yes/no d' (``eq-methods-auc``, ``eq-methods-sdt``) on the grid ages of ``b`` groups of
    runs at once, each ``(b, G)``; ``threshold``: each group's yes/no criterion ``(b,)``."""

    dprime_auc: np.ndarray
    dprime_sdt: np.ndarray
    threshold: np.ndarray


def _group_measures(weights, onehot_real, onehot_pseudo, pseudo_counts, levels, n_grid: int,
                    percentile: float = 95.0) -> GroupMeasures:
    """The measures of the groups of runs selected by 0/1 ``weights (b, N)``: AUC via level histograms,
    and the yes/no criterion recomputed per group as the ``percentile`` of its pseudo accuracies over
    all ages (``pseudo_counts (N, L)``), as :func:`sdt_dprime` does on one group."""
    b = weights.shape[0]
    n = weights.sum(axis=1)  # runs per group, (b,)
    h_r = (weights @ onehot_real).reshape(b, n_grid, levels.size)
    h_p = (weights @ onehot_pseudo).reshape(b, n_grid, levels.size)
    below = np.cumsum(h_p, axis=-1) - h_p
    u = (h_r * (below + 0.5 * h_p)).sum(axis=-1)
    nn = (n * n)[:, None]
    d_auc = np.sqrt(2.0) * special.ndtri((u + 0.5) / (nn + 1.0))
    theta = _weighted_percentile(weights @ pseudo_counts, levels, percentile)
    at_or_above = (levels[None, :] >= theta[:, None]).astype(np.float64)[:, None, :]  # (b, 1, L)
    hits, fas = (h_r * at_or_above).sum(-1), (h_p * at_or_above).sum(-1)
    n1 = (n + 1.0)[:, None]
    d_sdt = special.ndtri((hits + 0.5) / n1) - special.ndtri((fas + 0.5) / n1)
    return GroupMeasures(d_auc, d_sdt, theta)


class WindowPermutation(NamedTuple):
    """Run-label permutation test of model a against model b per age window ({ref}`sec-controls-windows`).

    ``observed``: ``(W, 2)`` window-mean differences a - b of d'_A (column 0) and of the yes/no d'
    (column 1) on the data; ``p_greater``/``p_less``: ``(W, 2)`` one-sided permutation p-values
    ``(1 + #{permuted >= observed}) / (n_perm + 1)`` for "a better" and ``(1 + #{permuted <= observed}) /
    (n_perm + 1)`` for "b better"; ``n_perm``: the number of random relabellings."""

    observed: np.ndarray
    p_greater: np.ndarray
    p_less: np.ndarray
    n_perm: int


def permutation_window_test(real_a, pseudo_a, real_b, pseudo_b, grid, windows, n_perm: int = 2000,
                            seed: int | np.random.Generator = 0, chunk: int = 200) -> WindowPermutation:
    """Run-label permutation test of two independently simulated models ({ref}`sec-controls-windows`).

    ``real_*``, ``pseudo_*``: ``(N_a, E)`` and ``(N_b, E)`` runs, age 1 first. The statistic of a window is
    the difference a - b of the window means over the ``grid`` ages in it of d'_A and of the yes/no d',
    each model's criterion being the 95th percentile of its own pseudo accuracies over all ``E`` ages, as
    in :func:`dprime_measures`. Under the null hypothesis that both models' runs come from one
    distribution the runs are exchangeable, so each of ``n_perm`` relabellings (drawn from ``seed``)
    assigns ``N_a`` of the pooled runs to a and the rest to b and recomputes both statistics, criteria
    included. A run's real and pseudo accuracies move together. The p-values count the observed labelling
    once (Monte Carlo p-values are then valid tests). The result does not depend on ``chunk``.
    """
    ra, pa = _pair(real_a, pseudo_a)
    rb, pb = _pair(real_b, pseudo_b)
    if ra.shape[1] != rb.shape[1]:
        raise ConfigError(f"real_b has {rb.shape[1]} ages, real_a {ra.shape[1]}: they must match")
    n_perm = check_int("n_perm", n_perm, 1)
    chunk = check_int("chunk", chunk, 1)
    grid = np.asarray(grid)
    if grid.ndim != 1 or grid.size == 0 or grid.min() < 1 or grid.max() > ra.shape[1]:
        raise ConfigError(f"grid must hold ages between 1 and {ra.shape[1]}")
    real, pseudo = np.vstack([ra, rb]), np.vstack([pa, pb])
    n_a, n = ra.shape[0], real.shape[0]
    levels = np.unique(np.concatenate([real.ravel(), pseudo.ravel()]))
    if levels.size > 2048:
        raise ConfigError(f"real/pseudo have {levels.size} distinct values: permutation_window_test needs <= 2048")
    onehot_r, onehot_p = _level_onehots(real, levels, grid), _level_onehots(pseudo, levels, grid)
    pseudo_counts = np.stack([np.bincount(np.searchsorted(levels, row), minlength=levels.size) for row in pseudo])
    sel = np.stack([(grid >= lo) & (grid <= hi) for lo, hi in windows]).astype(np.float64)  # (W, G)
    if (sel.sum(axis=1) == 0).any():
        raise ConfigError("every window must contain at least one grid age")
    sel /= sel.sum(axis=1, keepdims=True)

    def window_differences(labels):  # labels: (b, n) 0/1 membership of a -> (b, W, 2)
        ma = _group_measures(labels, onehot_r, onehot_p, pseudo_counts, levels, grid.size)
        mb = _group_measures(1.0 - labels, onehot_r, onehot_p, pseudo_counts, levels, grid.size)
        return np.stack([(ma.dprime_auc - mb.dprime_auc) @ sel.T, (ma.dprime_sdt - mb.dprime_sdt) @ sel.T], axis=-1)

    observed = window_differences(np.r_[np.ones(n_a), np.zeros(n - n_a)][None, :])[0]
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(check_int("seed", seed, 0))
    members = np.argsort(rng.random((n_perm, n)), axis=1)[:, :n_a]  # all relabellings up front: chunk-invariant
    ge, le = np.zeros_like(observed), np.zeros_like(observed)
    for start in range(0, n_perm, chunk):
        idx = members[start:start + chunk]
        labels = np.zeros((idx.shape[0], n))
        np.put_along_axis(labels, idx, 1.0, axis=1)
        perm = window_differences(labels)
        ge += (perm >= observed - 1e-12).sum(axis=0)
        le += (perm <= observed + 1e-12).sum(axis=0)
    return WindowPermutation(observed, (1 + ge) / (n_perm + 1), (1 + le) / (n_perm + 1), n_perm)


def window_comparison(cue: float, dprime_a, dprime_b, real_a, real_b, markers: AgeMarkers, windows,
                      names=("a", "b")) -> pd.DataFrame:
    """Per age window, model a against model b at one cue ({ref}`sec-controls-random`): the d' contrast
    :func:`window_difference` (3 decimals) with its SE, the difference of the mean real accuracy curves,
    and how many ages in the window carry each uncorrected marker. ``dprime_*``: ``(n_samples, E)``;
    ``real_*``: ``(runs, E)``; ``names`` label the columns (e.g. ``("sim", "random")``)."""
    a, b = names
    acc_diff = window_means(np.asarray(real_a).mean(0) - np.asarray(real_b).mean(0), windows=windows)
    rows = []
    for w, (lo, hi) in enumerate(windows):
        diff = window_difference(dprime_a, dprime_b, (lo, hi))
        n_a, n_b = markers.counts((lo, hi))
        rows.append({"cue": cue, "ages": f"{lo}-{hi}", f"d' {a} - {b}": round(diff.mean, 3), "SE": round(diff.se, 3),
                     f"accuracy {a} - {b}": round(float(acc_diff[w]), 3), f"ages {a} better (p<0.01)": n_a,
                     f"ages {b} better": n_b})
    return pd.DataFrame(rows)


def relation_table(measures: dict, boots: dict, grid, windows) -> pd.DataFrame:
    """Relation 1 of {ref}`sec-controls-measures` per window: for each ``(model, cue)`` key of ``boots``
    (:class:`BootstrapMeasures` on the ages ``grid``; ``measures`` holds the :class:`DprimeMeasures`), the
    window-mean gap ``d'_A - sqrt(2) d_z`` over the grid ages in the window, its bootstrap standard error
    (runs resampled), whether some age of the window is completely separated (AUC 0 or 1), and
    ``|gap| / SE`` (from the rounded values). Windows without grid ages are skipped."""
    grid = np.asarray(grid)
    rows = []
    for (model, cue), b in boots.items():
        m = measures[(model, cue)]
        gap = b.dprime_auc - np.sqrt(2) * b.dz  # (n_boot, grid ages)
        point = m.auc[grid - 1] - m.pooled_dz[grid - 1]
        for lo, hi in windows:
            sel = (grid >= lo) & (grid <= hi)
            if not sel.any():
                continue
            rows.append({"model": model, "cue": cue, "ages": f"{lo}-{hi}", "grid ages": int(sel.sum()),
                         "d'_A - √2 d_z": round(float(point[sel].mean()), 3),
                         "bootstrap SE": round(float(np.std(gap[:, sel].mean(axis=1))), 3),
                         "AUC = 1 somewhere": bool(m.flags.auc_extreme[lo - 1:hi].any())})
    table = pd.DataFrame(rows)
    table["|gap| / SE"] = (table["d'_A - √2 d_z"].abs() / table["bootstrap SE"]).round(1)
    return table


def degeneracy_table(measures: dict) -> pd.DataFrame:
    """The degeneracy table of {ref}`sec-controls-degeneracy`: per ``(model, cue)`` key of ``measures``
    (:class:`DprimeMeasures`), how many ages have a zero paired SD in some sample, an AUC of 0 or 1, or a
    raw hit or false-alarm rate of 0 or 1, and the oldest such age (0: none)."""

    def oldest(flags):
        return int(np.flatnonzero(flags)[-1] + 1) if flags.any() else 0

    rows = []
    for (model, cue), m in measures.items():
        fl = m.flags
        rows.append({"model": model, "cue": cue, "ages with paired SD=0": int(fl.paired_sd_zero.sum()),
                     "ages with AUC 0/1": int(fl.auc_extreme.sum()), "oldest such age": oldest(fl.auc_extreme),
                     "ages with H or F 0/1": int(fl.rate_extreme.sum()), "oldest H/F age": oldest(fl.rate_extreme)})
    return pd.DataFrame(rows)


def model_window_table(perms: dict, boots_a: dict, boots_b: dict, dprime_a: dict, dprime_b: dict, grid, windows,
                       q: float = 0.01, names=("K", "MHN")) -> pd.DataFrame:
    """Model a against model b per cue, window and measure, with multiplicity control
    ({ref}`sec-controls-windows`). Dicts are keyed by cue.

    - d'_A and yes/no d': the observed window-mean difference and the one-sided p-values of the run-label
      permutation test (``perms``: :class:`WindowPermutation` on these ``windows``), with the 95%
      percentile interval of the bootstrap replicates (``boots_*``: :class:`BootstrapMeasures` on the ages
      ``grid``, the two models' runs resampled independently);
    - the authors' d' (``dprime_*``: ``(n_samples, E)``): :func:`window_difference`, its 95% Student-t
      interval and the one-sided p-values of the textbook paired t over samples (``n_samples - 1`` df).

    Benjamini-Hochberg at FDR ``q`` runs over all windows x measures x cues x directions.
    """
    a, b = names
    grid = np.asarray(grid)
    rows, pvals = [], []
    for cue, ba in boots_a.items():
        bb, perm = boots_b[cue], perms[cue]
        for w, (lo, hi) in enumerate(windows):
            sel = (grid >= lo) & (grid <= hi)
            for j, (name, ra, rb) in enumerate((("d'_A", ba.dprime_auc, bb.dprime_auc),
                                                ("yes/no d'", ba.dprime_sdt, bb.dprime_sdt))):
                ci = np.percentile(ra[:, sel].mean(1) - rb[:, sel].mean(1), [2.5, 97.5])
                rows.append({"cue": cue, "ages": f"{lo}-{hi}", "measure": name,
                             f"{a} - {b}": round(float(perm.observed[w, j]), 2),
                             "95% CI": f"[{ci[0]:.2f}, {ci[1]:.2f}]", "test": "permutation"})
                pvals.append((perm.p_greater[w, j], perm.p_less[w, j]))
            d = window_difference(dprime_a[cue], dprime_b[cue], (lo, hi))
            df = np.asarray(dprime_a[cue]).shape[0] - 1
            half = float(stats.t.ppf(0.975, df)) * d.se
            rows.append({"cue": cue, "ages": f"{lo}-{hi}", "measure": "authors' d'", f"{a} - {b}": round(d.mean, 2),
                         "95% CI": f"[{d.mean - half:.2f}, {d.mean + half:.2f}]", "test": "paired t"})
            pvals.append((stats.t.sf(d.t, df), stats.t.cdf(d.t, df)))
    pvals = np.array(pvals)
    reject = bh_fdr(pvals, q=q).reject
    table = pd.DataFrame(rows)
    table[f"p ({a} better)"] = pvals[:, 0].round(4)
    table[f"p ({b} better)"] = pvals[:, 1].round(4)
    table[f"{a} better (BH)"] = reject[:, 0]
    table[f"{b} better (BH)"] = reject[:, 1]
    return table
