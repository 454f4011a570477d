"""Where ensembles beat slots: the K-winner MHN across its design space (a book addition, tag B).

Book: {ref}`ch-design-space`. The paper compares the K-winner MHN with the 1-winner MHN at one design
point; these functions reduce the runs of a grid of designs to the quantities the chapter maps.

Conventions. A run is reduced once (:func:`summarise`) to per-sample curves of the authors' d' design
(``eq-methods-dprime``): ``(samples, A)`` arrays, age 1 first, A ages kept. Runs of one grid share their
seed and stream, so for a given cue every configuration sees the same patterns and cues trial by trial:
sample ``i`` of one configuration is **paired** with sample ``i`` of every other (and of the matched
1-winner MHN). Comparisons between configurations are therefore paired tests over samples; no test pools
cells of the grid (they share runs).

Ages scale with the 1-winner MHN's size: a memory of age a has survived a-1 later patterns, each of
which overwrites one of its n_h units, so a network ``scale`` times the paper's sees the paper's ages
multiplied by ``scale`` (:func:`scaled_window`, :func:`scaled_setting`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import stats

from ..checks import ConfigError, check_float, check_int
from . import metrics
from .network import NetworkConfig
from .theory import decay_rate_kwinner, decay_rate_mhn

__all__ = [
    "DESIGN_WINDOWS",
    "PAPER_POINT",
    "DesignPoint",
    "DesignGrid",
    "choose_grid",
    "Front",
    "front",
    "design_table",
    "RunSummary",
    "Interval",
    "summarise",
    "scaled_window",
    "scaled_setting",
    "window_values",
    "paired_difference",
    "crossover_age",
    "crossover_interval",
    "significant_ages",
    "decay_rate",
    "law_ratio",
    "pareto_front",
    "dominating_points",
    "comparison_row",
]

#: The chapter's three age windows at the paper's size (n_h = 100 for the 1-winner MHN): the newest
#: memories, middle-aged ones, and old ones (inclusive, 1-based ages).
DESIGN_WINDOWS = {"young": (1, 20), "middle": (51, 100), "old": (201, 500)}
#: The paper's design point: k = 50 winners, learning rate 0.3, fan-in 0.05 (``tbl-methods-memory``).
PAPER_POINT = {"winners": 50, "epsilon": 0.3, "fan_in": 0.05}


class RunSummary(NamedTuple):
    """One run reduced to the per-sample curves of the d' design, ages 1..A (``eq-methods-dprime``).

    ``dprime``, ``rd``, ``real``, ``pseudo``: ``(samples, A)`` paired d' (ddof 0), raw difference, mean real
    and mean pseudo accuracy of each sample; ``trace``: ``(A,)`` mean remaining trace over all trials;
    ``pseudo_baseline``: the mean pseudo accuracy over all trials and evaluated ages (the chance level).
    """

    dprime: np.ndarray
    rd: np.ndarray
    real: np.ndarray
    pseudo: np.ndarray
    trace: np.ndarray
    pseudo_baseline: float

    @property
    def ages(self) -> np.ndarray:
        """``(A,)`` ages 1..A."""
        return np.arange(1, self.rd.shape[1] + 1)


class Interval(NamedTuple):
    """An estimate with its interval: ``value``, ``low``, ``high`` (95% unless stated) and a p-value
    (NaN when there is no test), as the maps of ``fig-design-space-kepsilon`` use them."""

    value: float
    low: float
    high: float
    p: float = math.nan


def summarise(acc_real, acc_pseudo, trace, samples: int, max_age: int | None = None) -> RunSummary:
    """Reduce a run's ``(trials, E)`` accuracies and trace (age 1 first) to a :class:`RunSummary` for
    {ref}`ch-design-space`: ``samples`` contiguous blocks of trials, ages 1..``max_age`` (default E)."""
    real = np.asarray(acc_real, dtype=np.float64)
    pseudo = np.asarray(acc_pseudo, dtype=np.float64)
    trace = np.asarray(trace, dtype=np.float64)
    if real.ndim != 2 or pseudo.shape != real.shape or trace.shape != real.shape:
        raise ConfigError(f"acc_real, acc_pseudo and trace must be (trials, E) arrays of one shape; got "
                          f"{real.shape}, {pseudo.shape}, {trace.shape}")
    e = real.shape[1]
    a = e if max_age is None else check_int("max_age", max_age, 1, e)
    samples = check_int("samples", samples, 1, real.shape[0])
    baseline = float(pseudo.mean())
    real, pseudo = real[:, :a], pseudo[:, :a]
    return RunSummary(metrics.paired_dprime(real, pseudo, samples), metrics.raw_difference(real, pseudo, samples),
                      metrics.sample_means(real, samples), metrics.sample_means(pseudo, samples),
                      trace[:, :a].mean(axis=0), baseline)


def scaled_window(window: tuple[int, int], scale: float) -> tuple[int, int]:
    """The window ``(lo, hi)`` of paper ages at ``scale`` times the paper's network: ages ``(lo-1)*scale``
    (exclusive) to ``hi*scale``, rounded to whole ages (``fig-design-space-scaling``)."""
    lo, hi = check_int("window[0]", window[0], 1), check_int("window[1]", window[1], 1)
    if hi < lo:
        raise ConfigError(f"window={window!r} must have lo <= hi")
    scale = check_float("scale", scale, 0.0, lo_open=True)
    new_lo = int(math.floor((lo - 1) * scale + 1e-9)) + 1
    return new_lo, max(new_lo, int(math.floor(hi * scale + 1e-9)))


def scaled_setting(scale: float, winners: int = 50, epsilon: float = 0.3, fan_in: float = 0.05):
    """The paper's comparison at ``scale`` times its size (``fig-design-space-scaling``).

    n_i = 1000 scale, s = 100 scale (fixed sparsity), the 1-winner MHN's n_h = 100 scale and the
    K-winner's n_h = 100 scale / f (matched connections), k = ``winners`` * scale (fixed k/n_h); f and eps
    unchanged. Returns ``(kwinner, mhn, n_mem)`` with n_mem = 2000 scale memories (B = E). Every size must
    come out whole; otherwise a ConfigError names the one that does not.
    """
    scale = check_float("scale", scale, 0.0, lo_open=True)

    def whole(name, value):
        if abs(value - round(value)) > 1e-9 or round(value) < 1:
            raise ConfigError(f"scale={scale}: {name} = {value:g} is not a whole number; choose another scale")
        return int(round(value))

    n_input, active = whole("n_input", 1000 * scale), whole("active", 100 * scale)
    mhn_units = whole("n_hidden of the MHN", 100 * scale)
    n_hidden = whole("n_hidden", mhn_units / fan_in)
    kwinner = NetworkConfig(n_input, n_hidden, active, fan_in, whole("winners", winners * scale), epsilon)
    mhn = NetworkConfig(n_input, mhn_units, active, 1.0, 1, 1.0)
    return kwinner, mhn, whole("n_mem", 2000 * scale)


def window_values(curves, window: tuple[int, int]) -> np.ndarray:
    """Per-sample mean of ``curves`` ``(samples, A)`` over the ages of ``window`` (inclusive), ignoring
    non-finite entries (a d' with zero paired SD); ``(samples,)``, NaN if no finite entry
    (``fig-design-space-kepsilon``)."""
    arr = np.asarray(curves, dtype=np.float64)
    lo, hi = window
    if arr.ndim != 2 or not 1 <= lo <= hi <= arr.shape[1]:
        raise ConfigError(f"window={window!r} must lie within ages 1..{arr.shape[-1]} of curves {arr.shape}")
    part = arr[:, lo - 1:hi]
    finite = np.isfinite(part)
    count = finite.sum(axis=1)
    total = np.where(finite, part, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def paired_difference(a, b, confidence: float = 0.95) -> Interval:
    """Mean of ``a - b`` over paired samples with its t interval and the two-sided paired t-test p-value
    (:func:`scipy.stats.ttest_rel`); ``a``, ``b``: ``(samples,)`` (``fig-design-space-kepsilon``)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size < 2:
        raise ConfigError(f"a and b must be paired (samples,) arrays with at least 2 samples; got {a.shape}, {b.shape}")
    confidence = check_float("confidence", confidence, 0.0, 1.0, lo_open=True, hi_open=True)
    diff = a - b
    if np.ptp(diff) == 0:  # a constant difference: no spread to test against
        return Interval(float(diff[0]), float(diff[0]), float(diff[0]), 0.0 if diff[0] else 1.0)
    test = stats.ttest_rel(a, b)
    ci = test.confidence_interval(confidence)
    return Interval(float(diff.mean()), float(ci.low), float(ci.high), float(test.pvalue))


def crossover_age(rd_kwinner, rd_mhn) -> float:
    """The first age at which the K-winner's raw difference (mean over samples) exceeds the 1-winner MHN's
    (``fig-design-space-kepsilon``); NaN if it never does within the ages given. ``rd_*``: ``(samples, A)``
    or ``(A,)``."""
    k = np.asarray(rd_kwinner, dtype=np.float64)
    m = np.asarray(rd_mhn, dtype=np.float64)
    if k.shape != m.shape:
        raise ConfigError(f"rd_kwinner {k.shape} and rd_mhn {m.shape} must have one shape")
    if k.ndim == 2:
        k, m = k.mean(axis=0), m.mean(axis=0)
    above = np.flatnonzero(k > m)
    return float(above[0] + 1) if above.size else math.nan


def crossover_interval(rd_kwinner, rd_mhn, n_boot: int = 2000, seed: int = 0, confidence: float = 0.95) -> Interval:
    """:func:`crossover_age` with a percentile bootstrap interval over samples, the two models resampled
    together (paired; :func:`scipy.stats.bootstrap` over the sample indices); a resample that never crosses counts as A + 1, so an
    interval reaching A + 1 means "possibly never within the ages run" (``fig-design-space-kepsilon``)."""
    k = np.asarray(rd_kwinner, dtype=np.float64)
    m = np.asarray(rd_mhn, dtype=np.float64)
    if k.ndim != 2 or k.shape != m.shape or k.shape[0] < 2:
        raise ConfigError(f"rd_kwinner and rd_mhn must be (samples, A) arrays of one shape, samples >= 2; got "
                          f"{k.shape}, {m.shape}")
    beyond = k.shape[1] + 1

    def statistic(rows):
        # rows: the resampled sample indices (both models take the same rows: paired)
        first = crossover_age(k[rows.astype(int)], m[rows.astype(int)])
        return float(beyond) if math.isnan(first) else first

    value = crossover_age(k, m)
    res = stats.bootstrap((np.arange(k.shape[0]),), statistic, vectorized=False, method="percentile",
                          n_resamples=check_int("n_boot", n_boot, 100), confidence_level=confidence,
                          rng=np.random.default_rng(check_int("seed", seed, 0)))
    return Interval(value, float(res.confidence_interval.low), float(res.confidence_interval.high))


def significant_ages(dprime_kwinner, dprime_mhn, alpha: float = 0.01) -> tuple[int, int]:
    """Ages at which each model's d' is significantly higher: the authors' one-tailed paired t over samples
    (``eq-methods-markers``, ddof 0, uncorrected ``alpha``). Returns ``(K-winner better, MHN better)``
    counts (``fig-design-space-kepsilon``)."""
    marks = metrics.one_tailed_markers(dprime_kwinner, dprime_mhn, alpha=alpha, ddof=0)
    return int(marks.a_better.sum()), int(marks.b_better.sum())


def decay_rate(rd, fit_ages: tuple[int, int], n_boot: int = 1000, seed: int = 0) -> Interval:
    """The RD decay rate lambda: :func:`slotless.memory.metrics.exp_fit_excluding_floored` of the mean RD
    over ``fit_ages`` (``eq-methods-expfit``), with a percentile bootstrap interval over samples
    (:func:`scipy.stats.bootstrap`; NaN bounds if some resample has no rate) (``fig-design-space-law``).
    ``rd``: ``(samples, A)``."""
    rd = np.asarray(rd, dtype=np.float64)
    if rd.ndim != 2 or rd.shape[0] < 2:
        raise ConfigError(f"rd must be (samples, A) with samples >= 2; got {rd.shape}")
    lo, hi = fit_ages
    hi = min(hi, rd.shape[1])

    def lam(curve):
        try:
            return metrics.exp_fit_excluding_floored(curve, age_range=(lo, hi)).lam
        except ConfigError:  # fewer than 3 positive points: no rate
            return math.nan

    value = lam(rd.mean(axis=0))
    if math.isnan(value):
        return Interval(value, math.nan, math.nan)

    def statistic(rows):
        return lam(rd[rows.astype(int)].mean(axis=0))

    res = stats.bootstrap((np.arange(rd.shape[0]),), statistic, vectorized=False, method="percentile",
                          n_resamples=check_int("n_boot", n_boot, 100),
                          rng=np.random.default_rng(check_int("seed", seed, 0)))
    return Interval(value, float(res.confidence_interval.low), float(res.confidence_interval.high))


def law_ratio(rd, network: NetworkConfig, n_boot: int = 1000, seed: int = 0, efolds: float = 2.0) -> Interval:
    """Fitted RD decay rate over the book's first-order K-winner law (``prop-kwinner-forgetting``):
    lambda_fit / -ln(1 - eps k/n_h), with its bootstrap interval (``fig-design-space-law``).

    The fit runs over the ages in which the law predicts an ``efolds``-fold e-decay (ages 1 to
    ``efolds``/lambda_law, at most the ages given): the same dynamic range for every design, so fast and
    slow forgetters are fitted alike. 1 means the law holds; below 1 the memories fade more slowly than
    their traces.
    """
    law = decay_rate_kwinner(network.n_hidden, network.winners, network.epsilon)
    rd = np.asarray(rd, dtype=np.float64)
    hi = int(min(rd.shape[1], max(10, math.ceil(check_float("efolds", efolds, 0.0, lo_open=True) / law))))
    fit = decay_rate(rd, (1, hi), n_boot, seed)
    return Interval(fit.value / law, fit.low / law, fit.high / law)


def pareto_front(young, old) -> np.ndarray:
    """Boolean ``(n,)``: the points not dominated in (``young``, ``old``), both to be maximised
    (``fig-design-space-front``). A point is dominated if another is at least as good in both and
    better in one."""
    x = np.asarray(young, dtype=np.float64)
    y = np.asarray(old, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ConfigError(f"young and old must be (n,) arrays of one shape; got {x.shape}, {y.shape}")
    better_eq = (x[None, :] >= x[:, None]) & (y[None, :] >= y[:, None])
    strictly = (x[None, :] > x[:, None]) | (y[None, :] > y[:, None])
    return ~(better_eq & strictly).any(axis=1)


def dominating_points(young, old, index: int, alpha: float = 0.05) -> np.ndarray:
    """Which points significantly dominate point ``index`` (``fig-design-space-front``).

    ``young``, ``old``: ``(points, samples)`` per-sample window d' of every point, paired by sample. Point
    j dominates if it is better in **both** windows: the one-sided paired t-tests (:func:`scipy.stats.ttest_rel`)
    of both must reject, so its p-value is the larger of the two (an intersection-union test); the
    p-values of all j are then Holm-corrected (family-wise ``alpha``). Returns boolean ``(points,)``.
    """
    x = np.asarray(young, dtype=np.float64)
    y = np.asarray(old, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 2 or x.shape[1] < 2:
        raise ConfigError(f"young and old must be (points, samples) arrays of one shape; got {x.shape}, {y.shape}")
    index = check_int("index", index, 0, x.shape[0] - 1)
    alpha = check_float("alpha", alpha, 0.0, 1.0, lo_open=True, hi_open=True)
    p = np.ones(x.shape[0])
    for j in range(x.shape[0]):
        if j == index:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            py = stats.ttest_rel(x[j], x[index], alternative="greater").pvalue
            po = stats.ttest_rel(y[j], y[index], alternative="greater").pvalue
        p[j] = np.nan_to_num(max(py, po), nan=1.0)
    order = np.argsort(p)
    m = x.shape[0] - 1
    reject = np.zeros(x.shape[0], dtype=bool)
    for rank, j in enumerate(order[:m]):
        if p[j] > alpha / (m - rank):
            break
        reject[j] = True
    return reject


def comparison_row(kwinner: RunSummary, mhn: RunSummary, network: NetworkConfig,
                   windows=metrics.WINDOWS, fit_ages: tuple[int, int] = (1, 200), alpha: float = 0.01) -> dict:
    """One row of a sweep table (``python -m slotless sweep``): a K-winner design against its matched
    1-winner MHN, both summarised over the same trials (``tbl-design-space-row``).

    Columns: ``pseudo_baseline`` and ``mhn_pseudo_baseline``; per window ``acc_LO_HI`` (mean real accuracy),
    ``dprime_LO_HI`` and its SE over samples ``dprime_LO_HI_se``, ``mhn_dprime_LO_HI``; ``rd_decay_rate`` (the
    exponential fit over ``fit_ages``), ``rd_decay_rate_law`` (the book's K-winner law) and
    ``mhn_rd_decay_rate``; ``crossover_age`` (first age at which the K-winner's RD exceeds the MHN's, NaN if
    none); ``ages_kwinner_better`` and ``ages_mhn_better`` (the authors' markers at ``alpha``). Windows past
    the ages run are left out.
    """
    ages = kwinner.rd.shape[1]
    row = {"pseudo_baseline": kwinner.pseudo_baseline, "mhn_pseudo_baseline": mhn.pseudo_baseline}
    for lo, hi in windows:
        if hi > ages:
            continue
        d = window_values(kwinner.dprime, (lo, hi))
        row[f"acc_{lo}_{hi}"] = float(window_values(kwinner.real, (lo, hi)).mean())
        row[f"dprime_{lo}_{hi}"] = float(np.mean(d))
        row[f"dprime_{lo}_{hi}_se"] = float(metrics.sem(d, ddof=1)) if d.size > 1 else math.nan
        row[f"mhn_dprime_{lo}_{hi}"] = float(np.mean(window_values(mhn.dprime, (lo, hi))))
    fit = (fit_ages[0], min(fit_ages[1], ages))
    for prefix, summary in (("", kwinner), ("mhn_", mhn)):
        try:
            row[f"{prefix}rd_decay_rate"] = metrics.exp_fit_excluding_floored(summary.rd.mean(axis=0),
                                                                              age_range=fit).lam
        except ConfigError:
            row[f"{prefix}rd_decay_rate"] = math.nan
        if not prefix:
            row["rd_decay_rate_law"] = (decay_rate_kwinner(network.n_hidden, network.winners, network.epsilon)
                                        if network.epsilon * network.winners < network.n_hidden else math.nan)
    row["mhn_rd_decay_rate_law"] = decay_rate_mhn(_mhn_units(network))
    row["crossover_age"] = crossover_age(kwinner.rd, mhn.rd)
    row["ages_kwinner_better"], row["ages_mhn_better"] = significant_ages(kwinner.dprime, mhn.dprime, alpha)
    return row


def _mhn_units(network: NetworkConfig) -> int:
    """n_h f: the hidden units of the parameter-matched 1-winner MHN (``tbl-methods-memory``)."""
    return int(round(network.n_hidden * network.fan_in))


# ------------------------------------------------------------------------------- the chapter's grids
class DesignPoint(NamedTuple):
    """One K-winner design of {ref}`ch-design-space` at one cue: the paper's comparison at ``scale`` times
    its size (:func:`scaled_setting`) with ``winners`` (k at the paper's size; the network has
    ``winners * scale``), ``epsilon`` and ``fan_in`` (connections matched to the 1-winner MHN)."""

    scale: float
    winners: int
    epsilon: float
    fan_in: float
    cue: float

    def setting(self):
        """``(kwinner, mhn, n_mem)`` of this design (:func:`scaled_setting`)."""
        return scaled_setting(self.scale, self.winners, self.epsilon, self.fan_in)

    def windows(self) -> dict:
        """:data:`DESIGN_WINDOWS` at this design's scale (:func:`scaled_window`)."""
        return {name: scaled_window(w, self.scale) for name, w in DESIGN_WINDOWS.items()}


@dataclass(frozen=True)
class DesignGrid:
    """The designs {ref}`ch-design-space` runs (``fig-design-space-kepsilon``, ``fig-design-space-fanin``,
    ``fig-design-space-scaling``, ``fig-design-space-paper-size``).

    ``scale``: network size of the (k, eps) and fan-in grids relative to the paper's; ``winners`` (k at the
    paper's size) x ``epsilons`` at f = 0.05, and ``fan_ins`` at the paper's k and eps; ``scales``: sizes of
    the paper's point for the scaling question; ``variant_scale``: the size at which the paper's point and
    the authors' variants k = 65 and eps = 0.35 run, at ``variant_cues`` (the paper's point runs at every cue
    for the scaling series anyway); ``samples`` x ``runs`` trials per design and cue (the d' design),
    ``seed``, ``cues``.
    """

    scale: float
    winners: tuple
    epsilons: tuple
    fan_ins: tuple
    scales: tuple
    variant_scale: float
    samples: int
    runs: int
    seed: int
    cues: tuple = (1.0, 0.5)
    variant_cues: tuple = (1.0, 0.5)

    @property
    def trials(self) -> int:
        return self.samples * self.runs

    def families(self) -> dict:
        """The designs of each question, as ``(scale, winners, epsilon, fan_in)`` tuples: ``"k-epsilon"``,
        ``"fan-in"``, ``"scaling"`` and ``"variants"`` (the paper's point first). A design may belong to
        several."""
        k0, e0, f0 = PAPER_POINT["winners"], PAPER_POINT["epsilon"], PAPER_POINT["fan_in"]
        v = self.variant_scale
        return {"k-epsilon": [(self.scale, k, e, f0) for k in self.winners for e in self.epsilons],
                "fan-in": [(self.scale, k0, e0, f) for f in self.fan_ins],
                "scaling": [(s, k0, e0, f0) for s in self.scales],
                "variants": [(v, k0, e0, f0), (v, 65, e0, f0), (v, k0, 0.35, f0)]}

    def points(self) -> list[DesignPoint]:
        """Every design once, for each of its cues, in the order of :meth:`families`. Sizes are checked
        (:func:`scaled_setting`)."""
        families = self.families()
        variants = families.pop("variants")
        unique = list(dict.fromkeys(d for family in families.values() for d in family))
        points = [DesignPoint(*d, cue) for cue in self.cues for d in unique]
        points += [DesignPoint(*d, cue) for cue in self.variant_cues for d in variants if d not in unique]
        points = list(dict.fromkeys(points))
        for point in points:
            point.setting()
        return points

    def select(self, table, family: str):
        """The rows of :func:`design_table` that belong to ``family`` (a key of :meth:`families`), at the cues
        it runs at."""
        designs = self.families().get(family)
        if designs is None:
            raise ConfigError(f"family={family!r} is not allowed: choose one of {', '.join(self.families())}")
        keys = list(zip(table.scale, table.winners, table.epsilon, table.fan_in))
        cues = self.variant_cues if family == "variants" else self.cues
        return table[np.array([key in set(designs) for key in keys], dtype=bool) & table.cue.isin(cues).to_numpy()]


def choose_grid(grids: dict, name) -> DesignGrid:
    """The grid named ``name`` ("book", the default for None, or "full") of a scale's ``design_space``
    (``fig-design-space-kepsilon``)."""
    name = "book" if name is None else name
    if name not in grids:
        raise ConfigError(f"grid={name!r} is not allowed: choose one of {', '.join(map(repr, grids))}")
    return grids[name]


class Front(NamedTuple):
    """The newest-vs-oldest trade-off of a set of designs at one cue (``fig-design-space-front``).

    ``young``, ``old``: ``(points, samples)`` per-sample window d'; ``on_front``: boolean ``(points,)``,
    not dominated in the sample means (:func:`pareto_front`); ``dominators``: boolean ``(points,)``, the
    designs that significantly dominate the reference (:func:`dominating_points`); ``reference``: its index.
    """

    young: np.ndarray
    old: np.ndarray
    on_front: np.ndarray
    dominators: np.ndarray
    reference: int


def front(results: dict, points: list, reference, alpha: float = 0.05) -> Front:
    """The :class:`Front` of ``points`` (keys of ``results``, one cue) with ``reference`` (one of them, e.g.
    the paper's point) tested for significant domination (``fig-design-space-front``)."""
    if reference not in points:
        raise ConfigError(f"reference={reference!r} must be one of the points")
    young = np.array([window_values(results[p][0].dprime, p.windows()["young"]) for p in points])
    old = np.array([window_values(results[p][0].dprime, p.windows()["old"]) for p in points])
    index = points.index(reference)
    return Front(young, old, pareto_front(young.mean(axis=1), old.mean(axis=1)),
                 dominating_points(young, old, index, alpha), index)


def design_table(results: dict, n_boot: int = 1000, seed: int = 0):
    """The chapter's table (``tbl-design-space-row``): one row per :class:`DesignPoint`, from ``results``
    ``{point: (kwinner RunSummary, mhn RunSummary)}`` (paired: the same trials).

    Columns: the design (``scale``, ``winners`` at the paper's size, ``k`` in the network, ``epsilon``,
    ``fan_in``, ``cue``, ``n_hidden``, ``mhn_hidden``, ``eps_k_f``); per window W of young/middle/old
    (scaled): ``W`` (K-winner d'), ``W_mhn``, ``W_diff`` with ``W_low``/``W_high`` (95% paired t interval
    over samples) and ``W_p``; ``crossover`` with ``crossover_low``/``crossover_high`` (paired
    bootstrap; A + 1 means "not within the ages run") and ``crossover_per_nh`` (in units of the MHN's
    n_h); ``law``, ``law_low``, ``law_high`` (:func:`law_ratio`); ``kwinner_better``/``mhn_better`` (ages with
    the authors' markers).
    """
    import pandas as pd

    rows = []
    for i, (point, (kw, mhn)) in enumerate(results.items()):
        net, mhn_net, _ = point.setting()
        row = {"scale": point.scale, "winners": point.winners, "k": net.winners, "epsilon": point.epsilon,
               "fan_in": point.fan_in, "cue": point.cue, "n_hidden": net.n_hidden, "mhn_hidden": mhn_net.n_hidden,
               "eps_k_f": point.epsilon * point.winners * point.fan_in, "ages": kw.rd.shape[1]}
        for name, window in point.windows().items():
            a, b = window_values(kw.dprime, window), window_values(mhn.dprime, window)
            diff = paired_difference(a, b)
            row.update({name: float(a.mean()), f"{name}_mhn": float(b.mean()), f"{name}_diff": diff.value,
                        f"{name}_low": diff.low, f"{name}_high": diff.high, f"{name}_p": diff.p})
        cross = crossover_interval(kw.rd, mhn.rd, n_boot=n_boot, seed=seed + i)
        row.update(crossover=cross.value, crossover_low=cross.low, crossover_high=cross.high,
                   crossover_per_nh=cross.value / mhn_net.n_hidden)
        law = law_ratio(kw.rd, net, n_boot=max(100, n_boot // 5), seed=seed + i)
        row.update(law=law.value, law_low=law.low, law_high=law.high)
        row["kwinner_better"], row["mhn_better"] = significant_ages(kw.dprime, mhn.dprime)
        rows.append(row)
    return pd.DataFrame(rows)
