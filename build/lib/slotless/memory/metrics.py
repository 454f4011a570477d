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

from typing import Callable, NamedTuple

import numpy as np
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


# ------------------------------------------------------------------- §2.5 accuracy curves
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


# ----------------------------------------------------------- §2.6 samples x runs, d', RD
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


# ------------------------------------------------------------ §2.7 SEM and markers
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
    ``p_(k) <= k q / m``. NaN p-values count as 1 (never rejected, still counted in m).
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
    ranked = flat[order]
    thresh = q * np.arange(1, m + 1) / m
    below = np.nonzero(ranked <= thresh)[0]
    reject = np.zeros(m, dtype=bool)
    if below.size:
        reject[order[: below[-1] + 1]] = True
    adj_sorted = np.minimum.accumulate((ranked * m / np.arange(1, m + 1))[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(adj_sorted, 1.0)
    return BHResult(reject.reshape(arr.shape), adjusted.reshape(arr.shape))


# ---------------------------------------------------------------- §2.8 exponential fits
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


# --------------------------------------------------------------------- §4 AUC and d'_A
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


# ---------------------------------------------------------------------- §4.3 SDT d'
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


# --------------------------------------------------------------------- §4.5 bootstrap
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


# --------------------------------------------------------------- §4.6 degeneracy flags
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


# ---------------------------------------------------------------------- §4.7 windows
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
