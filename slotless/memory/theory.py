"""Exact and approximate formulas behind the book's formal results for memory.

Chapter: ``book/theory/memory_results.md`` (Reconstructed Theorem 1, Reconstructed
Proposition 2, Reconstructed Remark 3 and the book's own K-winner forgetting result).
Every statement here is **our reconstruction** (tag R); the paper's wording is
not available. The analytic 1-winner curve of the authors' code (``eq-retention-rdth``, tag C) is
:func:`pb_approx` + :func:`rd_theory`.

Notation (``sec-methods-notation``): ``n_input`` = n_i, ``n_hidden`` = n_h, ``active`` = s,
``cue_fraction`` = c, m = floor(c s) cue bits, ``winners`` = k, ``epsilon`` = the
learning rate. The probability level of Theorem 1(ii) is called ``delta`` here, to keep
it apart from the learning rate.

The formulas are pure: they take numbers (ages may be arrays) and return float64
numbers or arrays. The only randomness, in :func:`mhn_dprime_finite_T`, comes from an
explicit seed through :mod:`slotless.rng`.

The second half of the module holds the **checks** of the chapter: each computes both sides of one
result on the engine's simulations (a simulated mean with its standard error, and the formula) and
returns them, so that the chapter asserts their agreement with a stated tolerance. Randomness there
(bootstrap resamples, the readable networks of Remark 3) comes from a generator the caller passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from ..checks import ConfigError, check_float, check_int
from ..rng import trial_generator
from .metrics import ExpFit, exp_fit, exp_fit_excluding_floored, paired_dprime, sdt_dprime
from .network import init_network, learn
from .patterns import cue_size, random_patterns
from .protocol import run_trials

__all__ = [
    "survival",
    "hypergeom_pmf",
    "overlap_pmf",
    "max_overlap_pmf",
    "BaselineDistribution",
    "baseline_distribution",
    "pb_exact",
    "pb_approx",
    "pb_gauss_limit",
    "expected_max_normal",
    "baseline_var",
    "rd_theory",
    "theta_hoeffding",
    "theta_gauss",
    "mhn_dz",
    "mhn_dprime_finite_T",
    "mhn_sdt",
    "kwinner_trace",
    "kwinner_rd_theory",
    "decay_rate_mhn",
    "all_survive_horizon",
    "decay_rate_kwinner",
    "pb_approx_error",
    "pb_error_scaling",
    "MemoryArrays",
    "memory_arrays",
    "window_mean_se",
    "Comparison",
    "WindowComparison",
    "is_survival_indicator",
    "survival_windows",
    "SurvivorRetrieval",
    "survivor_retrieval",
    "OverlapThresholds",
    "overlap_thresholds",
    "rd_windows",
    "DecayRate",
    "decay_rate_with_se",
    "lost_memory_residual",
    "BaselineCheck",
    "pseudo_baseline_check",
    "baseline_variance_check",
    "DzCheck",
    "pooled_dz_check",
    "FiniteTCheck",
    "finite_T_check",
    "SDTCheck",
    "sdt_check",
    "engine_mismatches",
    "SlotCheck",
    "slot_overwrite_check",
    "AverageCheck",
    "exponential_average_check",
    "trace_horizon",
    "trace_windows",
    "ForgettingLawCheck",
    "forgetting_law_check",
]


# --------------------------------------------------------------------------- helpers
def _check_sizes(n_input, active, n_hidden, cue_fraction):
    n_input = check_int("n_input", n_input, lo=2)
    active = check_int("active", active, lo=1, hi=n_input - 1)
    n_hidden = check_int("n_hidden", n_hidden, lo=1)
    cue_fraction = check_float("cue_fraction", cue_fraction, 0.0, 1.0, lo_open=True)
    m = cue_size(cue_fraction, active)
    return n_input, active, n_hidden, cue_fraction, m


def _check_age(age) -> np.ndarray:
    """Ages as an int64 array (scalar in, 0-d array out); every age must be >= 1."""
    arr = np.asarray(age)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise ConfigError(f"age={age!r} must be integer(s) >= 1")
    if arr.size and (not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr))):
        raise ConfigError(f"age={age!r} must be integer(s) >= 1")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 1:
        raise ConfigError(f"age={int(arr.min())} is out of range: allowed >= 1 (age 1 = newest memory)")
    return arr


def hypergeom_pmf(population: int, successes: int, draws: int) -> np.ndarray:
    """pmf of Hypergeom(population, successes, draws) at 0..draws, shape (draws+1,).

    Computed from log-gamma functions in O(draws) and renormalised (scipy's per-point
    evaluation is much slower at n_i = 10^5). Values outside the support are 0.
    Book: {prf:ref}`prop-pseudo-baseline` ({ref}`ch-memory-results`).
    """
    population = check_int("population", population, lo=1)
    successes = check_int("successes", successes, lo=0, hi=population)
    draws = check_int("draws", draws, lo=0, hi=population)
    k = np.arange(draws + 1)
    ok = (k <= successes) & (draws - k <= population - successes)
    kk = k[ok]
    g = special.gammaln
    logp = (g(successes + 1) - g(kk + 1) - g(successes - kk + 1)
            + g(population - successes + 1) - g(draws - kk + 1) - g(population - successes - draws + kk + 1)
            - g(population + 1) + g(draws + 1) + g(population - draws + 1))
    pmf = np.zeros(draws + 1)
    pmf[ok] = np.exp(logp - logp.max())
    return pmf / pmf.sum()


# --------------------------------------------------------------------------- Theorem 1 (i)
def survival(age, n_hidden: int) -> np.ndarray:
    """pi_a = (1 - 1/n_h)^(a-1): probability that the age-``a`` memory of a 1-winner MHN
    is still stored, if each later memory overwrites a uniformly random unit
    (Reconstructed Theorem 1 (i)). ``age``: int or array (any shape) of ages >= 1;
    returns float64 of the same shape. Book: {prf:ref}`thm-mhn-retention` ({ref}`ch-memory-results`)."""
    a = _check_age(age)
    n_hidden = check_int("n_hidden", n_hidden, lo=1)
    if n_hidden == 1:
        return np.where(a == 1, 1.0, 0.0)
    return np.exp((a - 1) * math.log1p(-1.0 / n_hidden))


def decay_rate_mhn(n_hidden: int) -> float:
    """lambda_MHN = -ln(1 - 1/n_h), the decay rate of pi_a and of the MHN's RD (≈ 1/n_h).
    Book: {prf:ref}`thm-mhn-retention` ({ref}`ch-memory-results`).
    """
    n_hidden = check_int("n_hidden", n_hidden, lo=2)
    return -math.log1p(-1.0 / n_hidden)


def all_survive_horizon(n_hidden: int, runs: int, level: float = 0.01) -> int:
    """The oldest age ``a`` at which all ``runs`` memories of a sample of the 1-winner MHN still survive
    with probability at least ``level``: the largest ``a`` with ``pi_a^T >= level``, i.e.
    ``1 + floor(ln(level) / (T ln(1 - 1/n_h)))``. Only while some samples keep every memory is the
    authors' d' of the MHN inflated by a tiny paired SD ({prf:ref}`cor-mhn-dprime` (2)); the claim that
    the MHN's d' is higher only for its youngest memories ({ref}`sec-retention-claims`) uses this age as
    the limit. Book: {prf:ref}`thm-mhn-retention`."""
    n_hidden = check_int("n_hidden", n_hidden, lo=2)
    runs = check_int("runs", runs, lo=1)
    level = check_float("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    return 1 + math.floor(math.log(level) / (runs * math.log1p(-1.0 / n_hidden)))


# --------------------------------------------------------------------------- Proposition 2
def overlap_pmf(n_input: int, active: int, cue_fraction: float) -> np.ndarray:
    """pmf of O ~ Hypergeom(n_i, s, m): the overlap of an m-bit cue with an independent
    s-of-n_i pattern. Returns shape (m+1,), index = overlap 0..m.
    Book: {prf:ref}`prop-pseudo-baseline` ({ref}`ch-memory-results`).
    """
    n_input, active, _, cue_fraction, m = _check_sizes(n_input, active, 1, cue_fraction)
    return hypergeom_pmf(n_input, active, m)


def max_overlap_pmf(n_input: int, active: int, n_hidden: int, cue_fraction: float) -> np.ndarray:
    """pmf of M = max of n_h i.i.d. Hypergeom(n_i, s, m) overlaps, from
    P(M <= t) = F_HG(t)^n_h (Reconstructed Proposition 2). Shape (m+1,), index = 0..m.
    Book: {prf:ref}`prop-pseudo-baseline` ({ref}`ch-memory-results`).
    """
    n_input, active, n_hidden, cue_fraction, m = _check_sizes(n_input, active, n_hidden, cue_fraction)
    # cumulative sum of the pmf: O(m), unlike scipy's cdf, which is O(m) per point
    cdf = np.clip(np.cumsum(hypergeom_pmf(n_input, active, m)), 0.0, 1.0)
    cdf[-1] = 1.0
    with np.errstate(divide="ignore"):
        cdf_max = np.exp(n_hidden * np.log(cdf))
    pmf = np.diff(np.concatenate([[0.0], cdf_max]))
    return np.clip(pmf, 0.0, None)


@dataclass(frozen=True)
class BaselineDistribution:
    """The exact distribution of the pseudo-pattern (chance) accuracy of a 1-winner MHN.

    ``values``: (s+1,) accuracies j/s, j = 0..s; ``pmf``: (s+1,) their probabilities;
    ``mean`` = p_b; ``var`` = sigma_B^2; ``mean_max``: E[M]; ``m``: cue bits.
    Book: {prf:ref}`prop-pseudo-baseline` ({ref}`ch-memory-results`).
    """

    values: np.ndarray
    pmf: np.ndarray
    mean: float
    var: float
    mean_max: float
    m: int

    def sf(self, theta: float) -> float:
        """P(acc >= theta) (a 1e-12 tolerance treats grid points as attained)."""
        return float(self.pmf[self.values >= theta - 1e-12].sum())

    def quantile(self, q: float) -> float:
        """Smallest grid accuracy whose CDF is >= q."""
        cdf = np.cumsum(self.pmf)
        return float(self.values[min(np.searchsorted(cdf, q - 1e-12), len(cdf) - 1)])

    def sample(self, rng: np.random.Generator, size) -> np.ndarray:
        """Draw accuracies from this distribution."""
        return rng.choice(self.values, size=size, p=self.pmf / self.pmf.sum())


def baseline_distribution(n_input: int, active: int, n_hidden: int, cue_fraction: float) -> BaselineDistribution:
    """Exact distribution of the accuracy of a never-stored probe (Reconstructed Proposition 2).

    The cue keeps m of the probe's s bits. The winner is a unit whose stored pattern overlaps
    the cue in M = max_j O_j bits. Its other s - M ones are uniform over the n_i - m non-cue
    positions (selection only looked at the cue), and the probe's s - m uncued ones are also
    uniform there, independently, so their overlap is R | M ~ Hypergeom(n_i - m, s - m, s - M).
    The accuracy is (M + R)/s; hence
    p_b = (1/s) E[M + (s - M)(s - m)/(n_i - m)].
    Book: {prf:ref}`prop-pseudo-baseline` ({ref}`ch-memory-results`).
    """
    n_input, active, n_hidden, cue_fraction, m = _check_sizes(n_input, active, n_hidden, cue_fraction)
    pm = max_overlap_pmf(n_input, active, n_hidden, cue_fraction)
    pmf = np.zeros(active + 1)
    rest = n_input - m
    for M in range(m + 1):
        if pm[M] == 0.0:
            continue
        draws = active - M
        if draws == 0 or active - m == 0:
            pmf[M] += pm[M]
            continue
        r = np.arange(draws + 1)
        pr = hypergeom_pmf(rest, active - m, draws)
        pmf[M + r] += pm[M] * pr
    pmf /= pmf.sum()
    values = np.arange(active + 1) / active
    mean = float(values @ pmf)
    var = float(((values - mean) ** 2) @ pmf)
    mean_max = float(np.arange(m + 1) @ pm)
    return BaselineDistribution(values, pmf, mean, var, mean_max, m)


def pb_exact(n_input: int, active: int, n_hidden: int, cue_fraction: float) -> float:
    """Exact mean pseudo accuracy p_b = (1/s) E[M + (s-M)(s-m)/(n_i-m)] (Reconstructed
    Proposition 2), computed from the exact pmf of M. Float.
    Book: {prf:ref}`prop-pseudo-baseline` ({ref}`ch-memory-results`).
    """
    n_input, active, n_hidden, cue_fraction, m = _check_sizes(n_input, active, n_hidden, cue_fraction)
    pm = max_overlap_pmf(n_input, active, n_hidden, cue_fraction)
    M = np.arange(m + 1)
    return float(pm @ (M + (active - M) * (active - m) / (n_input - m)) / active)


def baseline_var(n_input: int, active: int, n_hidden: int, cue_fraction: float) -> float:
    """sigma_B^2, the variance of the pseudo accuracy (needed for d'). Float.
    Book: {prf:ref}`cor-mhn-dprime` ({ref}`ch-memory-results`).
    """
    return baseline_distribution(n_input, active, n_hidden, cue_fraction).var


def pb_approx(n_input: int, active: int, n_hidden: int, cue_fraction: float) -> float:
    """The authors' analytic baseline (``eq-retention-rdth``, tag C):
    p_b ≈ s/n_i + sqrt(2c/n_i (1 - s/n_i) ln n_h).

    It is the Gaussian extreme-value approximation E max ≈ mu + sigma sqrt(2 ln n_h) of
    Proposition 2 (binomial variance, no finite-population correction; mean term s/n_i).
    Float."""
    n_input = check_int("n_input", n_input, lo=2)
    active = check_int("active", active, lo=1, hi=n_input - 1)
    n_hidden = check_int("n_hidden", n_hidden, lo=1)
    c = check_float("cue_fraction", cue_fraction, 0.0, 1.0, lo_open=True)
    p = active / n_input
    return p + math.sqrt(2.0 * c / n_input * (1.0 - p) * math.log(n_hidden))


def rd_theory(age, n_hidden: int, pb: float) -> np.ndarray:
    """E[RD(a)] ≈ pi_a (1 - p_b) (Reconstructed Theorem 1 (iii)); shape of ``age``.
    Book: {prf:ref}`thm-mhn-retention` ({ref}`ch-memory-results`).
    """
    pb = check_float("pb", pb, 0.0, 1.0)
    return survival(age, n_hidden) * (1.0 - pb)


# --------------------------------------------------------------------------- Theorem 1 (ii)
def theta_hoeffding(n_input: int, active: int, n_hidden: int, cue_fraction: float, delta: float) -> float:
    """theta_delta = m s/n_i + sqrt(m/2 ln(n_h/delta)): with probability >= 1 - delta no
    independent stored pattern overlaps the cue in more than theta_delta bits
    (Hoeffding for sampling without replacement + union bound; Reconstructed Theorem 1 (ii)).
    Book: {prf:ref}`thm-mhn-retention` ({ref}`ch-memory-results`).
    """
    n_input, active, n_hidden, _, m = _check_sizes(n_input, active, n_hidden, cue_fraction)
    delta = check_float("delta", delta, 0.0, 1.0, lo_open=True, hi_open=True)
    return m * active / n_input + math.sqrt(m / 2.0 * math.log(n_hidden / delta))


def theta_gauss(n_input: int, active: int, n_hidden: int, cue_fraction: float) -> float:
    """Gaussian heuristic for E max_j O_j: m s/n_i + sqrt(2 m (s/n_i)(1 - s/n_i) ln n_h).
    Book: {prf:ref}`thm-mhn-retention` ({ref}`ch-memory-results`).
    """
    n_input, active, n_hidden, _, m = _check_sizes(n_input, active, n_hidden, cue_fraction)
    p = active / n_input
    return m * p + math.sqrt(2.0 * m * p * (1.0 - p) * math.log(n_hidden))


# --------------------------------------------------------------------------- d' corollaries
def mhn_dz(age, n_input: int, active: int, n_hidden: int, cue_fraction: float) -> np.ndarray:
    """Population paired d_z of the 1-winner MHN at age a (corollary of Proposition 2):

    d_z = pi_a (1 - mu_B) / sqrt(pi_a (1 - pi_a)(1 - mu_B)^2 + (2 - pi_a) sigma_B^2),

    for real accuracy 1 (survivor) or a baseline draw (lost), paired with an independent
    baseline draw. Shape of ``age``. Book: {prf:ref}`cor-mhn-dprime` ({ref}`ch-memory-results`)."""
    base = baseline_distribution(n_input, active, n_hidden, cue_fraction)
    pi = survival(age, n_hidden)
    mu, var = base.mean, base.var
    num = pi * (1.0 - mu)
    den = np.sqrt(pi * (1.0 - pi) * (1.0 - mu) ** 2 + (2.0 - pi) * var)
    return num / den


def mhn_dprime_finite_T(
    age,
    n_input: int,
    active: int,
    n_hidden: int,
    cue_fraction: float,
    runs: int = 20,
    n_mc: int = 4000,
    seed: int = 0,
):
    """Mean and SD of the authors' paired d' estimator (T = ``runs`` runs, ddof 0) for the
    1-winner MHN, by Monte Carlo over the same model as :func:`mhn_dz`: in each run the
    memory survives with probability pi_a (accuracy 1), otherwise its accuracy is a baseline
    draw; the paired pseudo accuracy is an independent baseline draw. So the estimate is a
    mixture over K ~ Bin(T, 1 - pi_a) lost memories.

    ``age``: 1-d array of ages. Returns ``(mean, sd, degenerate)``, each shape (len(age),):
    mean and SD of the estimator over ``n_mc`` simulated samples, and the fraction of samples
    whose paired SD is 0 (estimator undefined; excluded from mean and SD).
    Book: {prf:ref}`cor-mhn-dprime` ({ref}`ch-memory-results`).
    """
    a = np.atleast_1d(_check_age(age))
    runs = check_int("runs", runs, lo=2)
    n_mc = check_int("n_mc", n_mc, lo=2)
    seed = check_int("seed", seed, lo=0)
    base = baseline_distribution(n_input, active, n_hidden, cue_fraction)
    pi = survival(a, n_hidden)
    mean = np.empty(a.shape)
    sd = np.empty(a.shape)
    degenerate = np.empty(a.shape)
    for i, (age_i, pi_i) in enumerate(zip(a, pi)):
        rng = trial_generator(seed, int(age_i), "theory/mhn_dprime_finite_T")
        alive = rng.random((n_mc, runs)) < pi_i
        real = np.where(alive, 1.0, base.sample(rng, (n_mc, runs)))
        diff = real - base.sample(rng, (n_mc, runs))
        s0 = diff.std(axis=1)
        ok = s0 > 1e-12
        d = diff.mean(axis=1)[ok] / s0[ok]
        mean[i] = d.mean() if d.size else np.nan
        sd[i] = d.std(ddof=1) if d.size > 1 else np.nan
        degenerate[i] = 1.0 - ok.mean()
    return mean, sd, degenerate


def mhn_sdt(age, n_input: int, active: int, n_hidden: int, cue_fraction: float, theta: float | None = None):
    """Population yes/no SDT of the 1-winner MHN: "old" iff accuracy >= theta.

    F = P(B >= theta), H = pi_a + (1 - pi_a) F, d'_SDT = z(H) - z(F). ``theta`` defaults to
    the exact baseline's 95% quantile (the smallest grid accuracy with CDF >= 0.95).
    Returns ``(H, F, dprime, theta)``; H and dprime have the shape of ``age``.
    Book: {prf:ref}`cor-mhn-dprime`, ``eq-methods-sdt`` ({ref}`ch-memory-results`).
    """
    base = baseline_distribution(n_input, active, n_hidden, cue_fraction)
    theta = base.quantile(0.95) if theta is None else check_float("theta", theta, 0.0, 1.0)
    F = base.sf(theta)
    pi = survival(age, n_hidden)
    H = pi + (1.0 - pi) * F
    with np.errstate(divide="ignore", invalid="ignore"):
        d = special.ndtri(H) - special.ndtri(F)
    return H, F, d, theta


# --------------------------------------------------------------------------- Remark 3 / K-winner
def kwinner_trace(age, n_hidden: int, winners: int, epsilon: float) -> np.ndarray:
    """Expected trace eps (1 - eps k/n_h)^(a-1) of an age-a memory in one of its winners
    (Reconstructed Remark 3 (b)): the trace eps(1-eps)^B with B ~ Bin(a-1, k/n_h) later
    wins, if each later memory recruits the unit with probability k/n_h independently.
    Shape of ``age``. Book: {prf:ref}`rem-kwinner` ({ref}`ch-memory-results`)."""
    a = _check_age(age)
    n_hidden = check_int("n_hidden", n_hidden, lo=1)
    winners = check_int("winners", winners, lo=1, hi=n_hidden)
    epsilon = check_float("epsilon", epsilon, 0.0, 1.0, lo_open=True)
    q = epsilon * winners / n_hidden
    if q >= 1.0:
        return np.where(a == 1, epsilon, 0.0)
    return epsilon * np.exp((a - 1) * math.log1p(-q))


def decay_rate_kwinner(n_hidden: int, winners: int, epsilon: float) -> float:
    """lambda_K = -ln(1 - eps k/n_h) (≈ eps k/n_h), the decay rate of :func:`kwinner_trace`.
    Book: {prf:ref}`prop-kwinner-forgetting` ({ref}`ch-memory-results`).
    """
    n_hidden = check_int("n_hidden", n_hidden, lo=1)
    winners = check_int("winners", winners, lo=1, hi=n_hidden)
    epsilon = check_float("epsilon", epsilon, 0.0, 1.0, lo_open=True)
    q = epsilon * winners / n_hidden
    if q >= 1.0:
        raise ConfigError(f"epsilon*winners/n_hidden={q:g} must be < 1 for a finite decay rate")
    return -math.log1p(-q)


def kwinner_rd_theory(age, n_hidden: int, winners: int, epsilon: float, rd1: float) -> np.ndarray:
    """The book's first-order K-winner forgetting law (an addition, tag B):

    RD(a) ≈ RD(1) * trace(a)/trace(1) = RD(1) (1 - eps k/n_h)^(a-1),

    i.e. the raw difference is proportional to the memory's mean remaining trace. ``rd1`` is
    the one calibrated constant (the age-1 raw difference). Shape of ``age``.
    Book: {prf:ref}`prop-kwinner-forgetting` ({ref}`ch-memory-results`).
    """
    rd1 = check_float("rd1", rd1, -1.0, 1.0)
    return rd1 * kwinner_trace(age, n_hidden, winners, epsilon) / epsilon


# --------------------------------------------------------------------------- large-n_i limit of Prop 2
def expected_max_normal(n: int) -> float:
    """e_n = E[max of n i.i.d. standard normals], by quadrature of n z phi(z) Phi(z)^(n-1).
    Book: {prf:ref}`prop-pseudo-baseline` ({ref}`ch-memory-results`).
    """
    n = check_int("n", n, lo=1)
    if n == 1:
        return 0.0
    z = np.linspace(-12.0, 12.0, 48001)
    log_dens = math.log(n) + stats.norm.logpdf(z) + (n - 1) * special.log_ndtr(z)
    return float(np.trapezoid(z * np.exp(log_dens), z))


def pb_gauss_limit(n_input: int, active: int, n_hidden: int, cue_fraction: float) -> float:
    """The large-n_i (Gaussian) limit of Proposition 2 at fixed p = s/n_i, c and n_h:

    p_b ≈ p + sqrt(c (1-p)/n_i) * e_{n_h} * (1-p)/sqrt(1 - c p),

    with e_n = :func:`expected_max_normal`. Compared with :func:`pb_approx` it replaces
    sqrt(2 ln n_h) by the exact e_{n_h} and keeps the factor (1-p)/sqrt(1-cp) (finite-population
    variance of the cue overlap, and the uncued term that a larger M takes away). So
    sqrt(n_i) (pb_approx - pb_exact) -> sqrt(c(1-p)) (sqrt(2 ln n_h) - e_{n_h} (1-p)/sqrt(1-cp)).
    Float. Book: {prf:ref}`prop-pseudo-baseline` ({ref}`ch-memory-results`)."""
    n_input, active, n_hidden, c, m = _check_sizes(n_input, active, n_hidden, cue_fraction)
    p = active / n_input
    return p + math.sqrt(c * (1 - p) / n_input) * expected_max_normal(n_hidden) * (1 - p) / math.sqrt(1 - c * p)


# =========================================================================== checks on simulations
# Each function below computes both sides of one result of {ref}`ch-memory-results` (a simulated
# quantity with its standard error, and the formula), so that the chapter can assert their agreement
# with a stated tolerance. They read the arrays of the package's engine (:mod:`slotless.memory.protocol`)
# or run the readable network (:mod:`slotless.memory.network`); none of them simulates on its own
# except where it says so.


@dataclass(frozen=True)
class MemoryArrays:
    """Per-memory arrays of one model at one cue level, age 1 first (``eq-methods-age``).

    ``acc_real``, ``acc_pseudo``: ``(trials, E)`` retrieval accuracy of each memory and of the
    pseudo-pattern paired with it; ``trace``: ``(trials, E)`` the engine's per-memory trace (for the
    1-winner MHN the survival indicator, {prf:ref}`thm-mhn-retention`).
    """

    acc_real: np.ndarray
    acc_pseudo: np.ndarray
    trace: np.ndarray

    @property
    def rd(self) -> np.ndarray:
        """Per-trial raw difference ``acc_real - acc_pseudo`` (``eq-methods-rd``), ``(trials, E)``."""
        return self.acc_real - self.acc_pseudo

    @property
    def trials(self) -> int:
        return self.acc_real.shape[0]

    @property
    def memories(self) -> int:
        return self.acc_real.shape[1]


def memory_arrays(*results, n_eval: int) -> MemoryArrays:
    """The arrays of one or more :class:`~slotless.memory.protocol.TrialResult` (independent trials of the
    same experiment, pooled along the trial axis), cut to the ``n_eval`` evaluated memories (the extra
    paper-time pseudo-pattern is dropped). Used by every check of {ref}`ch-memory-results`."""
    n_eval = check_int("n_eval", n_eval, lo=1)
    if not results:
        raise ConfigError("memory_arrays needs at least one TrialResult")
    return MemoryArrays(*(np.concatenate([getattr(r, k) for r in results])[:, :n_eval]
                          for k in ("acc_real", "acc_pseudo", "trace")))


def window_mean_se(x, lo: int, hi: int) -> tuple[float, float]:
    """Mean over trials of the per-trial mean over ages ``lo..hi`` of ``x (trials, E)``, and its standard
    error over trials (ddof 1): the window statistic of every check of {ref}`ch-memory-results`."""
    x = np.asarray(x)
    lo = check_int("lo", lo, lo=1)
    hi = check_int("hi", hi, lo=lo, hi=x.shape[1])
    per_trial = x[:, lo - 1:hi].mean(axis=1)
    return per_trial.mean(), per_trial.std(ddof=1) / np.sqrt(per_trial.size)


@dataclass(frozen=True)
class Comparison:
    """A simulated mean with its standard error, and the value a formula predicts for it: one assert of
    {ref}`ch-memory-results`."""

    simulated: float
    se: float
    theory: float

    @property
    def ratio(self) -> float:
        return self.simulated / self.theory

    @property
    def z(self) -> float:
        """(simulated - theory) / se."""
        return (self.simulated - self.theory) / self.se

    def within(self, n_se: float, slack: float = 0.0) -> bool:
        """``|simulated - theory| < n_se * se + slack``: the tolerance the chapter asserts."""
        return bool(abs(self.simulated - self.theory) < n_se * self.se + slack)


@dataclass(frozen=True)
class WindowComparison(Comparison):
    """A :class:`Comparison` on the ages ``lo..hi`` (inclusive): means over the window's ages (the window
    tables of {ref}`ch-memory-results`)."""

    lo: int = 1
    hi: int = 1


def _window_checks(x, windows, theory_of_ages) -> list[WindowComparison]:
    rows = []
    for lo, hi in windows:
        mean, se = window_mean_se(x, lo, hi)
        theory = float(np.mean(theory_of_ages(np.arange(lo, hi + 1))))
        rows.append(WindowComparison(mean, se, theory, lo, hi))
    return rows


def is_survival_indicator(trace) -> bool:
    """True iff every entry of a 1-winner MHN's ``trace`` is 0 or 1 (the survival indicator of
    {prf:ref}`thm-mhn-retention`: eps (1 - eps)^later wins with eps = 1)."""
    return set(np.unique(np.asarray(trace)).tolist()) <= {0.0, 1.0}


def survival_windows(trace, n_hidden: int, windows) -> list[WindowComparison]:
    """{prf:ref}`thm-mhn-retention` (i) per age window: the fraction of memories still stored (the mean
    of the survival indicator ``trace (trials, E)``) against the window mean of :func:`survival`."""
    return _window_checks(trace, windows, lambda ages: survival(ages, n_hidden))


@dataclass(frozen=True)
class SurvivorRetrieval:
    """{prf:ref}`thm-mhn-retention` (ii) on simulations: ``survivors`` memories still stored, of which
    ``imperfect`` were not retrieved exactly; ``exact_fail`` = P(some of the n_h - 1 independent
    competitors overlaps all m cue bits), ``hoeffding`` = the bound n_h exp(-2 (m - m s/n_i)^2 / m) (capped
    at 1), and ``allowed`` = the expected count plus 4 Poisson SDs plus one."""

    survivors: int
    imperfect: int
    exact_fail: float
    hoeffding: float
    allowed: float


def survivor_retrieval(arrays: MemoryArrays, n_input: int, active: int, n_hidden: int,
                       cue_fraction: float) -> SurvivorRetrieval:
    """{prf:ref}`thm-mhn-retention` (ii): count the survivors (trace 1) that were not retrieved with
    accuracy exactly 1, against the probability that an independent competitor ties or beats the
    survivor's own drive m (exact, and the Hoeffding bound at theta = m)."""
    n_input, active, n_hidden, cue_fraction, m = _check_sizes(n_input, active, n_hidden, cue_fraction)
    alive = arrays.trace == 1.0
    hoeffding = min(1.0, n_hidden * np.exp(-2 * (m - m * active / n_input) ** 2 / m))
    # P(some of the n_h - 1 independent competitors overlaps all m cue bits): P(O = m) = pmf[m]
    exact_fail = -np.expm1((n_hidden - 1) * np.log1p(-overlap_pmf(n_input, active, cue_fraction)[m]))
    n_alive = int(alive.sum())
    allowed = n_alive * exact_fail + 4 * np.sqrt(n_alive * exact_fail) + 1
    return SurvivorRetrieval(n_alive, int((arrays.acc_real[alive] < 1).sum()), float(exact_fail),
                             float(hoeffding), float(allowed))


