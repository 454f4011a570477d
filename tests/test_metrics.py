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
    # re-pairing keeps RD but changes d' (a known pitfall: d' is not a function of RD)
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


# ------------------------------------------------------ additions for ch-kwinner .. ch-controls
def _samples(seed=0, n_samples=10, runs=20, ages=30, shift=0.1):
    g = _rng(seed)
    real = np.clip(g.normal(0.5 + shift, 0.1, (n_samples * runs, ages)), 0, 1)
    pseudo = np.clip(g.normal(0.5, 0.1, (n_samples * runs, ages)), 0, 1)
    return np.round(real * 20) / 20, np.round(pseudo * 20) / 20  # accuracies lie on a grid of 1/s


def test_mean_difference_is_welch_t_of_scipy():
    g = _rng(2)
    for n_a, n_b in ((5, 9), (40, 40), (3, 200)):
        a, b = g.normal(0.3, 1.0, n_a), g.normal(0.0, 2.0, n_b)
        d = metrics.mean_difference(a, b)
        np.testing.assert_allclose(d.mean, a.mean() - b.mean())
        np.testing.assert_allclose(d.t, stats.ttest_ind(a, b, equal_var=False).statistic, rtol=1e-12)
    with pytest.raises(ConfigError, match="at least 2"):
        metrics.mean_difference([1.0], [1.0, 2.0])


def test_mean_se_sign_and_t():
    assert metrics.MeanSE(1.0, 0.2).sign(3) == 1
    assert metrics.MeanSE(-1.0, 0.2).sign(3) == -1
    assert metrics.MeanSE(0.5, 0.2).sign(3) == 0
    assert metrics.MeanSE(1.0, 0.25).t == 4.0
    assert metrics.MeanSE(1.0, 0.0).t == np.inf


def test_run_window_means_slices_runs_and_ages():
    acc = np.arange(24, dtype=float).reshape(4, 6)
    np.testing.assert_allclose(metrics.run_window_means(acc, (2, 4)), acc[:, 1:4].mean(axis=1))
    np.testing.assert_allclose(metrics.run_window_means(acc, (1, 1), n_runs=2), acc[:2, 0])
    with pytest.raises(ConfigError, match="window"):
        metrics.run_window_means(acc, (2, 7))


def test_window_difference_is_the_paired_t_of_window_means():
    g = _rng(3)
    a, b = g.normal(1.0, 0.3, (10, 50)), g.normal(0.8, 0.3, (10, 50))
    d = metrics.window_difference(a, b, (11, 30))
    wa, wb = a[:, 10:30].mean(axis=1), b[:, 10:30].mean(axis=1)
    np.testing.assert_allclose(d.mean, (wa - wb).mean())
    np.testing.assert_allclose(d.t, stats.ttest_rel(wa, wb).statistic, rtol=1e-10)


def test_window_difference_skips_non_finite_ages():
    a, b = np.ones((3, 4)), np.zeros((3, 4))
    a[0, 1] = np.inf
    b[1, 2] = np.nan
    a[2] = [1.0, 2.0, 3.0, 4.0]
    d = metrics.window_difference(a, b, (1, 4))
    np.testing.assert_allclose(d.mean, np.mean([1.0, 1.0, 2.5]))
    np.testing.assert_allclose(d.se, np.std([1.0, 1.0, 2.5], ddof=1) / np.sqrt(3))


def test_age_markers_hold_both_ddofs_and_bh_on_the_textbook_test():
    g = _rng(4)
    a = g.normal(0.0, 1.0, (10, 200))
    a[:, :30] += 3.0
    b = g.normal(0.0, 1.0, (10, 200))
    am = metrics.age_markers(a, b, alpha=0.01, q=0.05)
    authors = metrics.one_tailed_markers(a, b, alpha=0.01, ddof=0)
    textbook = metrics.one_tailed_markers(a, b, alpha=0.01, ddof=1)
    np.testing.assert_array_equal(am.authors.a_better, authors.a_better)
    np.testing.assert_array_equal(am.textbook.a_better, textbook.a_better)
    # BH runs on the textbook (ddof 1) p-values, which are scipy's paired t-test
    np.testing.assert_allclose(textbook.p_a, stats.ttest_rel(a, b, alternative="greater").pvalue)
    np.testing.assert_array_equal(am.bh_a, metrics.bh_fdr(textbook.p_a, q=0.05).reject)
    np.testing.assert_array_equal(am.bh_b, metrics.bh_fdr(textbook.p_b, q=0.05).reject)
    assert am.counts((1, 30)) == (int(authors.a_better[:30].sum()), int(authors.b_better[:30].sum()))
    assert am.counts((1, 30), ddof=1) == (int(textbook.a_better[:30].sum()), int(textbook.b_better[:30].sum()))
    assert am.bh_counts((1, 30)) == (int(am.bh_a[:30].sum()), int(am.bh_b[:30].sum()))
    # ddof 0 inflates t, so it never marks fewer ages than ddof 1
    assert np.all(am.textbook.a_better <= am.authors.a_better)
    assert am.counts((1, 30))[0] >= 25 and am.bh_a[:30].sum() >= 20


