"""Unit tests of slotless.memory.theory (Reconstructed Theorem 1, Proposition 2, Remark 3).

Statistical checks compare a formula with an independent Monte Carlo that builds the
patterns explicitly (no hypergeometric formula inside) and allow 4 standard errors; the
seeds are fixed, so the tests are deterministic. Each MC is sized so that the effect a
plausible bug would cause (e.g. dropping the cue term of p_b) is many SEs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from slotless.checks import ConfigError
from slotless.memory import theory as th


# --------------------------------------------------------------------------- an independent simulator
def simulate_pseudo_retrieval(n_input, active, n_hidden, cue_fraction, n_samples, seed):
    """Explicit 1-winner MHN retrieval of never-stored probes.

    n_h stored random s-of-n_i patterns, a random probe, a cue of m of its bits, the winner
    = arg-max overlap with uniform tie-breaking, accuracy = |winner pattern ∩ probe| / s.
    Returns (accuracy, max overlap), each shape (n_samples,).
    """
    rng = np.random.default_rng(seed)
    m = int(math.floor(cue_fraction * active + 1e-9))
    acc = np.empty(n_samples)
    best = np.empty(n_samples, dtype=np.int64)
    chunk = 1000
    for start in range(0, n_samples, chunk):
        n = min(chunk, n_samples - start)
        # (n, n_h + 1, n_i) boolean patterns: row 0 is the probe, rows 1.. are stored
        keys = rng.random((n, n_hidden + 1, n_input), dtype=np.float32)
        idx = np.argpartition(keys, active, axis=2)[:, :, :active]
        pats = np.zeros((n, n_hidden + 1, n_input), dtype=bool)
        np.put_along_axis(pats, idx, True, axis=2)
        probe_bits = idx[:, 0, :]  # the probe's s ones, in random order
        cue_bits = probe_bits[:, :m]  # a uniformly random m-subset of them
        stored = pats[:, 1:, :]
        overlap = np.take_along_axis(stored, cue_bits[:, None, :].repeat(n_hidden, axis=1), axis=2).sum(axis=2)
        top = overlap.max(axis=1)
        # uniform tie-break: random key among the maxima
        tie_keys = np.where(overlap == top[:, None], rng.random(overlap.shape), -1.0)
        winner = tie_keys.argmax(axis=1)
        won = stored[np.arange(n), winner]
        acc[start : start + n] = (won & pats[:, 0, :]).sum(axis=1) / active
        best[start : start + n] = top
    return acc, best


GRID = [
    # (n_input, active, n_hidden, cue_fraction)
    (200, 20, 20, 0.5),
    (200, 20, 50, 1.0),
    (300, 30, 20, 0.5),
    (100, 10, 5, 0.3),
    (250, 25, 40, 0.6),
]


@pytest.fixture(scope="module", params=GRID, ids=lambda g: "ni{}_s{}_nh{}_c{}".format(*g))
def grid_mc(request):
    cfg = request.param
    acc, best = simulate_pseudo_retrieval(*cfg, n_samples=6000, seed=1234 + sum(cfg[:3]))
    return cfg, acc, best


# --------------------------------------------------------------------------- Proposition 2
def test_pb_exact_matches_monte_carlo_of_the_max_overlap_within_4_se(grid_mc):
    cfg, acc, _ = grid_mc
    se = acc.std(ddof=1) / math.sqrt(acc.size)
    assert abs(acc.mean() - th.pb_exact(*cfg)) < 4 * se, (cfg, acc.mean(), th.pb_exact(*cfg), se)


def test_pb_exact_without_the_uncued_term_is_rejected_by_the_monte_carlo(grid_mc):
    """Sharpness: the broken formula p_b = E[M]/s (cue term dropped) misses by > 8 SE
    wherever c < 1, so the test above would catch that bug."""
    cfg, acc, _ = grid_mc
    if cfg[3] == 1.0:
        pytest.skip("at c = 1 the uncued term is identically 0")
    se = acc.std(ddof=1) / math.sqrt(acc.size)
    broken = th.baseline_distribution(*cfg).mean_max / cfg[1]
    assert abs(acc.mean() - broken) > 8 * se


def test_max_overlap_pmf_matches_monte_carlo_frequencies(grid_mc):
    cfg, _, best = grid_mc
    pm = th.max_overlap_pmf(*cfg)
    counts = np.bincount(best, minlength=pm.size)[: pm.size]
    freq = counts / best.size
    se = np.sqrt(pm * (1 - pm) / best.size) + 1e-3 / best.size
    assert np.all(np.abs(freq - pm) < 4.5 * se), (cfg, freq, pm)
    assert abs(best.mean() - th.baseline_distribution(*cfg).mean_max) < 4 * best.std(ddof=1) / math.sqrt(best.size)


def test_baseline_variance_matches_monte_carlo(grid_mc):
    cfg, acc, _ = grid_mc
    n = acc.size
    var = acc.var(ddof=1)
    # SE of a sample variance: sqrt((mu4 - var^2 (n-3)/(n-1)) / n)
    mu4 = np.mean((acc - acc.mean()) ** 4)
    se = math.sqrt((mu4 - var**2 * (n - 3) / (n - 1)) / n)
    assert abs(var - th.baseline_var(*cfg)) < 4 * se, (cfg, var, th.baseline_var(*cfg), se)


def test_baseline_distribution_is_a_pmf_with_mean_pb_exact():
    base = th.baseline_distribution(1000, 100, 100, 0.5)
    assert base.pmf.shape == (101,) and np.all(base.pmf >= 0)
    assert abs(base.pmf.sum() - 1) < 1e-12
    assert abs(base.mean - th.pb_exact(1000, 100, 100, 0.5)) < 1e-12
    assert base.m == 50


def test_pb_exact_reference_values_at_the_paper_mhn():
    # independent pre-check of prop-pseudo-baseline: exact 0.17638, code formula 0.1910 at (1000, 100, 100, c=1)
    assert abs(th.pb_exact(1000, 100, 100, 1.0) - 0.17638) < 5e-5
    assert abs(th.pb_approx(1000, 100, 100, 1.0) - 0.19105) < 5e-5


def test_pb_with_one_unit_is_chance():
    # one stored pattern, independent of the probe: accuracy mean s/n_i exactly
    assert abs(th.pb_exact(200, 20, 1, 0.5) - 0.1) < 1e-12
    assert abs(th.pb_exact(200, 20, 1, 1.0) - 0.1) < 1e-12


def test_pb_approx_overestimates_at_paper_sizes():
    """prop-pseudo-baseline: the code's formula overestimates p_b by 0.010-0.04 at n_h <= 100 (n_i=1000, s=100)."""
    for c in (1.0, 0.5):
        for nh in (2, 10, 50, 100):
            err = th.pb_approx(1000, 100, nh, c) - th.pb_exact(1000, 100, nh, c)
            assert 0.009 < err < 0.04, (c, nh, err)