@dataclass(frozen=True)
class OverlapThresholds:
    """The thresholds of {prf:ref}`thm-mhn-retention` (ii) against the exact law of the largest competitor
    overlap M: ``m`` cue bits, ``mean_max`` = E[M], ``quantile`` = the exact (1 - delta) quantile of M,
    ``gauss`` and ``hoeffding`` the two thresholds, ``tail_beyond_hoeffding`` = P(M > theta_delta)."""

    m: int
    mean_max: float
    quantile: int
    gauss: float
    hoeffding: float
    tail_beyond_hoeffding: float


def overlap_thresholds(n_input: int, active: int, n_hidden: int, cue_fraction: float,
                       delta: float = 0.05) -> OverlapThresholds:
    """Both sides of {prf:ref}`thm-mhn-retention` (ii): the Hoeffding bound and the Gaussian heuristic
    against the exact distribution of the largest of n_h independent overlaps (:func:`max_overlap_pmf`)."""
    n_input, active, n_hidden, cue_fraction, m = _check_sizes(n_input, active, n_hidden, cue_fraction)
    pm = max_overlap_pmf(n_input, active, n_hidden, cue_fraction)
    quantile = int(np.searchsorted(np.cumsum(pm), 1.0 - delta))
    h = theta_hoeffding(n_input, active, n_hidden, cue_fraction, delta)
    g = theta_gauss(n_input, active, n_hidden, cue_fraction)
    return OverlapThresholds(m, float(np.arange(m + 1) @ pm), quantile, g, h, float(pm[np.arange(m + 1) > h].sum()))


