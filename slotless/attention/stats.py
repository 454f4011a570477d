"""Success counts of the Case Sequence sweeps, their exact intervals, the paired tests between configurations,
and the summary of a run.

Book: {ref}`ch-training` reports these for every run of its training plan (the success criterion is the
final accuracy of ``eq-methods-final-accuracy`` reaching 0.99; speed is ``eq-methods-batches-to-99``).

The design is paired: seed ``s`` has the same initial weights, batches and fast-weight draws in every
configuration (common random numbers), so two configurations are compared seed by seed. Success counts: the
exact McNemar test on the discordant seeds (:func:`paired_success`) with Newcombe's interval for the paired difference.
Speed: a sign test on paired times with seeds that never reach 99% censored (:func:`paired_speed`). Pure
functions on the arrays of :func:`slotless.attention.training.result_arrays`; the tests and intervals are scipy's
where scipy has them (``binomtest``, its ``proportion_ci``, ``false_discovery_control``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import stats

from ..checks import ConfigError, check_choice, check_float, check_int

__all__ = [
    "SUCCESS_THRESHOLD",
    "SuccessCount",
    "success_count",
    "clopper_pearson",
    "RunSummary",
    "summarize_run",
    "wilson",
    "paired_difference_interval",
    "PairedSuccess",
    "paired_success",
    "median_interval",
    "SignTest",
    "sign_test",
    "PairedSpeed",
    "paired_speed",
    "mean_interval",
    "RunContrast",
    "compare_runs",
    "fdr_adjusted",
    "rate_se",
]

#: A seed "reaches perfect accuracy" when its final accuracy is at least this ({ref}`ch-training`).
SUCCESS_THRESHOLD = 0.99
_ALTERNATIVES = ("two-sided", "greater", "less")


class SuccessCount(NamedTuple):
    """``k`` of ``n`` seeds reached the success threshold ({ref}`ch-training`)."""

    k: int
    n: int


def success_count(final_accuracy, threshold: float = SUCCESS_THRESHOLD) -> SuccessCount:
    """How many seeds of ``final_accuracy: (S,)`` reach ``threshold`` (``eq-methods-final-accuracy``, {ref}`ch-training`)."""
    fa = np.asarray(final_accuracy, dtype=np.float64).reshape(-1)
    return SuccessCount(int((fa >= threshold).sum()), len(fa))


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper–Pearson) two-sided interval ``(low, high)`` for a success probability from ``k`` of
    ``n`` ({ref}`ch-training`): scipy's ``binomtest(k, n).proportion_ci(method="exact")``, which equals the
    beta quantiles ``Beta(a/2; k, n-k+1)`` and ``Beta(1-a/2; k+1, n-k)`` (0 and 1 at the ends)."""
    n = check_int("n", n, 1)
    k = check_int("k", k, 0, n)
    level = check_float("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


@dataclass(frozen=True)
class RunSummary:
    """One run of {ref}`ch-training` over its seeds.

    ``k`` of ``n`` seeds reach the success threshold, ``ci`` the exact 95% interval of the per-seed success
    probability (:func:`clopper_pearson`); ``k10`` of ``n10``: the same among the first 10 seeds; ``mean`` and
    ``se`` the final accuracy's mean and standard error over seeds; ``collision_rate`` the mean over seeds of the
    fraction of sequences with an overwritten item; ``median_b99`` the median batches to 99% over the seeds that
    reach it (``eq-methods-batches-to-99``; NaN if none does).
    """

    k: int
    n: int
    ci: tuple
    k10: int
    n10: int
    mean: float
    se: float
    collision_rate: float
    median_b99: float


def summarize_run(arrays: dict, threshold: float = SUCCESS_THRESHOLD, first: int = 10) -> RunSummary:
    """The :class:`RunSummary` of one run's arrays (``final_accuracy (S,)``, ``batches_to_99 (S,)`` with NaN for
    never, ``collision_rate (S,)``) ({ref}`ch-training`, the table of the main comparison)."""
    fa = np.asarray(arrays["final_accuracy"], dtype=np.float64)
    b99 = np.asarray(arrays["batches_to_99"], dtype=np.float64)
    first = check_int("first", first, 1)
    k, n = success_count(fa, threshold)
    k10, n10 = success_count(fa[:first], threshold)
    se = fa.std(ddof=1) / math.sqrt(n) if n > 1 else math.nan
    median = float(np.nanmedian(b99)) if np.isfinite(b99).any() else math.nan
    return RunSummary(k=k, n=n, ci=clopper_pearson(k, n), k10=k10, n10=n10, mean=float(fa.mean()), se=float(se),
                      collision_rate=float(np.mean(arrays["collision_rate"])), median_b99=median)


def _paired_success(arrays_or_success, threshold: float) -> np.ndarray:
    """A run's per-seed success ``(S,)`` bool from its arrays (``final_accuracy``) or from a bool/0-1 array."""
    if isinstance(arrays_or_success, dict):
        return np.asarray(arrays_or_success["final_accuracy"], dtype=np.float64) >= threshold
    return np.asarray(arrays_or_success).astype(bool).reshape(-1)


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval ``(low, high)`` for a proportion from ``k`` of ``n``: scipy's
    ``binomtest(k, n).proportion_ci(method="wilson")`` ({ref}`ch-training`, the paired differences)."""
    n = check_int("n", n, 1)
    k = check_int("k", k, 0, n)
    level = check_float("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def paired_difference_interval(both: int, a_only: int, b_only: int, neither: int,
                               level: float = 0.95) -> tuple[float, float]:
    """Newcombe's hybrid-score interval for the difference ``p_a - p_b`` of two proportions measured on the same
    units (Newcombe 1998, method 10; recommended for paired binomial data by Fagerland, Lydersen & Laake 2013).

    From the paired 2x2 table (``both`` succeed, only ``a``, only ``b``, ``neither``): the Wilson intervals
    :func:`wilson` of ``p_a`` and ``p_b`` are combined with the correlation ``phi`` of the two outcomes,
    ``delta - sqrt((p_a - l_a)^2 - 2 phi (p_a - l_a)(u_b - p_b) + (u_b - p_b)^2)`` and the mirror expression for
    the upper end; ``phi = (both * neither - a_only * b_only) / sqrt(product of the margins)``, with
    ``both * neither - a_only * b_only`` shrunk by ``n / 2`` towards 0 when positive (Newcombe's continuity
    correction of ``phi``) and 0 when a margin is empty. ({ref}`ch-training`.)
    """
    cells = [check_int(name, v, 0) for name, v in
             (("both", both), ("a_only", a_only), ("b_only", b_only), ("neither", neither))]
    both, a_only, b_only, neither = cells
    n = sum(cells)
    if n < 1:
        raise ConfigError("the paired table is empty: give at least one pair")
    k_a, k_b = both + a_only, both + b_only
    p_a, p_b = k_a / n, k_b / n
    (l_a, u_a), (l_b, u_b) = wilson(k_a, n, level), wilson(k_b, n, level)
    margins = (k_a * (n - k_a) * k_b * (n - k_b))
    cross = both * neither - a_only * b_only
    if cross > 0:
        cross = max(cross - n / 2, 0.0)
    phi = cross / math.sqrt(margins) if margins > 0 else 0.0
    delta = p_a - p_b
    low = delta - math.sqrt(max((p_a - l_a) ** 2 - 2 * phi * (p_a - l_a) * (u_b - p_b) + (u_b - p_b) ** 2, 0.0))
    high = delta + math.sqrt(max((u_a - p_a) ** 2 - 2 * phi * (u_a - p_a) * (p_b - l_b) + (p_b - l_b) ** 2, 0.0))
    return max(low, -1.0), min(high, 1.0)


@dataclass(frozen=True)
class PairedSuccess:
    """Success of two configurations on the same seeds (common random numbers; {ref}`ch-training`).

    ``n`` seeds; ``k_a``, ``k_b`` successes of each; ``a_only`` seeds where only ``a`` succeeds, ``b_only`` where only
    ``b`` does (the discordant seeds). ``p``: the exact McNemar test, scipy's ``binomtest(a_only, a_only + b_only,
    1/2)`` with the given ``alternative`` ("greater": ``a`` succeeds more often); 1 without discordant seeds.
    ``difference`` = ``(k_a - k_b) / n`` with Newcombe's paired interval ``difference_ci``
    (:func:`paired_difference_interval`).
    """

    n: int
    k_a: int
    k_b: int
    a_only: int
    b_only: int
    p: float
    alternative: str
    difference: float
    difference_ci: tuple


def paired_success(success_a, success_b, alternative: str = "two-sided", threshold: float = SUCCESS_THRESHOLD,
            level: float = 0.95) -> PairedSuccess:
    """The exact McNemar test and the paired difference of two configurations' success counts
    ({ref}`ch-training`). ``success_a``, ``success_b``: the two runs' arrays (a seed succeeds when its
    ``final_accuracy`` reaches ``threshold``) or per-seed bools, ``(S,)``, seed ``s`` of one paired with seed ``s``
    of the other. Only the discordant seeds carry information about the difference: under the null hypothesis
    each is equally likely to favour either configuration."""
    check_choice("alternative", alternative, _ALTERNATIVES)
    a, b = _paired_success(success_a, threshold), _paired_success(success_b, threshold)
    if a.shape != b.shape or not len(a):
        raise ConfigError(f"success_a has {len(a)} seeds and success_b {len(b)}: pair the same seeds (at least 1)")
    a_only, b_only = int((a & ~b).sum()), int((~a & b).sum())
    discordant = a_only + b_only
    p = float(stats.binomtest(a_only, discordant, 0.5, alternative=alternative).pvalue) if discordant else 1.0
    n = len(a)
    ci = paired_difference_interval(int((a & b).sum()), a_only, b_only, int((~a & ~b).sum()), level)
    return PairedSuccess(n, int(a.sum()), int(b.sum()), a_only, b_only, p, alternative, (a_only - b_only) / n, ci)


def median_interval(values, level: float = 0.95) -> tuple[float, float]:
    """The distribution-free interval for a median from the order statistics of ``values`` ``(n,)`` (may hold
    ``±inf``): ``[v_(k), v_(n-k+1)]`` with ``k`` the largest integer such that ``P(B <= k - 1) <= (1 - level) / 2``
    for ``B ~ Binomial(n, 1/2)``; it is the set of medians the two-sided sign test (scipy's ``binomtest``) does not
    reject. ``(-inf, inf)`` when ``n`` is too small for any ``k`` ({ref}`ch-training`)."""
    v = np.sort(np.asarray(values, dtype=np.float64).reshape(-1))
    n = len(v)
    level = check_float("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    if n == 0 or np.isnan(v).any():
        raise ConfigError(f"values has {n} entries ({int(np.isnan(v).sum())} NaN): give at least one number")
    half_alpha = (1 - level) / 2
    k = 0
    while k < n // 2 and stats.binom.cdf(k, n, 0.5) <= half_alpha:  # P(B <= k) <= alpha / 2: k + 1 is allowed
        k += 1
    if k == 0:
        return -math.inf, math.inf
    return float(v[k - 1]), float(v[n - k])


@dataclass(frozen=True)
class SignTest:
    """The exact sign test of paired values ``a`` against ``b`` ({ref}`ch-training`): ``a_larger``, ``b_larger``
    and ``ties`` count the pairs; ``p`` is scipy's ``binomtest(a_larger, a_larger + b_larger, 1/2)`` with the given
    ``alternative`` ("greater": ``a`` tends to be larger; 1 when every pair ties); ``median_difference`` is the
    median of ``a - b`` over all pairs and ``difference_ci`` its interval (:func:`median_interval`)."""

    n: int
    a_larger: int
    b_larger: int
    ties: int
    p: float
    alternative: str
    median_difference: float
    difference_ci: tuple


def _median(values: np.ndarray) -> float:
    """The median of sorted-able values that may hold ``±inf`` (the mean of the two middle ones for even n)."""
    s = np.sort(values)
    n = len(s)
    if n % 2:
        return float(s[n // 2])
    lo, hi = s[n // 2 - 1], s[n // 2]
    return float(lo) if lo == hi else float(0.5 * (lo + hi))


def sign_test(a, b, alternative: str = "two-sided", level: float = 0.95) -> SignTest:
    """The exact sign test of paired values ``a``, ``b`` (``(n,)``, pair ``i`` = seed ``i`` of two configurations;
    ``±inf`` allowed, two equal infinities tie) and the interval of the median paired difference
    (:class:`SignTest`; {ref}`ch-training`)."""
    check_choice("alternative", alternative, _ALTERNATIVES)
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape or not len(a) or np.isnan(a).any() or np.isnan(b).any():
        raise ConfigError(f"a has {len(a)} values and b {len(b)}: pair the same seeds, without NaN")
    same = a == b  # also two equal infinities
    diff = np.zeros(len(a))
    diff[~same] = a[~same] - b[~same]
    a_larger, b_larger = int((diff > 0).sum()), int((diff < 0).sum())
    decided = a_larger + b_larger
    p = float(stats.binomtest(a_larger, decided, 0.5, alternative=alternative).pvalue) if decided else 1.0
    return SignTest(len(a), a_larger, b_larger, len(a) - decided, p, alternative, _median(diff),
                    median_interval(diff, level))


@dataclass(frozen=True)
class PairedSpeed:
    """Batches to 99% (``eq-methods-batches-to-99``) of two configurations on the same seeds ({ref}`ch-training`).

    A seed that never reaches 99% is **censored**: its time is only known to exceed the batch budget, so it counts
    as slower than any seed that reaches it (``+inf``), and two censored seeds tie. ``a_faster``, ``b_faster``,
    ``ties``: pairs decided for ``a``, for ``b``, and tied; ``p``: the exact two-sided sign test on the decided
    pairs (:func:`sign_test`). ``median_difference``: the median over all seeds of ``t_a - t_b`` (negative: ``a``
    faster; may be infinite) with its sign-test interval ``difference_ci`` (:func:`median_interval`).
    ``censored_a``, ``censored_b``: seeds of each that never reach 99%.
    """

    n: int
    a_faster: int
    b_faster: int
    ties: int
    p: float
    median_difference: float
    difference_ci: tuple
    censored_a: int
    censored_b: int


def paired_speed(batches_to_99_a, batches_to_99_b, level: float = 0.95) -> PairedSpeed:
    """Compare how fast two configurations reach 99% on the same seeds (``(S,)`` arrays, NaN for never), keeping
    the seeds that never reach it as censored (:class:`PairedSpeed`; {ref}`ch-training`).

    A sign test, not a Wilcoxon test: a censored time has no magnitude, so only the direction of a paired
    difference is known when one seed of the pair fails; ranking the differences would invent magnitudes."""
    a = np.asarray(batches_to_99_a, dtype=np.float64).reshape(-1)
    b = np.asarray(batches_to_99_b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape or not len(a):
        raise ConfigError(f"batches_to_99_a has {len(a)} seeds and batches_to_99_b {len(b)}: pair the same seeds")
    ta, tb = np.where(np.isnan(a), np.inf, a), np.where(np.isnan(b), np.inf, b)
    t = sign_test(tb, ta, level=level)  # b larger = a faster
    return PairedSpeed(t.n, t.a_larger, t.b_larger, t.ties, t.p, -t.median_difference,
                       (-t.difference_ci[1], -t.difference_ci[0]), int(np.isinf(ta).sum()), int(np.isinf(tb).sum()))


def mean_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """The mean of ``values`` ``(n,)`` (independent seeds) and its two-sided Student-t interval: ``(mean, low,
    high)`` from scipy's ``ttest_1samp(values, 0).confidence_interval(level)``; a zero-width interval when every
    value is the same; ``(-inf, inf)`` for a single value ({ref}`ch-training`)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    level = check_float("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    if not len(v) or not np.all(np.isfinite(v)):
        raise ConfigError(f"values has {len(v)} entries: give at least one finite number")
    mean = float(v.mean())
    if len(v) == 1:
        return mean, -math.inf, math.inf
    if np.all(v == v[0]):
        return mean, mean, mean
    ci = stats.ttest_1samp(v, 0.0).confidence_interval(level)
    return mean, float(ci.low), float(ci.high)


@dataclass(frozen=True)
class RunContrast:
    """Two runs of {ref}`ch-training` on the same seeds compared: their summaries ``a`` and ``b``, reliability
    (``reliability``, :func:`paired_success`, two-sided) and speed (``speed``, :func:`paired_speed`)."""

    a: RunSummary
    b: RunSummary
    reliability: PairedSuccess
    speed: PairedSpeed


def compare_runs(arrays_a: dict, arrays_b: dict) -> RunContrast:
    """Reliability and speed of run ``a`` against run ``b``, paired by seed (arrays as for :func:`summarize_run`;
    {ref}`ch-training`, the exact one-hot rule against QK alignment)."""
    return RunContrast(summarize_run(arrays_a), summarize_run(arrays_b), paired_success(arrays_a, arrays_b),
                       paired_speed(arrays_a["batches_to_99"], arrays_b["batches_to_99"]))


def fdr_adjusted(p_values) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values of a family of tests ``(m,)``: scipy's
    ``false_discovery_control(p, method="bh")`` ({ref}`ch-training`, the family of paired tests)."""
    p = np.asarray(p_values, dtype=np.float64).reshape(-1)
    if not len(p) or np.any((p < 0) | (p > 1) | np.isnan(p)):
        raise ConfigError(f"p_values={p.tolist()} must be a non-empty list of probabilities in [0, 1]")
    return stats.false_discovery_control(p, method="bh")


def rate_se(rate: float, n: int) -> float:
    """Binomial standard error ``sqrt(p (1-p) / n)`` of a rate measured on ``n`` trials, with ``p (1-p)`` floored
    at ``1/n`` so that a rate of 0 or 1 still gets a nonzero error ({ref}`ch-mhn-transformer`)."""
    n = check_int("n", n, 1)
    rate = check_float("rate", rate, 0.0, 1.0)
    return math.sqrt(max(rate * (1 - rate), 1 / n) / n)
