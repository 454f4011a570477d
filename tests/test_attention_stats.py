"""Unit tests of slotless.attention.stats: success counts, exact intervals, the paired tests (exact McNemar,
Newcombe's paired interval, the sign test on censored times) against scipy, the per-run summary."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from slotless.attention import stats
from slotless.checks import ConfigError


def beta_quantile_interval(k, n, level=0.95):
    """The Clopper-Pearson interval as the training chapter first computed it (beta quantiles)."""
    a = 1 - level
    lo = sps.beta.ppf(a / 2, k, n - k + 1) if k > 0 else 0.0
    hi = sps.beta.ppf(1 - a / 2, k + 1, n - k) if k < n else 1.0
    return lo, hi


def chapter_summary(r):
    """The per-run summary the training chapter used to compute inline (the reference for summarize_run)."""
    fa, b99 = r["final_accuracy"], r["batches_to_99"]
    k = int((fa >= 0.99).sum())
    return dict(k=k, n=len(fa), ci=beta_quantile_interval(k, len(fa)), k10=int((fa[:10] >= 0.99).sum()),
                n10=len(fa[:10]), mean=fa.mean(), se=fa.std(ddof=1) / math.sqrt(len(fa)),
                coll=r["collision_rate"].mean(), median_b99=np.nanmedian(b99) if np.isfinite(b99).any() else np.nan)


@pytest.mark.parametrize("n", [1, 2, 5, 8, 10, 33, 50])
def test_clopper_pearson_equals_the_beta_quantile_formula(n):
    for k in range(n + 1):
        for level in (0.9, 0.95):
            np.testing.assert_allclose(stats.clopper_pearson(k, n, level), beta_quantile_interval(k, n, level),
                                       rtol=0, atol=1e-9, err_msg=f"k={k}, n={n}")


def test_clopper_pearson_ends_and_monotonicity():
    assert stats.clopper_pearson(0, 8)[0] == 0.0 and stats.clopper_pearson(8, 8)[1] == 1.0
    # all 8 of 8: the lower bound is (0.025)^(1/8)
    assert stats.clopper_pearson(8, 8)[0] == pytest.approx(0.025 ** (1 / 8), abs=1e-9)
    lows = [stats.clopper_pearson(k, 50)[0] for k in range(51)]
    assert np.all(np.diff(lows) > 0)
    # with 50 seeds a lower bound above 1/2 needs 33 successes (the claim of the training chapter)
    assert stats.clopper_pearson(33, 50)[0] > 0.5 > stats.clopper_pearson(32, 50)[0]


def test_clopper_pearson_refuses_impossible_counts():
    with pytest.raises(ConfigError, match="k=9"):
        stats.clopper_pearson(9, 8)
    with pytest.raises(ConfigError, match="n=0"):
        stats.clopper_pearson(0, 0)
    with pytest.raises(ConfigError, match="level"):
        stats.clopper_pearson(1, 2, level=1.0)


def test_success_count_threshold_is_inclusive():
    assert stats.success_count([0.99, 0.98999, 1.0, 0.5]) == (2, 4)
    assert stats.success_count(np.array([0.9, 0.95]), threshold=0.9) == stats.SuccessCount(2, 2)


def random_run(rng, seeds, reach=True):
    fa = rng.choice([0.5, 0.97, 0.99, 0.995, 1.0], size=seeds)
    b99 = rng.integers(100, 300, size=seeds).astype(float)
    b99[rng.random(seeds) < 0.3] = np.nan
    if not reach:
        b99[:] = np.nan
    return {"final_accuracy": fa, "batches_to_99": b99, "collision_rate": rng.random(seeds) * 0.01}


@pytest.mark.parametrize("seeds", [2, 8, 12, 50])
def test_summarize_run_equals_the_chapters_former_summary(seeds):
    rng = np.random.default_rng(seeds)
    for reach in (True, False):
        r = random_run(rng, seeds, reach)
        got, want = stats.summarize_run(r), chapter_summary(r)
        assert (got.k, got.n, got.k10, got.n10) == (want["k"], want["n"], want["k10"], want["n10"])
        np.testing.assert_allclose(got.ci, want["ci"], atol=1e-9)
        assert got.mean == want["mean"] and got.se == want["se"] and got.collision_rate == want["coll"]
        np.testing.assert_equal(got.median_b99, want["median_b99"])


def brute_force_mcnemar(a, b, alternative):
    """The exact McNemar p-value from its definition: the discordant seeds' split under Binomial(n_d, 1/2)."""
    a_only, b_only = int((a & ~b).sum()), int((~a & b).sum())
    nd = a_only + b_only
    if nd == 0:
        return 1.0
    pmf = sps.binom.pmf(np.arange(nd + 1), nd, 0.5)
    if alternative == "greater":
        return pmf[a_only:].sum()
    if alternative == "less":
        return pmf[: a_only + 1].sum()
    return min(1.0, pmf[pmf <= pmf[a_only] * (1 + 1e-7)].sum())