def rd_windows(rd, n_hidden: int, pb: float, windows) -> list[WindowComparison]:
    """{prf:ref}`thm-mhn-retention` (iii) per age window: the simulated raw difference ``rd (trials, E)``
    against the window mean of :func:`rd_theory` ``pi_a (1 - p_b)``."""
    return _window_checks(rd, windows, lambda ages: rd_theory(ages, n_hidden, pb))


@dataclass(frozen=True)
class DecayRate:
    """An exponential fit of the trial-mean raw difference (``eq-methods-expfit``) and the bootstrap
    standard error of its decay rate over trials."""

    fit: ExpFit
    se: float


def decay_rate_with_se(rd, age_range, rng: np.random.Generator, n_boot: int = 200,
                       exclude_floored: bool = False) -> DecayRate:
    """Fit ln RD(a) over ``age_range`` to the trial mean of ``rd (trials, E)`` (``eq-methods-expfit``) and
    estimate the SE of the rate from ``n_boot`` resamples of trials drawn from ``rng`` (which advances).
    The rate is compared with :func:`decay_rate_mhn` ({prf:ref}`thm-mhn-retention` (iii)) and
    :func:`decay_rate_kwinner` ({prf:ref}`prop-kwinner-forgetting`)."""
    rd = np.asarray(rd)
    n_boot = check_int("n_boot", n_boot, lo=2)
    fit_of = exp_fit_excluding_floored if exclude_floored else exp_fit
    fit = fit_of(rd.mean(axis=0), age_range=age_range)
    boot = [fit_of(rd[rng.integers(0, len(rd), len(rd))].mean(axis=0), age_range=age_range).lam
            for _ in range(n_boot)]
    return DecayRate(fit, float(np.std(boot, ddof=1)))


