"""Unit tests of slotless.attention.stats: success counts, exact intervals, Fisher and Mann-Whitney contrasts,
the per-run summary of the training chapter."""

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


def test_fisher_p_is_scipys_test_on_the_two_by_two_table():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n_a, n_b = rng.integers(1, 30, size=2)
        a = stats.SuccessCount(int(rng.integers(0, n_a + 1)), int(n_a))
        b = stats.SuccessCount(int(rng.integers(0, n_b + 1)), int(n_b))
        table = [[a.k, a.n - a.k], [b.k, b.n - b.k]]
        for alt in ("two-sided", "greater", "less"):
            assert stats.fisher_p(a, b, alt) == pytest.approx(sps.fisher_exact(table, alternative=alt)[1], rel=1e-12)
        assert stats.fisher_p(a, b) == pytest.approx(stats.fisher_p(b, a))
        assert stats.fisher_p(a, b, "greater") == pytest.approx(stats.fisher_p(b, a, "less"))
    assert stats.fisher_p(stats.SuccessCount(8, 8), stats.SuccessCount(8, 8)) == 1.0
    assert stats.fisher_p(stats.SuccessCount(10, 10), stats.SuccessCount(0, 10), "greater") < 1e-4


def test_fisher_p_refuses_bad_input():
    with pytest.raises(ConfigError, match="alternative"):
        stats.fisher_p(stats.SuccessCount(1, 2), stats.SuccessCount(1, 2), "bigger")
    with pytest.raises(ConfigError, match="k=3 successes of n=2"):
        stats.fisher_p(stats.SuccessCount(3, 2), stats.SuccessCount(1, 2))


def test_pooled_adds_counts():
    assert stats.pooled([stats.SuccessCount(3, 6), stats.SuccessCount(6, 6)]) == (9, 12)
    assert stats.pooled(iter([stats.SuccessCount(1, 2)])) == (1, 2)
    with pytest.raises(ConfigError, match="empty"):
        stats.pooled([])


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


def test_speed_contrast_uses_the_seeds_that_reach_99():
    a = np.array([100.0, 110.0, np.nan, 105.0])
    b = np.array([150.0, np.nan, 160.0, 170.0, 155.0])
    c = stats.speed_contrast(a, b)
    assert (c.median_a, c.median_b) == (105.0, 157.5)
    assert c.p == pytest.approx(sps.mannwhitneyu([100, 110, 105], [150, 160, 170, 155]).pvalue)
    empty = stats.speed_contrast(np.full(3, np.nan), b)
    assert math.isnan(empty.p) and math.isnan(empty.median_a) and empty.median_b == 157.5


def test_compare_runs_reliability_and_speed():
    fast = {"final_accuracy": np.ones(8), "batches_to_99": np.arange(100.0, 108.0), "collision_rate": np.zeros(8)}
    slow = {"final_accuracy": np.r_[np.ones(4), np.full(4, 0.6)], "batches_to_99": np.r_[np.arange(200.0, 204.0),
            np.full(4, np.nan)], "collision_rate": np.full(8, 0.1)}
    c = stats.compare_runs(fast, slow)
    assert c.a.k == 8 and c.b.k == 4 and c.more and c.faster
    assert c.p_reliability == pytest.approx(sps.fisher_exact([[8, 0], [4, 4]])[1])
    assert c.speed.p < 0.05
    assert not stats.compare_runs(slow, fast).more and not stats.compare_runs(slow, fast).faster


def test_rate_se_floors_the_variance_at_one_over_n():
    assert stats.rate_se(0.5, 100) == pytest.approx(0.05)
    assert stats.rate_se(0.0, 2000) == pytest.approx(math.sqrt(1 / 2000 / 2000))
    assert stats.rate_se(1.0, 4) == pytest.approx(math.sqrt(0.25 / 4))
    with pytest.raises(ConfigError, match="rate"):
        stats.rate_se(1.5, 10)
