"""Unit tests of slotless.memory.theory (Reconstructed Theorem 1, Proposition 2, Remark 3, and the checks
the chapter book/theory/memory_results.md asserts).

Statistical checks compare a formula with an independent Monte Carlo that builds the
patterns explicitly (no hypergeometric formula inside) and allow 4 standard errors; the
seeds are fixed, so the tests are deterministic. Each MC is sized so that the effect a
plausible bug would cause (e.g. dropping the cue term of p_b) is many SEs.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from slotless.checks import ConfigError
from slotless.memory import theory as th
from slotless.memory.network import NetworkConfig
from slotless.memory.protocol import ProtocolConfig


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


# --------------------------------------------------------------------------- checks on simulations
# The check functions of the chapter compute both sides of a result from arrays shaped like the engine's.
# Here they get arrays from an explicit mixture model (survive with pi_a, else a baseline draw), so both
# sides must agree; and hand-made arrays where the answer is known exactly.


def mixture_arrays(cfg, trials, n_mem, seed):
    """1-winner MHN arrays from the model of cor-mhn-dprime: trace = survival indicator drawn with pi_a,
    real accuracy 1 if it survived else a baseline draw, pseudo an independent baseline draw."""
    rng = np.random.default_rng(seed)
    base = th.baseline_distribution(*cfg)
    alive = rng.random((trials, n_mem)) < th.survival(np.arange(1, n_mem + 1), cfg[2])
    real = np.where(alive, 1.0, base.sample(rng, (trials, n_mem)))
    return th.MemoryArrays(real, base.sample(rng, (trials, n_mem)), alive.astype(float))


MIX_CFG = (200, 20, 20, 0.5)


@pytest.fixture(scope="module")
def mixture():
    return mixture_arrays(MIX_CFG, trials=400, n_mem=120, seed=5)


def test_memory_arrays_pools_trials_and_drops_the_extra_pseudo_column():
    def result(offset, trials):
        shape = (trials, 5)
        return SimpleNamespace(acc_real=np.full(shape, offset), acc_pseudo=np.full((trials, 6), offset + 0.5),
                               trace=np.full(shape, offset + 0.25))

    arrays = th.memory_arrays(result(0.0, 2), result(1.0, 3), n_eval=5)
    assert arrays.acc_real.shape == arrays.acc_pseudo.shape == arrays.trace.shape == (5, 5)
    assert arrays.trials == 5 and arrays.memories == 5
    np.testing.assert_array_equal(arrays.acc_real[:, 0], [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(arrays.rd, -0.5 * np.ones((5, 5)))
    with pytest.raises(ConfigError):
        th.memory_arrays(n_eval=5)


def test_window_mean_se_is_the_mean_of_per_trial_window_means():
    x = np.arange(24.0).reshape(4, 6)
    mean, se = th.window_mean_se(x, 2, 4)
    per_trial = x[:, 1:4].mean(axis=1)
    assert mean == per_trial.mean() and abs(se - per_trial.std(ddof=1) / 2) < 1e-15
    with pytest.raises(ConfigError):
        th.window_mean_se(x, 3, 7)  # beyond the last age


def test_comparison_tolerance_ratio_and_z():
    c = th.Comparison(1.1, 0.05, 1.0)
    assert c.within(3) and not c.within(1) and c.within(1, slack=0.06)
    assert abs(c.ratio - 1.1) < 1e-15 and abs(c.z - 2.0) < 1e-12
    w = th.WindowComparison(0.5, 0.1, 0.5, 3, 9)
    assert (w.lo, w.hi) == (3, 9) and w.within(1)


def test_survival_and_rd_windows_agree_on_the_mixture_model(mixture):
    windows = ((1, 5), (6, 30), (31, 120))
    assert th.is_survival_indicator(mixture.trace) and not th.is_survival_indicator(mixture.trace * 0.3)
    for row in th.survival_windows(mixture.trace, MIX_CFG[2], windows):
        assert row.within(4, slack=1e-12), row
    pb = th.pb_exact(*MIX_CFG)
    rows = th.rd_windows(mixture.rd, MIX_CFG[2], pb, windows)
    assert all(r.within(4) for r in rows), rows
    # the theory side is the window mean of the formula
    assert abs(rows[1].theory - th.rd_theory(np.arange(6, 31), MIX_CFG[2], pb).mean()) < 1e-15
    # sensitivity: a wrong p_b (the code's approximation, off by about 0.02) is rejected in the young window
    assert not th.rd_windows(mixture.rd, MIX_CFG[2], th.pb_approx(*MIX_CFG) + 0.05, windows)[0].within(4)


def test_survivor_retrieval_counts_imperfect_survivors_and_uses_the_exact_tie_probability(mixture):
    from scipy import stats

    r = th.survivor_retrieval(mixture, *MIX_CFG)
    m = int(MIX_CFG[1] * MIX_CFG[3])
    p_all = stats.hypergeom(MIX_CFG[0], MIX_CFG[1], m).pmf(m)
    assert r.survivors == int(mixture.trace.sum()) and r.imperfect == 0
    assert abs(r.exact_fail - (1 - (1 - p_all) ** (MIX_CFG[2] - 1))) < 1e-12
    assert r.exact_fail <= r.hoeffding <= 1.0
    spoiled = th.MemoryArrays(np.where(mixture.trace == 1, 0.9, mixture.acc_real), mixture.acc_pseudo, mixture.trace)
    assert th.survivor_retrieval(spoiled, *MIX_CFG).imperfect == r.survivors


def test_overlap_thresholds_match_the_exact_max_overlap_law():
    for cfg in GRID:
        t = th.overlap_thresholds(*cfg, delta=0.05)
        pm = th.max_overlap_pmf(*cfg)
        assert t.m == pm.size - 1 and abs(t.mean_max - np.arange(pm.size) @ pm) < 1e-12
        assert np.cumsum(pm)[t.quantile] >= 0.95 - 1e-12 and (t.quantile == 0 or np.cumsum(pm)[t.quantile - 1] < 0.95)
        assert t.tail_beyond_hoeffding <= 0.05 and t.quantile <= t.hoeffding


def test_decay_rate_with_se_recovers_a_known_rate_and_advances_the_generator():
    rng = np.random.default_rng(0)
    ages = np.arange(1, 201)
    rd = 0.6 * np.exp(-0.02 * (ages - 1)) + rng.normal(0, 0.01, (300, ages.size))
    a, b = np.random.default_rng(1), np.random.default_rng(1)
    first = th.decay_rate_with_se(rd, (1, 100), a, n_boot=50)
    assert first == th.decay_rate_with_se(rd, (1, 100), b, n_boot=50)  # deterministic given the generator
    assert abs(first.fit.lam - 0.02) < 4 * first.se and 0 < first.se < 0.002
    assert th.decay_rate_with_se(rd, (1, 100), a, n_boot=50).se != first.se  # the generator advanced
    excl = th.decay_rate_with_se(rd, (1, 200), np.random.default_rng(1), n_boot=20, exclude_floored=True)
    assert excl.fit.n_used == 200 - excl.fit.n_floored


def test_lost_memory_residual_is_zero_for_the_mixture_model_and_sees_a_trace(mixture):
    resid, se = th.lost_memory_residual(mixture)
    assert abs(resid) < 4 * se
    lost = mixture.trace == 0
    boosted = th.MemoryArrays(np.where(lost, mixture.acc_real + 0.05, mixture.acc_real), mixture.acc_pseudo,
                              mixture.trace)
    resid2, se2 = th.lost_memory_residual(boosted)
    assert abs(resid2 - resid - 0.05) < 1e-12 and resid2 > 4 * se2


def test_pseudo_baseline_and_variance_checks_agree_with_monte_carlo(grid_mc):
    cfg, acc, _ = grid_mc
    per_trial = acc.reshape(60, 100)  # 60 "trials" of 100 independent probes
    b = th.pseudo_baseline_check(per_trial, *cfg)
    assert b.within(4) and b.theory == th.pb_exact(*cfg) and b.approx == th.pb_approx(*cfg)
    assert b.limit == th.pb_gauss_limit(*cfg)
    v = th.baseline_variance_check(per_trial, *cfg)
    assert v.within(4) and abs(v.theory - th.baseline_var(*cfg)) < 1e-15


def test_pb_error_scaling_and_error_curve_match_their_definitions():
    limit, scaled = th.pb_error_scaling((1000, 10_000), fraction=0.1, n_hidden=100, cue_fraction=1.0)
    assert abs(scaled[0] - math.sqrt(1000) * (th.pb_approx(1000, 100, 100, 1.0) - th.pb_exact(1000, 100, 100, 1.0))) < 1e-12
    assert abs(scaled[1] - limit) < abs(scaled[0] - limit)
    err = th.pb_approx_error(200, 20, [5, 50], 0.5)
    assert err.shape == (2,) and abs(err[1] - (th.pb_approx(200, 20, 50, 0.5) - th.pb_exact(200, 20, 50, 0.5))) < 1e-15


def test_pooled_dz_and_finite_T_checks_agree_on_the_mixture_model():
    arrays = mixture_arrays(MIX_CFG, trials=600, n_mem=60, seed=9)
    ages = np.array([1, 3, 10, 30, 60])
    dz = th.pooled_dz_check(arrays, ages, *MIX_CFG, np.random.default_rng(2), n_boot=100)
    assert dz.checkable[0] and dz.checkable.sum() >= 3
    assert np.all(np.abs(dz.pooled - dz.population)[dz.checkable] < 4 * dz.se[dz.checkable])
    finite = th.finite_T_check(arrays, ages, *MIX_CFG, n_samples=30, runs=20, seed=4, n_mc=1000)
    assert finite.dprime.shape == (30, ages.size)
    np.testing.assert_allclose(finite.se, finite.mixture_sd / math.sqrt(30))
    late = ages >= 10
    assert np.all(np.abs(finite.dprime.mean(axis=0) - finite.mixture_mean)[late] < 4 * finite.se[late] + 0.02)


def test_sdt_check_rates_agree_on_the_mixture_model(mixture):
    sdt = th.sdt_check(mixture, *MIX_CFG, windows=((1, 5), (6, 20)))
    assert sdt.theta == th.mhn_sdt(1, *MIX_CFG)[3]
    assert sdt.false_alarms.within(4)
    assert all(h.within(4, slack=4 * sdt.false_alarms.se) for h in sdt.hits)
    assert len(sdt.dprime) == 2 and np.all(np.isfinite(sdt.dprime))


SMALL_MHN = NetworkConfig(60, 12, 6, 1.0, 1, 1.0)


def test_engine_mismatches_finds_none_between_the_two_engines():
    proto = ProtocolConfig(n_burn_in=20, n_eval=15, n_pseudo=16, cue_fraction=0.5)
    shape, differing = th.engine_mismatches(SMALL_MHN, proto, 2, 3, stream="test-theory")
    assert shape == (2, 15) and differing == []


def test_slot_overwrite_check_sees_slots_only_for_the_1_winner_mhn():
    slots = th.slot_overwrite_check(SMALL_MHN, 40, np.random.default_rng(0))
    assert slots.steps == slots.best_match == slots.overwritten == 40 and slots.transposed and slots.binary
    kwin = th.slot_overwrite_check(SMALL_MHN.replace(epsilon=0.5), 10, np.random.default_rng(0))
    assert kwin.overwritten == 0 and not kwin.binary


def test_exponential_average_check_holds_to_rounding_and_detects_a_wrong_rate():
    cfg = NetworkConfig(40, 30, 5, 0.25, 4, 0.3)
    avg = th.exponential_average_check(cfg, 60, np.random.default_rng(1))
    assert avg.symmetry_error < 1e-12 and avg.average_error < 1e-12 and avg.absent_zero
    assert th.trace_horizon(30, 4, 0.3) == 25.0


def test_trace_windows_and_forgetting_law_on_exact_curves():
    nh, k, eps, n_mem = 100, 5, 0.3, 80
    ages = np.arange(1, n_mem + 1)
    rng = np.random.default_rng(3)
    trace = th.kwinner_trace(ages, nh, k, eps) + rng.normal(0, 0.002, (200, n_mem))
    rd = th.kwinner_rd_theory(ages, nh, k, eps, 0.4) + rng.normal(0, 0.01, (200, n_mem))
    arrays = th.MemoryArrays(rd + 0.2, np.full_like(rd, 0.2), trace)
    windows = ((1, 10), (11, 80))
    assert all(r.within(4) for r in th.trace_windows(trace, nh, k, eps, windows))
    law = th.forgetting_law_check(arrays, nh, k, eps, (1, 80), windows, np.random.default_rng(0), n_boot=50)
    assert abs(law.decay.fit.lam - law.law_rate) < 4 * law.decay.se
    assert all(r.within(4, slack=0.01) for r in law.windows)
    np.testing.assert_allclose(law.via_trace, [r.theory for r in law.windows], rtol=0.05)


def test_the_memory_results_sizes_and_the_random_winner_control(monkeypatch):
    from slotless import book
    from slotless.memory import protocol

    for quick in (True, False):
        sc = book.scale(quick)
        sizes, th_sizes = sc.memory, sc.memory_theory
        assert isinstance(th_sizes, book.MemoryTheorySizes)
        assert all(hi <= sizes.n_mem for _, hi in th_sizes.windows) and max(th_sizes.check_ages) <= sizes.n_mem
        proto = book.memory_theory_control_protocol(sizes)
        assert proto.n_burn_in == 20 * sizes.nets["mhn"].n_hidden and proto.cue_fraction == 0.5
        assert (proto.n_eval, proto.n_pseudo) == (sizes.n_mem, sizes.n_mem + 1)
    calls = []
    monkeypatch.setattr(protocol, "run_trials_cached", lambda *args, **kw: calls.append((args, kw)) or ("result", False))
    sc = book.scale(True)
    assert book.memory_theory_control(sc.memory, sc.memory_theory) == ("result", False)
    (net, proto, trials, seed), kw = calls[0]
    assert net == sc.memory.nets["mhn"].replace(winner_rule="random") and trials == sc.memory_theory.control_trials
    assert seed == book.SEED and kw["stream"] == "theory/mhn-random-winners/cue=0.5"


def test_all_survive_horizon_is_the_last_age_with_pi_a_to_the_T_above_the_level():
    for n_hidden, runs in ((50, 10), (100, 20), (100, 1), (2, 3)):
        a = th.all_survive_horizon(n_hidden, runs, 0.01)
        assert th.survival(a, n_hidden) ** runs >= 0.01 > th.survival(a + 1, n_hidden) ** runs
    # the quick scale keeps T / n_h, so both scales have the same horizon
    assert th.all_survive_horizon(50, 10) == th.all_survive_horizon(100, 20) == 23
    with pytest.raises(ConfigError, match="level"):
        th.all_survive_horizon(50, 10, level=1.5)