def lost_memory_residual(arrays: MemoryArrays) -> tuple[float, float]:
    """The caveat of {prf:ref}`thm-mhn-retention`: the mean over trials of (mean accuracy of the trial's
    lost memories - mean of its pseudo accuracies), and its SE over trials (trials without a lost
    memory are skipped)."""
    lost = arrays.trace == 0.0
    per_trial = np.array([r[gone].mean() - p.mean() for r, p, gone in zip(arrays.acc_real, arrays.acc_pseudo, lost)
                          if gone.any()])
    return per_trial.mean(), per_trial.std(ddof=1) / np.sqrt(per_trial.size)


@dataclass(frozen=True)
class BaselineCheck(Comparison):
    """{prf:ref}`prop-pseudo-baseline` on simulations: the simulated pseudo mean (SE over trials) against
    the exact p_b (``theory``), with the code's approximation ``approx`` and the Gaussian limit ``limit``."""

    approx: float = 0.0
    limit: float = 0.0


def pseudo_baseline_check(acc_pseudo, n_input: int, active: int, n_hidden: int, cue_fraction: float) -> BaselineCheck:
    """Both sides of {prf:ref}`prop-pseudo-baseline`: the mean pseudo accuracy of ``acc_pseudo (trials, E)``
    (its SE over trials, since a trial's pseudo accuracies share one network) against :func:`pb_exact`,
    :func:`pb_approx` and :func:`pb_gauss_limit`."""
    per_trial = np.asarray(acc_pseudo).mean(axis=1)
    mean, se = per_trial.mean(), per_trial.std(ddof=1) / np.sqrt(per_trial.size)
    return BaselineCheck(mean, se, pb_exact(n_input, active, n_hidden, cue_fraction),
                         pb_approx(n_input, active, n_hidden, cue_fraction),
                         pb_gauss_limit(n_input, active, n_hidden, cue_fraction))