@pytest.mark.parametrize("c", [1.0, 0.5])
def test_pb_approx_error_is_order_one_over_sqrt_n_input_with_the_derived_constant(c):
    """At fixed p = s/n_i, c, n_h, sqrt(n_i) (pb_approx - pb_exact) converges to
    sqrt(c(1-p)) (sqrt(2 ln n_h) - e_{n_h}(1-p)/sqrt(1-cp)); the Gaussian-limit formula's own
    error is o(1/sqrt(n_i)). Its distance to the limit shrinks by > 2x per decade of n_i."""
    p, nh = 0.1, 100
    limit = math.sqrt(c * (1 - p)) * (
        math.sqrt(2 * math.log(nh)) - th.expected_max_normal(nh) * (1 - p) / math.sqrt(1 - c * p)
    )
    gaps, gauss_err = [], []
    for n in (1000, 10000, 100000):
        s = int(p * n)
        exact = th.pb_exact(n, s, nh, c)
        gaps.append(abs(math.sqrt(n) * (th.pb_approx(n, s, nh, c) - exact) - limit))
        gauss_err.append(abs(math.sqrt(n) * (th.pb_gauss_limit(n, s, nh, c) - exact)))
    assert gaps[1] < gaps[0] / 2 and gaps[2] < gaps[1] / 2, gaps
    assert gauss_err[1] < gauss_err[0] / 2 and gauss_err[2] < gauss_err[1] / 2, gauss_err
    assert gaps[2] < 0.03 and gauss_err[2] < 0.03


