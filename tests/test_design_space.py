"""slotless.memory.design_space: windows and sizes that scale with the network, the per-sample reductions,
the paired tests, the crossover age, the law ratio, the front, and the chapter's grids."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from slotless.checks import ConfigError
from slotless.memory import design_space as ds
from slotless.memory import metrics
from slotless.memory.network import PRESETS
from slotless.memory.theory import decay_rate_kwinner


def test_windows_scale_with_the_network():
    assert [ds.scaled_window(w, 1.0) for w in ds.DESIGN_WINDOWS.values()] == [(1, 20), (51, 100), (201, 500)]
    assert [ds.scaled_window(w, 0.4) for w in ds.DESIGN_WINDOWS.values()] == [(1, 8), (21, 40), (81, 200)]
    assert [ds.scaled_window(w, 0.2) for w in ds.DESIGN_WINDOWS.values()] == [(1, 4), (11, 20), (41, 100)]
    assert ds.scaled_window((1, 20), 2.0) == (1, 40) and ds.scaled_window((51, 100), 2.0) == (101, 200)
    with pytest.raises(ConfigError, match="scale=0"):
        ds.scaled_window((1, 20), 0)


def test_the_scaled_setting_at_the_papers_size_is_the_papers():
    kwinner, mhn, n_mem = ds.scaled_setting(1.0)
    assert kwinner == PRESETS["kwinner"] and mhn == PRESETS["mhn"] and n_mem == 2000
    kwinner, mhn, n_mem = ds.scaled_setting(0.4, winners=65, fan_in=0.1)
    assert (kwinner.n_input, kwinner.active, kwinner.n_hidden, kwinner.winners, kwinner.fan_in) == (400, 40, 400, 26, 0.1)
    assert mhn.n_hidden == 40 and kwinner.connections == mhn.connections and n_mem == 800
    with pytest.raises(ConfigError, match="scale=0.5: winners = 32.5 is not a whole number"):
        ds.scaled_setting(0.5, winners=65)


def _runs(rng, trials=40, ages=30, shift=0.2):
    real = rng.integers(0, 11, (trials, ages)) / 10
    pseudo = np.clip(real - shift + rng.normal(0, 0.1, (trials, ages)), 0, 1)
    return real, pseudo, rng.random((trials, ages))


def test_summarise_matches_the_metrics_it_reduces_with():
    rng = np.random.default_rng(0)
    real, pseudo, trace = _runs(rng)
    s = ds.summarise(real, pseudo, trace, samples=4, max_age=20)
    np.testing.assert_array_equal(s.dprime, metrics.paired_dprime(real[:, :20], pseudo[:, :20], 4))
    np.testing.assert_array_equal(s.rd, metrics.raw_difference(real[:, :20], pseudo[:, :20], 4))
    np.testing.assert_allclose(s.real.mean(axis=0), real[:, :20].mean(axis=0))
    np.testing.assert_allclose(s.trace, trace[:, :20].mean(axis=0))
    assert s.pseudo_baseline == pytest.approx(pseudo.mean()) and s.ages.tolist() == list(range(1, 21))
    with pytest.raises(ConfigError, match="max_age=31"):
        ds.summarise(real, pseudo, trace, 4, max_age=31)


def test_window_values_skip_non_finite_d_primes():
    curves = np.array([[1.0, np.inf, 3.0, 5.0], [np.nan, np.nan, 2.0, 2.0]])
    np.testing.assert_allclose(ds.window_values(curves, (1, 3)), [2.0, 2.0])
    assert np.isnan(ds.window_values(curves, (1, 2))[1])
    with pytest.raises(ConfigError, match="window"):
        ds.window_values(curves, (2, 5))


def test_paired_difference_is_scipys_paired_t():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1, 1, 10), rng.normal(0.5, 1, 10)
    got = ds.paired_difference(a, b)
    ref = stats.ttest_rel(a, b)
    ci = ref.confidence_interval()
    assert got == pytest.approx((np.mean(a - b), ci.low, ci.high, ref.pvalue))
    assert ds.paired_difference(np.arange(5.0) + 1, np.arange(5.0)).low == 1.0  # a constant difference
    with pytest.raises(ConfigError, match="paired"):
        ds.paired_difference(a, b[:5])


def test_the_crossover_is_the_first_age_at_which_the_kwinner_is_above():
    ages = np.arange(1, 101)
    mhn = 0.6 * 0.95 ** (ages - 1)
    kw = 0.3 * 0.99 ** (ages - 1)
    first = int(np.argmax(kw > mhn) + 1)
    assert ds.crossover_age(kw, mhn) == first
    assert ds.crossover_age(np.tile(kw, (5, 1)), np.tile(mhn, (5, 1))) == first
    assert math.isnan(ds.crossover_age(kw * 0, mhn))


def test_the_crossover_interval_resamples_samples_in_pairs():
    rng = np.random.default_rng(2)
    ages = np.arange(1, 81)
    mhn = 0.6 * 0.95 ** (ages - 1) + rng.normal(0, 0.01, (10, 80))
    kw = 0.3 * 0.99 ** (ages - 1) + rng.normal(0, 0.01, (10, 80))
    got = ds.crossover_interval(kw, mhn, n_boot=500, seed=3)
    assert got.low <= got.value <= got.high and got.high - got.low < 10
    never = ds.crossover_interval(kw * 0, mhn + 0.5, n_boot=200)
    assert math.isnan(never.value) and never.low == never.high == 81  # "not within the 80 ages run"
    # the same noise in both models cancels exactly, whatever the resample
    shared = rng.normal(0, 0.05, (10, 80))
    exact = ds.crossover_interval(kw + shared, mhn + shared, n_boot=200)
    assert exact.low == exact.high == ds.crossover_age(kw, mhn)


def test_significant_ages_are_the_authors_markers():
    rng = np.random.default_rng(4)
    a, b = rng.normal(1, 1, (10, 50)), rng.normal(1, 1, (10, 50))
    a[:, :10] += 3
    b[:, 40:] += 3
    marks = metrics.one_tailed_markers(a, b, alpha=0.01, ddof=0)
    assert ds.significant_ages(a, b) == (marks.a_better.sum(), marks.b_better.sum())
    assert ds.significant_ages(a, b)[0] >= 10 and ds.significant_ages(a, b)[1] >= 10


def test_the_law_ratio_is_one_when_rd_follows_the_law():
    net = PRESETS["kwinner"]
    lam = decay_rate_kwinner(net.n_hidden, net.winners, net.epsilon)
    ages = np.arange(1, 1001)
    rng = np.random.default_rng(5)
    rd = 0.4 * np.exp(-lam * (ages - 1)) * (1 + rng.normal(0, 0.02, (10, 1000)))
    got = ds.law_ratio(rd, net, n_boot=200)
    assert got.value == pytest.approx(1.0, abs=0.02) and got.low <= 1.0 <= got.high
    slower = ds.law_ratio(0.4 * np.exp(-0.5 * lam * (ages - 1)) * np.ones((10, 1)) + rd * 0, net, n_boot=100)
    assert slower.value == pytest.approx(0.5, abs=1e-6)
    fit = ds.decay_rate(rd, (1, 200), n_boot=100)
    assert fit.value == pytest.approx(lam, rel=0.05)


def test_the_pareto_front_keeps_the_non_dominated_points():
    young = np.array([1.0, 2.0, 3.0, 2.0, 1.0])
    old = np.array([3.0, 2.0, 1.0, 1.0, 3.0])
    assert ds.pareto_front(young, old).tolist() == [True, True, True, False, True]


def test_a_design_dominates_only_if_better_in_both_windows():
    rng = np.random.default_rng(6)
    base = rng.normal(0, 0.1, (1, 10))
    young = np.vstack([base, base + 1, base + 1, base - 1]) + rng.normal(0, 0.05, (4, 10))
    old = np.vstack([base, base + 1, base - 1, base + 1]) + rng.normal(0, 0.05, (4, 10))
    assert ds.dominating_points(young, old, 0).tolist() == [False, True, False, False]
    assert not ds.dominating_points(young, old, 1).any()


def _summary(rng, shift, ages=40, samples=4):
    real, pseudo, trace = _runs(rng, trials=samples * 5, ages=ages, shift=shift)
    return ds.summarise(real, pseudo, trace, samples)


def test_a_grid_lists_each_design_once_and_selects_its_families():
    grid = ds.DesignGrid(scale=0.4, winners=(10, 50), epsilons=(0.3, 1.0), fan_ins=(0.05, 0.1), scales=(0.2, 0.4),
                         variant_scale=0.4, samples=4, runs=5, seed=0)
    points = grid.points()
    designs = {p[:4] for p in points}
    # (k, eps) 4 + fan-in 1 new + scaling 1 new + variants 2 new (the paper's point is in the grid)
    assert len(designs) == 8 and len(points) == 16 and grid.trials == 20
    assert points[0] == ds.DesignPoint(0.4, 10, 0.3, 0.05, 1.0)
    table = pd.DataFrame([dict(zip(("scale", "winners", "epsilon", "fan_in", "cue"), p)) for p in points])
    assert len(grid.select(table, "k-epsilon")) == 8 and len(grid.select(table, "variants")) == 6
    with pytest.raises(ConfigError, match="family='nope'"):
        grid.select(table, "nope")
    fewer = ds.DesignGrid(0.4, (10, 50), (0.3, 1.0), (0.05, 0.1), (0.2, 0.4), 1.0, 4, 5, 0, variant_cues=(1.0,))
    assert len(fewer.points()) == 2 * 6 + 3  # the paper-size designs at full cues only
    table = pd.DataFrame([dict(zip(("scale", "winners", "epsilon", "fan_in", "cue"), p)) for p in fewer.points()])
    assert len(fewer.select(table, "variants")) == 3 and len(fewer.select(table, "k-epsilon")) == 8
    assert ds.choose_grid({"book": grid}, None) is grid
    with pytest.raises(ConfigError, match="grid='huge' is not allowed"):
        ds.choose_grid({"book": grid}, "huge")


def test_the_design_table_and_the_sweep_row():
    rng = np.random.default_rng(7)
    point = ds.DesignPoint(0.02, 50, 0.3, 0.05, 1.0)  # n_h of the MHN 2, ages up to 40
    results = {point: (_summary(rng, 0.3), _summary(rng, 0.1))}
    table = ds.design_table(results, n_boot=200)
    row = table.iloc[0]
    assert row.k == 1 and row.mhn_hidden == 2 and row.young_low <= row.young_diff <= row.young_high
    assert row.crossover_low <= row.crossover <= row.crossover_high
    kw, mhn = results[point]
    line = ds.comparison_row(kw, mhn, point.setting()[0], windows=((1, 20), (21, 50)))
    assert "dprime_1_20" in line and "dprime_21_50" not in line  # windows past the ages run are left out
    assert line["dprime_1_20"] == pytest.approx(np.mean(ds.window_values(kw.dprime, (1, 20))))
    assert line["crossover_age"] == ds.crossover_age(kw.rd, mhn.rd) or math.isnan(line["crossover_age"])


def test_front_needs_its_reference_among_the_points():
    rng = np.random.default_rng(8)
    points = [ds.DesignPoint(0.1, k, 0.3, 0.05, 1.0) for k in (10, 50)]
    results = {p: (_summary(rng, 0.2, ages=200, samples=4), None) for p in points}
    f = ds.front(results, points, points[1])
    assert f.young.shape == (2, 4) and f.reference == 1
    with pytest.raises(ConfigError, match="reference"):
        ds.front(results, points[:1], points[1])