def baseline_variance_check(acc_pseudo, n_input: int, active: int, n_hidden: int, cue_fraction: float) -> Comparison:
    """{prf:ref}`prop-pseudo-baseline`, second moment: the mean over trials of the within-trial variance
    (ddof 1) of ``acc_pseudo (trials, E)``, its SE over trials, against the exact sigma_B^2."""
    per_trial_var = np.asarray(acc_pseudo).var(axis=1, ddof=1)
    return Comparison(per_trial_var.mean(), per_trial_var.std(ddof=1) / np.sqrt(per_trial_var.size),
                      baseline_var(n_input, active, n_hidden, cue_fraction))


def pb_approx_error(n_input: int, active: int, n_hidden_values, cue_fraction: float) -> np.ndarray:
    """pb_approx - pb_exact for each n_h of ``n_hidden_values`` ({prf:ref}`prop-pseudo-baseline`), shape
    ``(len(n_hidden_values),)``."""
    return np.array([pb_approx(n_input, active, int(n), cue_fraction) - pb_exact(n_input, active, int(n), cue_fraction)
                     for n in n_hidden_values])


def pb_error_scaling(n_inputs, fraction: float = 0.1, n_hidden: int = 100,
                     cue_fraction: float = 1.0) -> tuple[float, np.ndarray]:
    """The large-n_i statement of {prf:ref}`prop-pseudo-baseline`: returns ``(limit, scaled)``, the derived
    constant sqrt(c(1-p)) (sqrt(2 ln n_h) - e_{n_h} (1-p)/sqrt(1-cp)) and, per n_i of ``n_inputs``,
    sqrt(n_i) (pb_approx - pb_exact) at s = ``fraction`` n_i (shape ``(len(n_inputs),)``)."""
    p, c = check_float("fraction", fraction, 0.0, 1.0, lo_open=True, hi_open=True), cue_fraction
    limit = np.sqrt(c * (1 - p)) * (np.sqrt(2 * np.log(n_hidden))
                                    - expected_max_normal(n_hidden) * (1 - p) / np.sqrt(1 - c * p))
    scaled = np.array([np.sqrt(n_i) * (pb_approx(n_i, int(round(p * n_i)), n_hidden, c)
                                       - pb_exact(n_i, int(round(p * n_i)), n_hidden, c)) for n_i in n_inputs])
    return float(limit), scaled