def test_marked_ages_are_one_based():
    flags = np.array([True, False, True, True, False])
    np.testing.assert_array_equal(metrics.marked_ages(flags), [1, 3, 4])
    np.testing.assert_array_equal(metrics.marked_ages(flags, 3), [1, 3])


def test_dprime_band_ignores_infinite_values_in_the_mean_only():
    d = np.array([[1.0, np.inf, 3.0], [3.0, 2.0, 5.0]])
    mean, se = metrics.dprime_band(d)
    np.testing.assert_allclose(mean, [2.0, 2.0, 4.0])
    np.testing.assert_allclose(se[[0, 2]], metrics.sem(d[:, [0, 2]], ddof=0))
    assert np.isnan(se[1])
    assert metrics.undefined_ages(d) == 1 and metrics.undefined_ages(d[:, [0, 2]]) == 0


def test_decay_fit_recovers_the_rate_and_its_bootstrap_error_covers_it():
    lam, n_samples, runs, ages = 0.02, 10, 20, 150
    g = _rng(5)
    a = np.arange(1, ages + 1)
    real = 0.3 + 0.6 * np.exp(-lam * a) + g.normal(0, 0.05, (n_samples * runs, ages))
    pseudo = 0.3 + g.normal(0, 0.05, (n_samples * runs, ages))
    fit = metrics.decay_fit(real, pseudo, n_samples=n_samples, age_range=(1, 100), n_boot=200, seed=1)
    assert abs(fit.lam - lam) < 4 * fit.lam_se and fit.lam_se > 0
    np.testing.assert_allclose(fit.rd, metrics.raw_difference(real, pseudo, n_samples).mean(axis=0))
    assert fit.fit == metrics.exp_fit(fit.rd, age_range=(1, 100))
    lo, hi = metrics.bootstrap_ci(real[:, :100] - pseudo[:, :100],
                                  lambda d: np.array([metrics.exp_fit(r, age_range=(1, 100)).lam for r in d.mean(1)]),
                                  n_boot=200, seed=1)
    np.testing.assert_allclose(fit.lam_se, (hi - lo) / (2 * 1.96))
    gap = metrics.compare_decay(fit, fit)
    assert gap.mean == 0 and np.isclose(gap.se, np.sqrt(2) * fit.lam_se)


def test_decay_fit_table_has_one_row_per_fit_in_order():
    real, pseudo = _samples(6, ages=60, shift=0.3)
    fits = {(m, c): metrics.decay_fit(real, pseudo, age_range=(1, 40), n_boot=20) for c in (1.0, 0.5) for m in "ab"}
    table = metrics.decay_fit_table(fits)
    assert list(table.columns) == ["model", "cue", "C", "lam", "lam_se_boot", "lam_se_ols", "r2", "n_floored",
                                   "lam_excl_floored"]
    assert list(zip(table.model, table.cue)) == list(fits)
    assert table.lam.iloc[0] == round(fits[("a", 1.0)].lam, 5)


def test_accuracy_dprime_table_reads_ages_and_window():
    real, pseudo = _samples(7, ages=40)
    curves = {("m", 1.0): metrics.accuracy_curves(real, pseudo)}
    dp = {("m", 1.0): metrics.paired_dprime(real, pseudo)}
    table = metrics.accuracy_dprime_table(curves, dp, max_age=30, ages=(1, 10), window=(5, 20))
    assert list(table.columns) == ["model", "cue", "acc age 1", "acc age 10", "pseudo baseline", "d' 5-20", "SEM"]
    row = table.iloc[0]
    assert row["acc age 10"] == round(real[:, 9].mean(), 3)
    assert row["pseudo baseline"] == round(pseudo[:, :30].mean(), 3)
    win = dp[("m", 1.0)][:, 4:20].mean(axis=1)
    assert row["d' 5-20"] == round(win.mean(), 2) and row["SEM"] == round(metrics.sem(win), 2)