def test_expected_max_normal_known_values():
    assert th.expected_max_normal(1) == 0.0
    assert abs(th.expected_max_normal(2) - 1 / math.sqrt(math.pi)) < 1e-9
    assert abs(th.expected_max_normal(3) - 1.5 / math.sqrt(math.pi)) < 1e-9


# --------------------------------------------------------------------------- Theorem 1
def test_survival_formula_and_edges():
    a = np.arange(1, 6)
    np.testing.assert_allclose(th.survival(a, 10), 0.9 ** (a - 1), rtol=1e-13)
    assert th.survival(1, 7) == 1.0
    np.testing.assert_array_equal(th.survival([1, 2, 3], 1), [1.0, 0.0, 0.0])
    assert th.survival(np.array([[1, 2], [3, 4]]), 5).shape == (2, 2)
    assert abs(th.decay_rate_mhn(100) - (-math.log(0.99))) < 1e-15


def test_survival_matches_uniform_overwrite_simulation():
    rng = np.random.default_rng(7)
    nh, trials, ages = 10, 20000, np.array([1, 2, 5, 10, 20])
    alive = np.ones((trials, ages.size), dtype=bool)
    for i, a in enumerate(ages):
        later = rng.integers(0, nh, size=(trials, a - 1))
        alive[:, i] = ~(later == 0).any(axis=1)  # the memory sits in unit 0
    pi = th.survival(ages, nh)
    se = np.sqrt(pi * (1 - pi) / trials) + 1e-9
    assert np.all(np.abs(alive.mean(axis=0) - pi) < 4 * se + 1e-12)


def test_rd_theory_is_survival_times_one_minus_pb():
    a = np.array([1, 10, 100])
    np.testing.assert_allclose(th.rd_theory(a, 100, 0.2), 0.8 * 0.99 ** (a - 1), rtol=1e-12)


def test_thresholds_hoeffding_above_gauss_and_simulated_quantile():
    # thm-mhn-retention (ii): Hoeffding 29.5, Gaussian 19.1 at (1000, 100, 100, c=1)
    h = th.theta_hoeffding(1000, 100, 100, 1.0, 0.05)
    g = th.theta_gauss(1000, 100, 100, 1.0)
    assert abs(h - 29.4947) < 1e-3 and abs(g - 19.1046) < 1e-3
    # the exact 95% quantile of the max overlap lies below the Hoeffding bound
    pm = th.max_overlap_pmf(1000, 100, 100, 1.0)
    q95 = int(np.searchsorted(np.cumsum(pm), 0.95))
    assert q95 <= h
    # the bound holds: P(M > theta_delta) <= delta on a small grid
    for cfg in GRID:
        for delta in (0.01, 0.1, 0.5):
            t = th.theta_hoeffding(*cfg, delta)
            pm = th.max_overlap_pmf(*cfg)
            assert pm[np.arange(pm.size) > t].sum() <= delta


# --------------------------------------------------------------------------- d' corollaries
def test_mhn_dz_matches_pooled_mixture_simulation():
    cfg = (200, 20, 20, 0.5)
    base = th.baseline_distribution(*cfg)
    rng = np.random.default_rng(3)
    n = 400000
    for age in (1, 5, 20, 60):
        pi = th.survival(age, cfg[2])
        real = np.where(rng.random(n) < pi, 1.0, base.sample(rng, n))
        d = real - base.sample(rng, n)
        sim = d.mean() / d.std()
        # delta-method SE of a standardised mean is about sqrt((1 + d^2/2)/n) (normal-ish); use 6x for skew
        assert abs(sim - th.mhn_dz(age, *cfg)) < 6 * math.sqrt((1 + sim**2 / 2) / n) + 1e-3, (age, sim)
    assert abs(th.mhn_dz(1, *cfg) - (1 - base.mean) / math.sqrt(base.var)) < 1e-9


def test_finite_T_estimator_exceeds_population_dz_at_young_ages_and_agrees_late():
    cfg = (1000, 100, 100, 1.0)
    mean, sd, degenerate = th.mhn_dprime_finite_T([5, 200], *cfg, runs=20, n_mc=3000, seed=1)
    pop = th.mhn_dz(np.array([5, 200]), *cfg)
    assert mean[0] > 4 * pop[0]  # the all-survive samples dominate the young-age mean
    assert sd[0] > 10
    assert abs(mean[1] - pop[1]) < 0.25 * pop[1] + 3 * sd[1] / math.sqrt(3000)
    assert np.all(degenerate == 0)