@dataclass(frozen=True)
class DzCheck:
    """{prf:ref}`cor-mhn-dprime` (1) at ``ages``: the paired d_z of the pooled runs (ddof 0), its bootstrap
    SE over runs, the population formula :func:`mhn_dz`, and ``checkable``: the ages where the pooled runs
    hold enough lost memories for the comparison (age 1, or at least ``min_lost`` expected)."""

    ages: np.ndarray
    pooled: np.ndarray
    se: np.ndarray
    population: np.ndarray
    checkable: np.ndarray


def pooled_dz_check(arrays: MemoryArrays, ages, n_input: int, active: int, n_hidden: int, cue_fraction: float,
                    rng: np.random.Generator, n_boot: int = 300, min_lost: float = 20) -> DzCheck:
    """Both sides of {prf:ref}`cor-mhn-dprime` (1): the d_z of all runs pooled, with a bootstrap SE from
    ``n_boot`` resamples of runs drawn from ``rng`` (which advances), against the population d_z."""
    ages = np.atleast_1d(_check_age(ages))
    d = arrays.rd[:, ages - 1]
    pooled = d.mean(axis=0) / d.std(axis=0)
    boot = np.array([(b.mean(axis=0) / b.std(axis=0)) for b in
                     (d[rng.integers(0, len(d), len(d))] for _ in range(check_int("n_boot", n_boot, lo=2)))])
    checkable = (ages == 1) | (len(d) * (1 - survival(ages, n_hidden)) >= min_lost)
    return DzCheck(ages, pooled, boot.std(axis=0, ddof=1), mhn_dz(ages, n_input, active, n_hidden, cue_fraction),
                   checkable)


