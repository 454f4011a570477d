"""Unit tests of slotless.memory.metrics (the measures of ch-methods, ch-retention, ch-controls)."""

import numpy as np
import pytest
from scipy import stats

from slotless.checks import ConfigError
from slotless.memory import metrics


def _rng(seed=0):
    return np.random.default_rng(seed)


def test_accuracy_curves_are_column_means_age_first():
    real = np.array([[1.0, 0.5, 0.2], [0.8, 0.7, 0.0]])
    pseudo = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]])
    c = metrics.accuracy_curves(real, pseudo)
    np.testing.assert_allclose(c.real, [0.9, 0.6, 0.1])
    np.testing.assert_allclose(c.pseudo, [0.2, 0.2, 0.2])
    np.testing.assert_allclose(c.real_sem, real.std(0, ddof=1) / np.sqrt(2))


def test_split_samples_uses_contiguous_blocks_of_runs():
    acc = np.arange(200 * 3, dtype=float).reshape(200, 3)
    s = metrics.split_samples(acc, 10)
    assert s.shape == (10, 20, 3)
    np.testing.assert_array_equal(s[1, 0], acc[20])
    with pytest.raises(ConfigError, match="n_samples"):
        metrics.split_samples(np.zeros((199, 3)), 10)


def test_paired_dprime_equals_mean_over_population_sd_on_hand_case():
    # one sample, 4 runs, 1 age: differences 0.2, 0.4, 0.4, 0.6 -> mean 0.4, SD0 = sqrt(0.02)
    real = np.array([[0.5], [0.6], [0.7], [0.8]])
    pseudo = np.array([[0.3], [0.2], [0.3], [0.2]])
    d = metrics.paired_dprime(real, pseudo, n_samples=1)
    assert d.shape == (1, 1)
    np.testing.assert_allclose(d[0, 0], 0.4 / np.sqrt(0.02))
    d1 = metrics.paired_dprime(real, pseudo, n_samples=1, ddof=1)
    np.testing.assert_allclose(d1[0, 0], 0.4 / np.sqrt(0.08 / 3))
    rd = metrics.raw_difference(real, pseudo, n_samples=1)
    np.testing.assert_allclose(rd, [[0.4]])


def test_paired_dprime_invariant_to_common_shift_and_pairing_matters():
    rng = _rng(1)
    real = rng.uniform(size=(200, 7))
    pseudo = 0.5 * real + rng.uniform(size=(200, 7)) * 0.3
    d = metrics.paired_dprime(real, pseudo)
    np.testing.assert_allclose(metrics.paired_dprime(real + 3.0, pseudo + 3.0), d, rtol=1e-10)
    # 3-D input gives the same answer as the flat (200, E) layout
    np.testing.assert_allclose(metrics.paired_dprime(real.reshape(10, 20, 7), pseudo.reshape(10, 20, 7)), d)
    # re-pairing keeps RD but changes d' (pitfall §8.3)
    perm = rng.permutation(20)
    pseudo_shuffled = pseudo.reshape(10, 20, 7)[:, perm]
    np.testing.assert_allclose(metrics.raw_difference(real, pseudo_shuffled), metrics.raw_difference(real, pseudo))
    assert not np.allclose(metrics.paired_dprime(real, pseudo_shuffled), d)


def test_paired_dprime_zero_sd_is_infinite_and_flagged():
    real = np.ones((20, 2))
    pseudo = np.zeros((20, 2))
    pseudo[::2, 1] = 0.5
    d = metrics.paired_dprime(real, pseudo, n_samples=1)
    assert np.isinf(d[0, 0]) and np.isfinite(d[0, 1])
    flags = metrics.degeneracy_flags(real, pseudo, n_samples=1)
    np.testing.assert_array_equal(flags.paired_sd_zero, [True, False])
    np.testing.assert_array_equal(flags.auc_extreme, [True, True])


def test_sem_ddof0_and_ddof1():
    x = np.array([[1.0, 2.0], [3.0, 2.0], [5.0, 2.0]])
    np.testing.assert_allclose(metrics.sem(x), [np.std([1, 3, 5]) / np.sqrt(3), 0.0])
    np.testing.assert_allclose(metrics.sem(x, ddof=1)[0], stats.sem([1, 3, 5]))