def test_paired_window_mean_rd_and_run_to_run_sd():
    real, pseudo = _samples(8, ages=40)
    pw = metrics.paired_window(real, pseudo, (11, 30))
    np.testing.assert_allclose(pw.rd, (real - pseudo)[:, 10:30].mean())
    np.testing.assert_allclose(pw.sd, (real - pseudo)[:, 10:30].std(axis=0).mean())


def test_baseline_summary_and_its_gap():
    g = _rng(9)
    real, pseudo, uniform = g.uniform(0.5, 1, (30, 20)), g.uniform(0.3, 0.5, (30, 20)), g.uniform(0, 0.3, (30, 20))
    sm = metrics.baseline_summary(real, pseudo, uniform, (11, 20), n_runs=25)
    np.testing.assert_array_equal(sm.newest, real[:25, 0])
    np.testing.assert_allclose(sm.old, real[:25, 10:20].mean(axis=1))
    np.testing.assert_allclose(sm.same_tree, pseudo[:25].mean(axis=1))
    assert sm.baseline_gap == metrics.mean_difference(pseudo[:25].mean(1), uniform[:25].mean(1))
    with pytest.raises(ConfigError, match="acc_uniform"):
        metrics.baseline_summary(real, pseudo, uniform[:, :5], (1, 5))


def test_windows_upto_and_log_age_grid():
    assert metrics.windows_upto(200) == ((1, 20), (21, 50), (51, 100), (101, 200))
    assert metrics.windows_upto(1000) == metrics.WINDOWS
    for max_age in (10, 200, 1000):
        grid = metrics.log_age_grid(max_age, 16)
        assert grid[0] == 1 and grid[-1] == max_age and np.all(np.diff(grid) > 0) and grid.size <= 16


def test_window_moments():
    real, pseudo = _samples(10, ages=40)
    mu_r, mu_p, sd_r, sd_p = metrics.window_moments(real, pseudo, (21, 40))
    np.testing.assert_allclose([mu_r, sd_p], [real[:, 20:].mean(), pseudo[:, 20:].std()])


def test_gaussian_measures_draw_real_then_pseudo_and_obey_relation_1():
    rel = metrics.gaussian_measures(1.0, 0.0, 1.0, 1.0, 20000, _rng(11))
    g = _rng(11)
    real, pseudo = g.normal(1.0, 1.0, (20000, 1)), g.normal(0.0, 1.0, (20000, 1))
    assert rel.dz == metrics.paired_dprime(real, pseudo, n_samples=1)[0, 0]
    assert rel.dprime_true == 1.0 and rel.sd_ratio == 1.0
    # independent equal-variance Gaussians: d'_A = sqrt2 d_z = yes/no d' = 1, within sampling error
    assert abs(rel.dprime_auc - np.sqrt(2) * rel.dz) < 8 * np.sqrt(2) * rel.dz_se
    assert abs(rel.dprime_sdt - 1.0) < 0.1


def test_dprime_measures_are_the_four_measures():
    real, pseudo = _samples(12, ages=25)
    m = metrics.dprime_measures(real, pseudo, n_samples=10)
    np.testing.assert_allclose(m.authors, np.sqrt(2) * metrics.paired_dprime(real, pseudo).mean(axis=0))
    np.testing.assert_allclose(m.pooled_dz, np.sqrt(2) * metrics.paired_dprime(real, pseudo, n_samples=1)[0])
    np.testing.assert_allclose(m.auc, metrics.auc_dprime(real, pseudo))
    sdt = metrics.sdt_dprime(real, pseudo)
    np.testing.assert_allclose(m.sdt, sdt.dprime)
    assert m.threshold == sdt.threshold
    np.testing.assert_array_equal(m.flags.auc_extreme, metrics.degeneracy_flags(real, pseudo).auc_extreme)


def test_caps_are_what_complete_separation_gives():
    n = 37
    real, pseudo = np.ones((n, 3)), np.zeros((n, 3))
    np.testing.assert_allclose(metrics.auc_dprime(real, pseudo), metrics.auc_dprime_max(n, n))
    sdt = metrics.sdt_dprime(real, pseudo, threshold=0.5)
    np.testing.assert_allclose(stats.norm.ppf(sdt.H), metrics.hit_rate_z_max(n))