@dataclass(frozen=True)
class FiniteTCheck:
    """{prf:ref}`cor-mhn-dprime` (2) at ``ages``: the authors' paired d' of each sample of T runs
    ``dprime (n_samples, len(ages))``; the mean and SD of the finite-T mixture estimator; ``se`` = SD /
    sqrt(n_samples), the SE of the mean over samples; ``population`` = :func:`mhn_dz`."""

    ages: np.ndarray
    dprime: np.ndarray
    mixture_mean: np.ndarray
    mixture_sd: np.ndarray
    se: np.ndarray
    population: np.ndarray


def finite_T_check(arrays: MemoryArrays, ages, n_input: int, active: int, n_hidden: int, cue_fraction: float,
                   n_samples: int, runs: int, seed: int, n_mc: int = 2000) -> FiniteTCheck:
    """Both sides of {prf:ref}`cor-mhn-dprime` (2): the authors' estimator (``eq-methods-dprime``) on the
    ``n_samples x runs`` d' runs in ``arrays``, against :func:`mhn_dprime_finite_T` (``n_mc`` Monte Carlo
    samples from ``seed``)."""
    ages = np.atleast_1d(_check_age(ages))
    dp = paired_dprime(arrays.acc_real, arrays.acc_pseudo, n_samples=n_samples)[:, ages - 1]
    mean, sd, _ = mhn_dprime_finite_T(ages, n_input, active, n_hidden, cue_fraction, runs=runs, n_mc=n_mc, seed=seed)
    return FiniteTCheck(ages, dp, mean, sd, sd / np.sqrt(n_samples),
                        mhn_dz(ages, n_input, active, n_hidden, cue_fraction))


@dataclass(frozen=True)
class SDTCheck:
    """{prf:ref}`cor-mhn-dprime` (3) on simulations: the criterion ``theta`` (the exact baseline's 95%
    quantile); the raw false-alarm rate (a :class:`Comparison`, SE over trials); the raw hit rate per
    window (:class:`WindowComparison`); and the window mean of the Hautus-corrected d'_SDT
    (``eq-methods-sdt``)."""

    theta: float
    false_alarms: Comparison
    hits: list
    dprime: list


def sdt_check(arrays: MemoryArrays, n_input: int, active: int, n_hidden: int, cue_fraction: float,
              windows) -> SDTCheck:
    """Both sides of {prf:ref}`cor-mhn-dprime` (3): simulated hit and false-alarm rates at the criterion of
    :func:`mhn_sdt` against H = pi_a + (1 - pi_a) F and F = P(B >= theta)."""
    ages = np.arange(1, arrays.memories + 1)
    H_th, F_th, _, theta = mhn_sdt(ages, n_input, active, n_hidden, cue_fraction)
    res = sdt_dprime(arrays.acc_real, arrays.acc_pseudo, threshold=theta)
    fa_trial = (arrays.acc_pseudo >= theta - 1e-12).mean(axis=1)
    false_alarms = Comparison(fa_trial.mean(), fa_trial.std(ddof=1) / np.sqrt(fa_trial.size), F_th)
    hits = (arrays.acc_real >= theta - 1e-12).astype(float)
    rows = _window_checks(hits, windows, lambda a: H_th[a - 1])
    return SDTCheck(theta, false_alarms, rows, [res.dprime[lo - 1:hi].mean() for lo, hi in windows])