def test_marker_t_is_ttest_rel_times_sqrt_n_over_n_minus_1():
    rng = _rng(2)
    a = rng.normal(0.3, 1.0, size=(10, 50))
    b = rng.normal(0.0, 1.0, size=(10, 50))
    m0 = metrics.one_tailed_markers(a, b, ddof=0)
    m1 = metrics.one_tailed_markers(a, b, ddof=1)
    t_ref = stats.ttest_rel(a, b, axis=0).statistic
    np.testing.assert_allclose(m1.t, t_ref, rtol=1e-10)
    np.testing.assert_allclose(m0.t, t_ref * np.sqrt(10 / 9), rtol=1e-10)
    np.testing.assert_allclose(m0.t0, 2.821, atol=5e-4)
    np.testing.assert_array_equal(m0.a_better, m0.t > m0.t0)
    np.testing.assert_array_equal(m0.b_better, m0.t < -m0.t0)
    np.testing.assert_allclose(m1.p_a, stats.ttest_rel(a, b, axis=0, alternative="greater").pvalue, rtol=1e-8)


def test_markers_false_positive_rate_under_null_is_near_alpha():
    # Under H0 the ddof=1 test rejects one-tailed at rate alpha; with 20000 ages the
    # binomial SD of the rate is sqrt(0.01*0.99/20000) = 7e-4, so 4 SD = 0.0028.
    rng = _rng(3)
    a = rng.normal(size=(10, 20000))
    b = rng.normal(size=(10, 20000))
    m1 = metrics.one_tailed_markers(a, b, ddof=1)
    assert abs(m1.a_better.mean() - 0.01) < 0.0028
    assert abs(m1.b_better.mean() - 0.01) < 0.0028
    # ddof=0 is liberal: its rate is P(T_9 > t0 * sqrt(9/10)), larger than alpha
    m0 = metrics.one_tailed_markers(a, b, ddof=0)
    expected = stats.t.sf(m0.t0 * np.sqrt(9 / 10), 9)
    se = np.sqrt(expected * (1 - expected) / 20000)
    assert abs(m0.a_better.mean() - expected) < 4 * se
    assert expected > 0.012


def test_bh_fdr_on_known_pvalues():
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.2])
    # sorted: 0.005, 0.01, 0.03, 0.04, 0.2 vs q k/m with q=0.05: .01,.02,.03,.04,.05
    res = metrics.bh_fdr(p, q=0.05)
    np.testing.assert_array_equal(res.reject, [True, True, True, True, False])
    res2 = metrics.bh_fdr(p, q=0.02)
    # thresholds .004,.008,.012,.016,.02: 0.005 > .004 but 0.01 <= .008? no; 0.03 > .012 ... none
    np.testing.assert_array_equal(res2.reject, [False] * 5)
    # p*m/k on sorted p: .025,.025,.05,.05,.2, then running minimum from the right
    np.testing.assert_allclose(res.p_adjusted, [0.025, 0.05, 0.05, 0.025, 0.2])
    # adjusted p <= q  <=>  rejected
    np.testing.assert_array_equal(res.p_adjusted <= 0.05, res.reject)


def test_exp_fit_recovers_exact_exponential():
    ages = np.arange(1, 1001)
    rd = 0.7 * np.exp(-0.01 * ages)
    fit = metrics.exp_fit(rd)
    assert fit.n_used == 200 and fit.n_floored == 0
    np.testing.assert_allclose([fit.C, fit.lam, fit.r2], [0.7, 0.01, 1.0], rtol=1e-9)
    assert fit.se_lam < 1e-12


def test_exp_fit_floor_wrecks_fit_and_exclusion_repairs_it():
    ages = np.arange(1, 301)
    rd = 0.5 * np.exp(-0.02 * ages)
    rd[[150, 170]] = -0.01
    wrecked = metrics.exp_fit(rd)
    assert wrecked.n_floored == 2 and wrecked.r2 < 0.1 and abs(wrecked.lam - 0.02) > 0.02
    clean = metrics.exp_fit_excluding_floored(rd)
    assert clean.n_floored == 2 and clean.n_used == 198
    np.testing.assert_allclose([clean.C, clean.lam], [0.5, 0.02], rtol=1e-9)


def test_exp_fit_slope_se_covers_truth():
    # noisy log-linear data: |lam_hat - lam| within 4 SE
    rng = _rng(4)
    ages = np.arange(1, 201)
    rd = 0.4 * np.exp(-0.015 * ages + rng.normal(0, 0.1, ages.size))
    fit = metrics.exp_fit(rd)
    assert abs(fit.lam - 0.015) < 4 * fit.se_lam


def test_auc_separated_is_one_and_corrected_dprime_is_finite():
    real = np.full((50, 2), 0.9)
    pseudo = np.full((50, 2), 0.1)
    real[:, 1] = 0.1  # all tied in column 1
    a = metrics.auc(real, pseudo)
    np.testing.assert_allclose(a, [1.0, 0.5])
    d = metrics.auc_dprime(real, pseudo)
    n = 2500
    np.testing.assert_allclose(d[0], np.sqrt(2) * stats.norm.ppf((n + 0.5) / (n + 1)))
    np.testing.assert_allclose(d[1], 0.0, atol=1e-12)