def test_mcnemar_is_the_exact_binomial_test_on_the_discordant_seeds():
    rng = np.random.default_rng(1)
    for _ in range(60):
        n = int(rng.integers(1, 60))
        a, b = rng.random(n) < rng.random(), rng.random(n) < rng.random()
        for alt in ("two-sided", "greater", "less"):
            r = stats.paired_success(a, b, alt)
            assert (r.n, r.k_a, r.k_b) == (n, a.sum(), b.sum())
            assert (r.a_only, r.b_only) == ((a & ~b).sum(), (~a & b).sum())
            assert r.p == pytest.approx(brute_force_mcnemar(a, b, alt), rel=1e-9, abs=1e-12)
            assert r.difference == pytest.approx((a.sum() - b.sum()) / n)
            assert r.difference_ci[0] <= r.difference <= r.difference_ci[1]
        # swapping the configurations mirrors everything
        r, m = stats.paired_success(a, b), stats.paired_success(b, a)
        assert r.p == pytest.approx(m.p) and r.difference == -m.difference
        np.testing.assert_allclose(r.difference_ci, [-m.difference_ci[1], -m.difference_ci[0]], atol=1e-12)
    # the pairing matters: concordant seeds carry no information, unlike in Fisher's test of the two counts
    same = np.ones(10, bool)
    assert stats.paired_success(same, same).p == 1.0
    assert stats.paired_success(np.ones(8, bool), np.zeros(8, bool), "greater").p == pytest.approx(0.5 ** 8)


def test_mcnemar_reads_success_from_run_arrays():
    run_a = {"final_accuracy": np.array([1.0, 0.995, 0.5, 0.99])}
    run_b = {"final_accuracy": np.array([0.98, 1.0, 1.0, 0.5])}
    r = stats.paired_success(run_a, run_b)
    assert (r.k_a, r.k_b, r.a_only, r.b_only) == (3, 2, 2, 1)
    with pytest.raises(ConfigError, match="pair the same seeds"):
        stats.paired_success(np.ones(3, bool), np.ones(4, bool))
    with pytest.raises(ConfigError, match="alternative"):
        stats.paired_success(np.ones(3, bool), np.ones(3, bool), "bigger")


def test_wilson_is_scipys_interval():
    for n in (1, 7, 50):
        for k in range(n + 1):
            ci = sps.binomtest(k, n).proportion_ci(method="wilson")
            assert stats.wilson(k, n) == pytest.approx((ci.low, ci.high))