def test_bh_fdr_matches_scipy_false_discovery_control():
    g = _rng(21)
    for m in (1, 7, 200):
        p = np.round(g.uniform(0, 1, m) ** 3, 3)  # many small values, with ties
        for q in (0.01, 0.05, 0.2):
            res = metrics.bh_fdr(p, q=q)
            adjusted = stats.false_discovery_control(p, method="bh")
            np.testing.assert_allclose(res.p_adjusted, adjusted, rtol=1e-12)
            boundary = np.isclose(adjusted, q, rtol=1e-9)  # exact ties with q are rounding-sensitive
            np.testing.assert_array_equal(res.reject[~boundary], (adjusted <= q)[~boundary])


def test_weighted_percentile_is_numpys_linear_percentile():
    g = _rng(22)
    for n in (1, 2, 57, 400):
        x = g.integers(0, 21, (5, n)) / 20
        levels = np.unique(x)
        counts = np.stack([np.bincount(np.searchsorted(levels, row), minlength=levels.size) for row in x])
        for q in (0.0, 50.0, 95.0, 100.0):
            np.testing.assert_array_equal(metrics._weighted_percentile(counts, levels, q), np.percentile(x, q, axis=1))


def _grid_runs(seed, n, shift, ages=40, s=20):
    g = _rng(seed)
    real = np.round(np.clip(g.normal(0.5 + shift, 0.15, (n, ages)), 0, 1) * s) / s
    pseudo = np.round(np.clip(g.normal(0.4, 0.15, (n, ages)), 0, 1) * s) / s
    return real, pseudo


def test_permutation_window_test_observed_statistic_is_the_measures_difference():
    ra, pa = _grid_runs(23, 60, 0.2)
    rb, pb = _grid_runs(24, 50, 0.0)
    grid, windows = metrics.log_age_grid(40, 8), ((1, 10), (11, 40))
    res = metrics.permutation_window_test(ra, pa, rb, pb, grid, windows, n_perm=300, seed=1)
    ma, mb = metrics.dprime_measures(ra, pa, n_samples=1), metrics.dprime_measures(rb, pb, n_samples=1)
    for w, (lo, hi) in enumerate(windows):
        sel = (grid >= lo) & (grid <= hi)
        np.testing.assert_allclose(res.observed[w], [(ma.auc - mb.auc)[grid - 1][sel].mean(),
                                                     (ma.sdt - mb.sdt)[grid - 1][sel].mean()], rtol=1e-12)
    # a clear difference: no relabelling reaches it, so p is the smallest possible, 1/(n_perm + 1)
    np.testing.assert_allclose(res.p_greater, 1 / 301)
    np.testing.assert_allclose(res.p_less, 1.0)
    again = metrics.permutation_window_test(ra, pa, rb, pb, grid, windows, n_perm=300, seed=1, chunk=7)
    np.testing.assert_array_equal(again.p_greater, res.p_greater)


def test_permutation_window_test_is_calibrated_under_the_null():
    # both models from one distribution: the one-sided p-values are (discretely) uniform
    grid, windows = np.array([1, 5, 20]), ((1, 20),)
    p = []
    for seed in range(40):
        ra, pa = _grid_runs(100 + seed, 20, 0.0, ages=20)
        rb, pb = _grid_runs(200 + seed, 20, 0.0, ages=20)
        p.append(metrics.permutation_window_test(ra, pa, rb, pb, grid, windows, n_perm=99, seed=seed).p_greater[0])
    p = np.array(p)  # (40, 2)
    assert 0.3 < p.mean() < 0.7 and (p <= 0.05).mean() < 0.2
    with pytest.raises(ConfigError, match="grid"):
        metrics.permutation_window_test(ra, pa, rb, pb, np.array([0, 3]), windows)


def test_window_comparison_columns_and_counts():
    real_a, pseudo_a = _samples(13, ages=60, shift=0.2)
    real_b, pseudo_b = _samples(14, ages=60)
    da, db = metrics.paired_dprime(real_a, pseudo_a), metrics.paired_dprime(real_b, pseudo_b)
    mk = metrics.age_markers(da, db)
    windows = ((1, 20), (21, 50))
    table = metrics.window_comparison(0.5, da, db, real_a, real_b, mk, windows, names=("sim", "random"))
    assert list(table.columns) == ["cue", "ages", "d' sim - random", "SE", "accuracy sim - random",
                                   "ages sim better (p<0.01)", "ages random better"]
    assert table["ages sim better (p<0.01)"].tolist() == [mk.counts(w)[0] for w in windows]
    d = metrics.window_difference(da, db, (21, 50))
    assert table["d' sim - random"].iloc[1] == round(d.mean, 3)
    acc_diff = real_a[:, :20].mean() - real_b[:, :20].mean()
    np.testing.assert_allclose(table["accuracy sim - random"].iloc[0], round(acc_diff, 3))