def test_auc_matches_pairwise_count_with_ties():
    rng = _rng(5)
    real = rng.integers(0, 5, size=(30, 4)).astype(float)
    pseudo = rng.integers(0, 5, size=(25, 4)).astype(float)
    gt = (real[:, None, :] > pseudo[None, :, :]).sum((0, 1))
    eq = (real[:, None, :] == pseudo[None, :, :]).sum((0, 1))
    np.testing.assert_allclose(metrics.mann_whitney_u(real, pseudo), gt + 0.5 * eq)
    np.testing.assert_allclose(metrics.auc(real, pseudo), (gt + 0.5 * eq) / (30 * 25))


def test_auc_equals_phi_of_dprime_over_sqrt2_for_equal_variance_gaussians():
    # AUC = Phi(d/sqrt2). The SE of an AUC estimate with n=2000 per class is below
    # sqrt(AUC(1-AUC)/n) * ~1.5 (Hanley-McNeil); we allow 4 x 0.016 = 0.0064 per d.
    rng = _rng(6)
    n = 2000
    for d in (0.0, 0.5, 1.0, 2.0):
        real = rng.normal(d, 1.0, size=(n, 1))
        pseudo = rng.normal(0.0, 1.0, size=(n, 1))
        a = metrics.auc(real, pseudo)[0]
        expected = stats.norm.cdf(d / np.sqrt(2))
        bound = 4 * 1.5 * np.sqrt(max(expected * (1 - expected), 0.05) / n)
        assert abs(a - expected) < bound, (d, a, expected)
        # and the SDT d' from rates recovers d (threshold at 95th pct of pseudo)
        s = metrics.sdt_dprime(real, pseudo)
        assert abs(s.dprime[0] - d) < 0.25, (d, s.dprime[0])


def test_paired_dz_is_sdt_dprime_over_sqrt2_for_independent_equal_variance():
    # independent real/pseudo with equal variance: d_z = d / sqrt(2). With T=20 per
    # sample and 200 samples, the SE of the mean d_z is about sqrt((1+dz^2/2)/20/200)
    rng = _rng(7)
    d = 1.5
    real = rng.normal(d, 1.0, size=(4000, 1))
    pseudo = rng.normal(0.0, 1.0, size=(4000, 1))
    dz = metrics.paired_dprime(real, pseudo, n_samples=200).mean()
    # ddof=0 inflates d_z by about sqrt(20/19) and the ratio mean/SD has O(1/T) bias; use
    # the whole-pool d_z instead for the relation, and check the per-sample mean is close.
    diff = (real - pseudo)[:, 0]
    dz_pool = diff.mean() / diff.std()
    assert abs(dz_pool - d / np.sqrt(2)) < 4 * np.sqrt((1 + dz_pool**2 / 2) / 4000)
    assert abs(dz - d / np.sqrt(2)) < 0.1


def test_sdt_dprime_hautus_rates_and_threshold():
    real = np.array([[1.0], [1.0], [0.0], [1.0]])
    pseudo = np.array([[0.0], [0.0], [0.0], [1.0]])
    s = metrics.sdt_dprime(real, pseudo, threshold=0.5)
    np.testing.assert_array_equal(s.hits, [3])
    np.testing.assert_allclose(s.H, [3.5 / 5])
    np.testing.assert_allclose(s.F, [1.5 / 5])
    np.testing.assert_allclose(s.dprime, stats.norm.ppf(0.7) - stats.norm.ppf(0.3))
    s2 = metrics.sdt_dprime(np.ones((4, 1)), np.zeros((4, 1)), threshold=0.5)
    assert np.isfinite(s2.dprime).all() and s2.H_raw[0] == 1.0 and s2.F_raw[0] == 0.0
    s3 = metrics.sdt_dprime(real, pseudo)
    assert s3.threshold == np.percentile(pseudo, 95)


def test_bootstrap_ci_covers_mean_and_is_chunk_invariant():
    rng = _rng(8)
    x = rng.normal(2.0, 1.0, size=(400, 3))
    lo, hi = metrics.bootstrap_ci(x, n_boot=2000, seed=1)
    lo2, hi2 = metrics.bootstrap_ci(x, n_boot=2000, seed=1, chunk=37)
    np.testing.assert_allclose(lo, lo2)
    np.testing.assert_allclose(hi, hi2)
    # width ~ 2 * 1.96 / sqrt(400) = 0.196, within 15%
    np.testing.assert_allclose(hi - lo, 0.196, rtol=0.15)
    assert ((lo < x.mean(0)) & (x.mean(0) < hi)).all()
    lo3, hi3, reps = metrics.bootstrap_ci(x, n_boot=2000, seed=1, return_samples=True)
    assert reps.shape == (2000, 3)
    np.testing.assert_allclose(lo3, lo)
    # bootstrap SD of the mean ~ sigma/sqrt(n) = 0.05, within 10% (SE of an SD from 2000 reps ~ 1.6%)
    np.testing.assert_allclose(reps.std(axis=0), 0.05, rtol=0.1)


