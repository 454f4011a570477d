"""Success counts of the Case Sequence sweeps, their exact intervals and tests, and the summary of a run.

Book: {ref}`ch-training` reports these for every run of its training plan (the success criterion is the
final accuracy of ``eq-methods-final-accuracy`` reaching 0.99; speed is ``eq-methods-batches-to-99``).
Pure functions on the arrays of :func:`slotless.attention.training.result_arrays`; the tests are scipy's.
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
    "fisher_p",
    "pooled",
    "RunSummary",
    "summarize_run",
    "SpeedContrast",
    "speed_contrast",
    "RunContrast",
    "compare_runs",
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


def fisher_p(a, b, alternative: str = "two-sided") -> float:
    """Fisher's exact test of the success count ``a`` against ``b`` (anything with ``k`` and ``n``, e.g. a
    :class:`SuccessCount` or :class:`RunSummary`): the p-value of the 2x2 table of successes and failures.
    ``alternative="greater"``: ``a`` succeeds more often ({ref}`ch-training`)."""
    check_choice("alternative", alternative, _ALTERNATIVES)
    for name, c in (("a", a), ("b", b)):
        if not 0 <= c.k <= c.n:
            raise ConfigError(f"{name}: k={c.k} successes of n={c.n} is impossible: need 0 <= k <= n")
    table = [[a.k, a.n - a.k], [b.k, b.n - b.k]]
    return float(stats.fisher_exact(table, alternative=alternative)[1])


def pooled(counts) -> SuccessCount:
    """The sum of several success counts (cells with disjoint seeds only; {ref}`ch-training`, ``fig-training-lr-grid``)."""
    counts = list(counts)
    if not counts:
        raise ConfigError("counts is empty: pool at least one success count")
    return SuccessCount(sum(c.k for c in counts), sum(c.n for c in counts))


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


@dataclass(frozen=True)
class SpeedContrast:
    """Batches to 99% (``eq-methods-batches-to-99``) of two runs among their seeds that reach it: the medians and
    the two-sided Mann–Whitney U test's p-value (NaN when either run has no such seed) ({ref}`ch-training`)."""

    median_a: float
    median_b: float
    p: float


def speed_contrast(batches_to_99_a, batches_to_99_b) -> SpeedContrast:
    """Compare the speed of two runs (``eq-methods-batches-to-99``; ``(S,)`` arrays with NaN for never) over the
    seeds that reach 99%: medians and a two-sided Mann–Whitney U test ({ref}`ch-training`)."""
    a = np.asarray(batches_to_99_a, dtype=np.float64)
    b = np.asarray(batches_to_99_b, dtype=np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    p = float(stats.mannwhitneyu(a, b).pvalue) if len(a) and len(b) else math.nan
    med_a = float(np.median(a)) if len(a) else math.nan
    med_b = float(np.median(b)) if len(b) else math.nan
    return SpeedContrast(med_a, med_b, p)


@dataclass(frozen=True)
class RunContrast:
    """Two runs of {ref}`ch-training` compared: their summaries ``a`` and ``b``; reliability (``p_reliability``,
    two-sided Fisher test of the success counts; ``more``: ``a`` has more successes) and speed (``speed``;
    ``faster``: ``a``'s median batches to 99% is smaller)."""

    a: RunSummary
    b: RunSummary
    p_reliability: float
    speed: SpeedContrast

    @property
    def more(self) -> bool:
        return self.a.k > self.b.k

    @property
    def faster(self) -> bool:
        return bool(self.speed.median_a < self.speed.median_b)


def compare_runs(arrays_a: dict, arrays_b: dict) -> RunContrast:
    """Reliability and speed of run ``a`` against run ``b`` (arrays as for :func:`summarize_run`; {ref}`ch-training`,
    the exact one-hot rule against QK alignment)."""
    a, b = summarize_run(arrays_a), summarize_run(arrays_b)
    return RunContrast(a, b, fisher_p(a, b), speed_contrast(arrays_a["batches_to_99"], arrays_b["batches_to_99"]))


def rate_se(rate: float, n: int) -> float:
    """Binomial standard error ``sqrt(p (1-p) / n)`` of a rate measured on ``n`` trials, with ``p (1-p)`` floored
    at ``1/n`` so that a rate of 0 or 1 still gets a nonzero error ({ref}`ch-mhn-transformer`)."""
    n = check_int("n", n, 1)
    rate = check_float("rate", rate, 0.0, 1.0)
    return math.sqrt(max(rate * (1 - rate), 1 / n) / n)