def engine_mismatches(network, protocol, trials: int, seed: int, stream: str) -> tuple[tuple, list]:
    """{prf:ref}`rem-kwinner` (a): run the fast compiled engine and the readable NumPy path on the same
    seeds; returns the shape of the per-memory arrays and the names of the arrays that differ (empty
    when the two agree bit for bit)."""
    fast = run_trials(network, protocol, trials, seed, stream=stream)
    ref = run_trials(network, protocol, trials, seed, stream=stream, engine="readable")
    names = ("acc_real", "acc_pseudo", "trace", "hidden_usage")
    return fast.acc_real.shape, [n for n in names if not np.array_equal(getattr(fast, n), getattr(ref, n))]


@dataclass(frozen=True)
class SlotCheck:
    """{prf:ref}`rem-kwinner` (a) step by step: of ``steps`` presentations, how many chose a best-matching
    unit and how many overwrote exactly that unit's row and column with the pattern; whether the final
    weights are binary with W_yx = W_xy^T."""

    steps: int
    best_match: int
    overwritten: int
    transposed: bool
    binary: bool


def slot_overwrite_check(config, n_patterns: int, rng: np.random.Generator) -> SlotCheck:
    """Both sides of {prf:ref}`rem-kwinner` (a): step the readable network (float64) of a 1-winner
    ``config`` through ``n_patterns`` random patterns drawn from ``rng`` and compare each step with the
    slot model (one best-matching unit overwritten by the pattern)."""
    net = init_network(config, rng, dtype="float64")
    xs = random_patterns(n_patterns, config.n_input, config.active, rng)
    best = overwritten = 0
    for x in xs:
        overlap_before = net.w_xy @ x
        (u,) = learn(net, x)
        best += int(overlap_before[u] == overlap_before.max())
        overwritten += int(np.array_equal(net.w_xy[u], x) and np.array_equal(net.w_yx[:, u], x))
    return SlotCheck(len(xs), best, overwritten, bool(np.array_equal(net.w_xy, net.w_yx.T)),
                     set(np.unique(net.w_xy).tolist()) <= {0.0, 1.0})


@dataclass(frozen=True)
class AverageCheck:
    """{prf:ref}`rem-kwinner` (b)/(c) on one network: the max error of the symmetry identity, the max error
    of the exponential-average formula, and whether every absent connection is still exactly 0."""

    symmetry_error: float
    average_error: float
    absent_zero: bool


def exponential_average_check(config, n_patterns: int, rng: np.random.Generator) -> AverageCheck:
    """Both sides of {prf:ref}`rem-kwinner` (b) and (c): learn ``n_patterns`` random patterns (from ``rng``)
    with the readable network in float64, keep every unit's wins, and rebuild W_xy from the exponential
    average and W_xy - W_yx^T from the symmetry identity."""
    net = init_network(config, rng, dtype="float64")
    w0_xy, w0_yx = net.w_xy.copy(), net.w_yx.copy()
    xs = random_patterns(n_patterns, config.n_input, config.active, rng)
    won = [learn(net, x) for x in xs]
    eps, m_u = config.epsilon, net.wins
    expo = (1 - eps) ** m_u[:, None] * w0_xy
    for u in range(config.n_hidden):
        times = [t for t, w in enumerate(won) if u in w]
        for nth, t in enumerate(times, start=1):
            expo[u] += eps * (1 - eps) ** (len(times) - nth) * xs[t] * net.mask[u]
    err_sym = np.abs((net.w_xy - net.w_yx.T) - (1 - eps) ** m_u[:, None] * (w0_xy - w0_yx.T)).max()
    absent = bool(np.all(net.w_xy[~net.mask] == 0) and np.all(net.w_yx[~net.mask.T] == 0))
    return AverageCheck(float(err_sym), float(np.abs(net.w_xy - expo).max()), absent)


def trace_horizon(n_hidden: int, winners: int, epsilon: float) -> float:
    """n_h / (eps k): the ages up to which {prf:ref}`rem-kwinner` (b) is stated as accurate."""
    return n_hidden / (epsilon * winners)


def trace_windows(trace, n_hidden: int, winners: int, epsilon: float, windows) -> list[WindowComparison]:
    """{prf:ref}`rem-kwinner` (b) per age window: the engine's mean trace of ``trace (trials, E)`` against
    the window mean of :func:`kwinner_trace`."""
    return _window_checks(trace, windows, lambda ages: kwinner_trace(ages, n_hidden, winners, epsilon))


@dataclass(frozen=True)
class ForgettingLawCheck:
    """{prf:ref}`prop-kwinner-forgetting` on simulations: ``rd1`` = the trial-mean RD at age 1; ``decay`` =
    the fitted decay rate (floored points dropped) with its bootstrap SE; ``law_rate`` =
    :func:`decay_rate_kwinner`; ``windows``: the simulated RD per window against the law; ``via_trace``:
    per window, RD(1) times the measured mean trace / eps (assumption (A1) with the measured trace)."""

    rd1: float
    decay: DecayRate
    law_rate: float
    windows: list
    via_trace: list


def forgetting_law_check(arrays: MemoryArrays, n_hidden: int, winners: int, epsilon: float, fit_ages, windows,
                         rng: np.random.Generator, n_boot: int = 200) -> ForgettingLawCheck:
    """Both sides of {prf:ref}`prop-kwinner-forgetting` for one K-winner setting: the simulated raw
    difference and its fitted decay rate (bootstrap SE from ``rng``, which advances) against
    :func:`kwinner_rd_theory` calibrated at RD(1), and against RD(1) x the measured trace."""
    rd_runs = arrays.rd
    rd = rd_runs.mean(axis=0)
    decay = decay_rate_with_se(rd_runs, fit_ages, rng, n_boot, exclude_floored=True)
    rows = _window_checks(rd_runs, windows, lambda a: kwinner_rd_theory(a, n_hidden, winners, epsilon, rd[0]))
    trace = arrays.trace.mean(axis=0)
    via_trace = [(rd[0] * trace[lo - 1:hi] / epsilon).mean() for lo, hi in windows]
    return ForgettingLawCheck(rd[0], decay, decay_rate_kwinner(n_hidden, winners, epsilon), rows, via_trace)