def newcombe_by_formula(a, b, c, d, z=1.959963984540054):
    """Newcombe's method 10 written out independently: Wilson limits from their closed form."""
    n = a + b + c + d

    def wilson(k):
        p = k / n
        centre, half = (p + z * z / (2 * n)), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)

    p1, p2 = (a + b) / n, (a + c) / n
    (l1, u1), (l2, u2) = wilson(a + b), wilson(a + c)
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    cross = a * d - b * c
    cross = max(cross - n / 2, 0) if cross > 0 else cross
    phi = cross / np.sqrt(margins) if margins else 0.0
    dl = np.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    du = np.sqrt((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2)
    return p1 - p2 - dl, p1 - p2 + du


def test_paired_difference_interval_is_newcombes_method_10():
    rng = np.random.default_rng(2)
    for _ in range(200):
        cells = rng.integers(0, 20, size=4)
        if cells.sum() == 0:
            continue
        np.testing.assert_allclose(stats.paired_difference_interval(*cells), newcombe_by_formula(*cells), atol=1e-12)
    # no discordant seeds: an interval around 0 that still has width
    lo, hi = stats.paired_difference_interval(10, 0, 0, 0)
    assert lo < 0 < hi
    with pytest.raises(ConfigError, match="empty"):
        stats.paired_difference_interval(0, 0, 0, 0)


def test_paired_difference_interval_covers_the_true_difference():
    # coverage of the nominal 95% interval, by simulation of correlated paired outcomes (a few designs)
    rng = np.random.default_rng(3)
    reps = 2000
    for n, p_a, p_b, rho in ((10, 0.9, 0.5, 0.3), (50, 0.8, 0.7, 0.5), (50, 0.3, 0.3, 0.0)):
        z = rng.random((reps, n))
        shared = rng.random((reps, n)) < rho
        a = np.where(shared, z, rng.random((reps, n))) < p_a
        b = np.where(shared, z, rng.random((reps, n))) < p_b
        cells = np.stack([(a & b).sum(1), (a & ~b).sum(1), (~a & b).sum(1), (~a & ~b).sum(1)], 1)
        tables, count = np.unique(cells, axis=0, return_counts=True)
        covered = [lo <= p_a - p_b <= hi for lo, hi in (stats.paired_difference_interval(*t) for t in tables)]
        assert np.dot(covered, count) / reps > 0.93, (n, p_a, p_b, rho)


def test_median_interval_is_the_sign_test_inversion():
    rng = np.random.default_rng(4)
    for n in (6, 7, 10, 23, 50):
        v = rng.normal(size=n)
        lo, hi = stats.median_interval(v)
        s = np.sort(v)
        mids = np.r_[s[0] - 1, (s[1:] + s[:-1]) / 2, s[-1] + 1]
        for m in mids:  # the sign test of median m, from scipy: accepted exactly inside the interval
            accepted = sps.binomtest(int((v > m).sum()), n, 0.5).pvalue > 0.05
            assert accepted == (lo < m < hi), (n, m, lo, hi)
    assert stats.median_interval([1.0, 2.0, 3.0]) == (-np.inf, np.inf)  # too few for 95%
    assert stats.median_interval(np.r_[np.zeros(9), np.inf]) == (0.0, 0.0)
    with pytest.raises(ConfigError, match="NaN"):
        stats.median_interval([1.0, np.nan])


def test_sign_test_is_scipys_binomial_test_on_the_signs():
    rng = np.random.default_rng(5)
    for _ in range(30):
        n = int(rng.integers(1, 40))
        a, b = rng.integers(0, 5, n).astype(float), rng.integers(0, 5, n).astype(float)
        for alt in ("two-sided", "greater", "less"):
            t = stats.sign_test(a, b, alt)
            up, down = int((a > b).sum()), int((a < b).sum())
            assert (t.a_larger, t.b_larger, t.ties) == (up, down, n - up - down)
            want = sps.binomtest(up, up + down, 0.5, alternative=alt).pvalue if up + down else 1.0
            assert t.p == pytest.approx(want)
            assert t.median_difference == np.median(a - b)
    t = stats.sign_test([np.inf, 1.0], [np.inf, 0.0])
    assert (t.a_larger, t.ties) == (1, 1)  # two equal infinities tie
    with pytest.raises(ConfigError, match="without NaN"):
        stats.sign_test([1.0, np.nan], [0.0, 0.0])


def test_mean_interval_is_scipys_t_interval():
    v = np.array([0.9, 1.0, 0.95, 0.97, 0.99])
    mean, lo, hi = stats.mean_interval(v)
    ci = sps.ttest_1samp(v, 0).confidence_interval(0.95)
    assert (mean, lo, hi) == pytest.approx((v.mean(), ci.low, ci.high))
    assert stats.mean_interval(np.ones(10)) == (1.0, 1.0, 1.0)
    assert stats.mean_interval([0.5]) == (0.5, -np.inf, np.inf)
    with pytest.raises(ConfigError, match="finite"):
        stats.mean_interval([0.5, np.nan])


def test_paired_speed_keeps_censored_seeds():
    a = np.array([100.0, 110.0, np.nan, 105.0, np.nan, 120.0])
    b = np.array([150.0, np.nan, 160.0, 170.0, np.nan, 100.0])
    r = stats.paired_speed(a, b)
    # seed 1: a reaches, b censored -> a faster; seed 2: a censored -> b faster; seed 4: both censored -> tie
    assert (r.a_faster, r.b_faster, r.ties) == (3, 2, 1)
    assert (r.censored_a, r.censored_b) == (2, 2)
    assert r.p == pytest.approx(sps.binomtest(3, 5, 0.5).pvalue)
    # differences -50, -inf, +inf, -65, 0, +20: median of the middle two (-50, 0)
    assert r.median_difference == -25.0
    assert stats.paired_speed(b, a).a_faster == r.b_faster
    none = stats.paired_speed(np.full(4, np.nan), np.full(4, np.nan))
    assert none.p == 1.0 and none.ties == 4
    with pytest.raises(ConfigError, match="pair the same seeds"):
        stats.paired_speed(a, b[:3])


def test_paired_speed_differs_from_a_test_that_drops_failures():
    # a is always faster when both reach 99%, but fails in many seeds: the paired censored test sees both
    a = np.r_[np.full(6, 100.0), np.full(6, np.nan)]
    b = np.full(12, 200.0)
    r = stats.paired_speed(a, b)
    assert (r.a_faster, r.b_faster) == (6, 6) and r.p == 1.0
    assert sps.mannwhitneyu(a[:6], b).pvalue < 0.01  # what dropping the failures would conclude


def test_compare_runs_reliability_and_speed():
    fast = {"final_accuracy": np.ones(8), "batches_to_99": np.arange(100.0, 108.0), "collision_rate": np.zeros(8)}
    slow = {"final_accuracy": np.r_[np.ones(4), np.full(4, 0.6)], "batches_to_99": np.r_[np.arange(200.0, 204.0),
            np.full(4, np.nan)], "collision_rate": np.full(8, 0.1)}
    c = stats.compare_runs(fast, slow)
    assert c.a.k == 8 and c.b.k == 4
    assert (c.reliability.a_only, c.reliability.b_only) == (4, 0)
    assert c.reliability.p == pytest.approx(0.125)
    assert c.speed.a_faster == 8 and c.speed.p == pytest.approx(2 * 0.5 ** 8)


def test_fdr_adjusted_is_scipys_benjamini_hochberg():
    p = np.array([0.001, 0.04, 0.03, 0.5])
    np.testing.assert_allclose(stats.fdr_adjusted(p), sps.false_discovery_control(p, method="bh"))
    # by hand: sorted 0.001, 0.03, 0.04, 0.5 -> 0.004, 0.04*4/3... monotone from the top
    np.testing.assert_allclose(stats.fdr_adjusted(p), [0.004, 0.05333333, 0.05333333, 0.5], rtol=1e-6)
    with pytest.raises(ConfigError, match="p_values"):
        stats.fdr_adjusted([0.2, 1.5])


def test_rate_se_floors_the_variance_at_one_over_n():
    assert stats.rate_se(0.5, 100) == pytest.approx(0.05)
    assert stats.rate_se(0.0, 2000) == pytest.approx(math.sqrt(1 / 2000 / 2000))
    assert stats.rate_se(1.0, 4) == pytest.approx(math.sqrt(0.25 / 4))
    with pytest.raises(ConfigError, match="rate"):
        stats.rate_se(1.5, 10)
