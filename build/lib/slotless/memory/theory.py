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

All functions are pure: they take numbers (ages may be arrays) and return float64
numbers or arrays. The only randomness, in :func:`mhn_dprime_finite_T`, comes from an
explicit seed through :mod:`slotless.rng`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from ..checks import ConfigError, check_float, check_int
from ..rng import trial_generator
from .patterns import cue_size

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
    "decay_rate_kwinner",
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