def _boots(seed, grid, shift):
    real, pseudo = _samples(seed, ages=60, shift=shift)
    m = metrics.dprime_measures(real, pseudo)
    b = metrics.bootstrap_measures(real[:, grid - 1], pseudo[:, grid - 1], n_boot=200, seed=1, threshold=m.threshold)
    return real, pseudo, m, b


def test_relation_and_degeneracy_tables():
    grid = metrics.log_age_grid(60, 8)
    real, pseudo, m, b = _boots(15, grid, 0.2)
    windows = ((1, 20), (21, 50), (61, 100))
    rel = metrics.relation_table({("k", 1.0): m}, {("k", 1.0): b}, grid, windows)
    assert rel.ages.tolist() == ["1-20", "21-50"]  # the grid ends at age 60
    sel = (grid >= 21) & (grid <= 50)
    gap = (m.auc - m.pooled_dz)[grid - 1][sel].mean()
    assert rel["d'_A - √2 d_z"].iloc[1] == round(gap, 3)
    np.testing.assert_allclose(rel["|gap| / SE"], (rel["d'_A - √2 d_z"].abs() / rel["bootstrap SE"]).round(1))
    real[:, 0], pseudo[:, 0] = 1.0, 0.0  # complete separation at age 1
    deg = metrics.degeneracy_table({("k", 1.0): metrics.dprime_measures(real, pseudo)})
    assert deg["ages with AUC 0/1"].iloc[0] >= 1 and deg["oldest such age"].iloc[0] >= 1


def test_model_window_table_permutation_and_authors_t():
    grid = metrics.log_age_grid(60, 8)
    windows = ((1, 20), (21, 50))
    ra, pa, ma, ba = _boots(16, grid, 0.3)
    rb, pb, mb, bb = _boots(17, grid, 0.0)
    da, db = metrics.paired_dprime(ra, pa), metrics.paired_dprime(rb, pb)
    perm = metrics.permutation_window_test(ra, pa, rb, pb, grid, windows, n_perm=200, seed=3)
    table = metrics.model_window_table({1.0: perm}, {1.0: ba}, {1.0: bb}, {1.0: da}, {1.0: db}, grid, windows,
                                       names=("K", "MHN"))
    assert table.measure.tolist() == ["d'_A", "yes/no d'", "authors' d'"] * 2
    assert table.test.tolist() == ["permutation", "permutation", "paired t"] * 2
    assert list(table.columns)[-4:] == ["p (K better)", "p (MHN better)", "K better (BH)", "MHN better (BH)"]
    assert table["K - MHN"].iloc[3] == round(float(perm.observed[1, 0]), 2)
    assert table["p (K better)"].iloc[4] == round(float(perm.p_greater[1, 1]), 4)
    wa, wb = da[:, :20].mean(axis=1), db[:, :20].mean(axis=1)
    t = stats.ttest_rel(wa, wb)
    ci = t.confidence_interval(0.95)
    assert table["95% CI"].iloc[2] == f"[{ci.low:.2f}, {ci.high:.2f}]"
    np.testing.assert_allclose(table["p (K better)"].iloc[2], round(stats.ttest_rel(wa, wb, alternative="greater").pvalue, 4))
    assert table["K better (BH)"].all() and not table["MHN better (BH)"].any()


def test_sdt_dprime_max_is_the_hautus_ceiling_minus_z_of_the_false_alarm_rate():
    # n = 2e4: Phi^{-1}((n + 1/2)/(n + 1)) = 4.06, and -z(0.05) = 1.64
    assert metrics.hit_rate_z_max(20000) == pytest.approx(4.0556, abs=1e-4)
    assert metrics.sdt_dprime_max(20000, 0.05) == pytest.approx(4.0556 + 1.6449, abs=1e-4)
    real, pseudo = np.ones((20000, 1)), np.linspace(0, 0.999, 20000)[:, None]  # every real item a hit
    res = metrics.sdt_dprime(real, pseudo, threshold=float(np.quantile(pseudo, 0.95)))
    assert res.dprime[0] <= metrics.sdt_dprime_max(20000, float(res.F_raw[0])) + 1e-9
    with pytest.raises(ConfigError, match="false_alarm_rate"):
        metrics.sdt_dprime_max(100, 0.0)