def test_bootstrap_ci_joint_resampling_keeps_pairs():
    rng = _rng(9)
    real = rng.normal(size=(300, 1))
    pseudo = real - 0.5  # perfectly paired: difference is constant
    lo, hi = metrics.bootstrap_ci((real, pseudo), lambda r, p: (r - p).mean(axis=1), n_boot=500, seed=2)
    np.testing.assert_allclose([lo[0], hi[0]], [0.5, 0.5], atol=1e-12)


def test_window_means_and_labels():
    x = np.arange(1, 1001, dtype=float)
    w = metrics.window_means(x)
    np.testing.assert_allclose(w, [10.5, 35.5, 75.5, 150.5, 350.5, 750.5])
    assert metrics.window_labels()[0] == "1-20"
    w2 = metrics.window_means(np.ones((2, 60)))
    assert w2.shape == (2, 6) and np.isnan(w2[:, 3:]).all()


def test_validation_names_the_parameter():
    with pytest.raises(ConfigError, match="acc_pseudo"):
        metrics.paired_dprime(np.zeros((20, 3)), np.zeros((20, 4)), n_samples=1)
    with pytest.raises(ConfigError, match="alpha"):
        metrics.one_tailed_markers(np.zeros((10, 2)), np.zeros((10, 2)), alpha=0.7)
    with pytest.raises(ConfigError, match="rd"):
        metrics.exp_fit([np.nan, 1.0, 2.0])
    with pytest.raises(ConfigError, match="ddof"):
        metrics.sem(np.zeros((3, 2)), ddof=2)


def test_bootstrap_measures_equal_explicit_resampling():
    # same seed -> same run indices as bootstrap_ci; each replicate equals the measure
    # recomputed on the explicitly resampled runs
    rng = _rng(10)
    real = rng.integers(0, 11, size=(40, 5)) / 10
    pseudo = rng.integers(0, 8, size=(40, 5)) / 10
    bm = metrics.bootstrap_measures(real, pseudo, n_boot=50, seed=3, chunk=7)
    _, _, reps = metrics.bootstrap_ci(
        (real, pseudo), lambda r, p: np.stack([metrics.auc(r[i], p[i]) for i in range(len(r))]),
        n_boot=50, seed=3, return_samples=True)
    np.testing.assert_allclose(bm.auc, reps, atol=1e-12)
    for k in (0, 17):
        i = np.random.default_rng(3).integers(0, 40, size=(50, 40))[k]
        np.testing.assert_allclose(bm.dprime_auc[k], metrics.auc_dprime(real[i], pseudo[i]), atol=1e-10)
        np.testing.assert_allclose(bm.dprime_sdt[k], metrics.sdt_dprime(real[i], pseudo[i], threshold=bm.threshold).dprime,
                                   atol=1e-10)
        d = real[i] - pseudo[i]
        np.testing.assert_allclose(bm.dz[k], d.mean(0) / d.std(0), atol=1e-9)


def test_markers_tolerate_degenerate_ages():
    # an infinite paired d' (zero paired SD in a sample) gives no marker, not an error
    a = np.random.default_rng(11).normal(1.0, 0.1, size=(10, 3))
    b = np.zeros((10, 3))
    a[0, 1] = np.inf
    m = metrics.one_tailed_markers(a, b)
    assert m.a_better[0] and m.a_better[2] and not m.a_better[1] and not m.b_better.any()


def test_degeneracy_rate_flags_and_auc_bound():
    # perfect separation: AUC = 1 uncorrected, H = 1 and F = 0 uncorrected, d'_A at its cap
    real = np.ones((20, 1))
    pseudo = np.linspace(0.1, 0.5, 20)[:, None]
    flags = metrics.degeneracy_flags(real, pseudo, n_samples=2)
    assert flags.auc_extreme[0] and flags.rate_extreme[0] and not flags.paired_sd_zero[0]
    cap = np.sqrt(2) * stats.norm.ppf((400 + 0.5) / 401)
    np.testing.assert_allclose(metrics.auc_dprime(real, pseudo)[0], cap)


def test_window_means_with_explicit_ages():
    ages = np.array([5, 25, 60, 150])
    w = metrics.window_means(np.array([1.0, 2.0, 3.0, 4.0]), ages=ages)
    np.testing.assert_allclose(w[:4], [1.0, 2.0, 3.0, 4.0])
    assert np.isnan(w[4:]).all()