def test_sdt_hit_rate_is_one_at_age_one_and_falls_to_false_alarm_rate():
    H, F, d, theta = th.mhn_sdt(np.array([1, 10_000]), 1000, 100, 100, 0.5)
    assert H[0] == 1.0 and abs(H[1] - F) < 1e-6
    assert 0 < F <= 0.05 + 0.05  # the 95% quantile on a 1/s grid
    assert math.isinf(d[0]) and abs(d[1]) < 1e-3


# --------------------------------------------------------------------------- Remark 3
def test_kwinner_trace_formula():
    a = np.array([1, 2, 10, 100])
    np.testing.assert_allclose(th.kwinner_trace(a, 2000, 50, 0.3), 0.3 * (1 - 0.3 * 50 / 2000) ** (a - 1), rtol=1e-12)
    assert abs(th.decay_rate_kwinner(2000, 50, 0.3) + math.log(1 - 0.0075)) < 1e-15
    # k=1, eps=1 is the MHN's survival
    np.testing.assert_allclose(th.kwinner_trace(a, 100, 1, 1.0), th.survival(a, 100), rtol=1e-12)
    np.testing.assert_allclose(th.kwinner_rd_theory(a, 2000, 50, 0.3, 0.5), 0.5 * (1 - 0.0075) ** (a - 1), rtol=1e-12)


def test_kwinner_trace_matches_random_recruitment_simulation():
    """Each later memory recruits k of n_h units uniformly; the trace of a winner is
    eps (1-eps)^(later wins). The mean over units and trials matches the formula."""
    rng = np.random.default_rng(11)
    nh, k, eps, trials = 40, 5, 0.3, 4000
    ages = np.array([1, 5, 20, 60])
    for a in ages:
        # later wins of unit 0 among a-1 later k-subsets: hypergeometric indicator per step
        wins = np.zeros(trials)
        for _ in range(a - 1):
            wins += rng.random((trials, nh)).argsort(axis=1)[:, :k].__eq__(0).any(axis=1)
        trace = eps * (1 - eps) ** wins
        se = trace.std(ddof=1) / math.sqrt(trials) + 1e-12
        assert abs(trace.mean() - th.kwinner_trace(a, nh, k, eps)) < 4 * se + 1e-12, a


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "call",
    [
        lambda: th.survival(0, 10),
        lambda: th.survival(1.5, 10),
        lambda: th.survival(3, 0),
        lambda: th.pb_exact(100, 100, 10, 0.5),  # active must be < n_input
        lambda: th.pb_exact(100, 10, 10, 0.0),
        lambda: th.pb_exact(100, 10, 10, 1.5),
        lambda: th.pb_exact(100, 10, 10, 0.05),  # floor(0.05*10) = 0 cue bits
        lambda: th.pb_approx(100, 10, 0, 0.5),
        lambda: th.theta_hoeffding(100, 10, 10, 0.5, 0.0),
        lambda: th.theta_hoeffding(100, 10, 10, 0.5, 1.0),
        lambda: th.kwinner_trace(1, 10, 11, 0.3),
        lambda: th.kwinner_trace(1, 10, 2, 0.0),
        lambda: th.rd_theory(1, 10, 1.5),
        lambda: th.mhn_dprime_finite_T([1], 100, 10, 10, 1.0, runs=1),
    ],
)
def test_bad_input_raises_config_error(call):
    with pytest.raises(ConfigError):
        call()


def test_hypergeom_pmf_matches_scipy_and_edges():
    from scipy import stats

    for pop, succ, draws in [(200, 20, 10), (1000, 100, 100), (50, 0, 5), (30, 30, 7), (10, 4, 10), (1, 1, 1)]:
        ref = stats.hypergeom(pop, succ, draws).pmf(np.arange(draws + 1))
        np.testing.assert_allclose(th.hypergeom_pmf(pop, succ, draws), ref, rtol=1e-9, atol=1e-15)
    with pytest.raises(ConfigError):
        th.hypergeom_pmf(10, 11, 3)
