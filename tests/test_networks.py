"""The K-winner / 1-winner MHN readable path (slotless.memory.network, ch-kwinner).

Statistical tolerances: counts are compared within 5 binomial standard deviations.
"""

import copy
import math

import numpy as np
import pytest

from slotless.checks import ConfigError
from slotless.memory import network as nw
from slotless.memory.network import (
    PRESETS,
    NetworkConfig,
    hidden_drive,
    init_network,
    learn,
    output,
    preset,
    retrieve,
    select_winners,
)
from slotless.memory.patterns import partial_cue, random_patterns

MAIN, ALT, MHN = PRESETS["kwinner"], PRESETS["kwinner-alt"], PRESETS["mhn"]
SMALL = NetworkConfig(n_input=60, n_hidden=40, active=8, fan_in=0.25, winners=5, epsilon=0.3)


def rng(i=0):
    return np.random.default_rng(i)


def test_presets_are_the_paper_runsets_with_matched_connections():
    assert (MAIN.n_input, MAIN.n_hidden, MAIN.active, MAIN.fan_in, MAIN.winners, MAIN.epsilon) == (
        1000, 2000, 100, 0.05, 50, 0.3)
    assert (ALT.n_hidden, ALT.fan_in) == (1000, 0.1)
    assert (MHN.n_hidden, MHN.fan_in, MHN.winners, MHN.epsilon) == (100, 1.0, 1, 1.0)
    assert {c.connections for c in PRESETS.values()} == {100_000}
    assert MAIN.fan_in_count == 50
    assert preset("kwinner", winners=65).winners == 65


@pytest.mark.parametrize("overrides, name", [
    (dict(fan_in=0.0333), "fan_in"),
    (dict(winners=41), "winners"),
    (dict(epsilon=0.0), "epsilon"),
    (dict(epsilon=1.5), "epsilon"),
    (dict(active=61), "active"),
    (dict(winner_rule="best"), "winner_rule"),
    (dict(tie_break="first"), "tie_break"),
])
def test_config_rejects_bad_values_naming_the_parameter(overrides, name):
    with pytest.raises(ConfigError, match=name):
        SMALL.replace(**overrides)


def test_mask_has_exactly_f_times_n_inputs_per_hidden_unit_and_weights_live_on_it():
    net = init_network(SMALL, rng(1), dtype="float64")
    assert np.all(net.mask.sum(axis=1) == 15)
    assert np.all(net.w_xy[~net.mask] == 0) and np.all(net.w_yx[~net.mask.T] == 0)
    on = net.w_xy[net.mask]
    assert np.all((on >= 0) & (on < 1)) and np.all(net.w_yx[net.mask.T] < 1)
    assert not np.allclose(net.w_xy, net.w_yx.T), "U1 and U2 must be independent draws"
    assert abs(on.mean() - 0.5) < 5 * math.sqrt(1 / 12 / on.size)


def test_mask_inputs_are_uniform():
    net = init_network(SMALL.replace(n_hidden=400), rng(2))
    counts = net.mask.sum(axis=0)
    p = 15 / 60
    assert np.all(np.abs(counts - 400 * p) < 5 * math.sqrt(400 * p * (1 - p)))


def test_only_winners_existing_connections_change_and_winners_come_from_pre_update_weights():
    net = init_network(SMALL, rng(3), dtype="float64")
    xs = random_patterns(30, 60, 8, rng(4))
    for x in xs:
        before = copy.deepcopy(net)
        expected = select_winners(hidden_drive(before, x), SMALL.winners, "random",
                                  key=_learn_key(before))
        winners = learn(net, x)
        assert np.array_equal(winners, expected)
        changed_rows = np.flatnonzero(np.any(net.w_xy != before.w_xy, axis=1))
        changed_cols = np.flatnonzero(np.any(net.w_yx != before.w_yx, axis=0))
        assert set(changed_rows) <= set(winners) and set(changed_cols) <= set(winners)
        assert np.all(net.w_xy[~net.mask] == 0) and np.all(net.w_yx[~net.mask.T] == 0)
        for u in winners:  # moved by eps toward x on the mask
            cols = net.mask[u]
            np.testing.assert_allclose(net.w_xy[u, cols], 0.7 * before.w_xy[u, cols] + 0.3 * x[cols],
                                       rtol=0, atol=1e-15)
            np.testing.assert_allclose(net.w_yx[cols, u], 0.7 * before.w_yx[cols, u] + 0.3 * x[cols],
                                       rtol=0, atol=1e-15)


def _learn_key(net):
    from slotless.memory.network import PHASE_LEARN, step_key

    return step_key(net.tie_seed, PHASE_LEARN, net.n_learned)


def test_symmetry_identity_of_the_two_weight_matrices():
    net = init_network(SMALL, rng(5), dtype="float64")
    diff0 = net.w_xy - net.w_yx.T
    for x in random_patterns(200, 60, 8, rng(6)):
        learn(net, x)
    factor = (0.7 ** net.wins)[:, None]
    np.testing.assert_allclose(net.w_xy - net.w_yx.T, factor * diff0, rtol=0, atol=1e-12)
    assert net.wins.sum() == 200 * 5


def test_mhn_overwrites_the_winner_row_and_column_with_the_pattern():
    cfg = MHN.replace(n_input=50, n_hidden=12, active=6)
    net = init_network(cfg, rng(7))
    for x in random_patterns(40, 50, 6, rng(8)):
        (u,) = learn(net, x)
        assert np.array_equal(net.w_xy[u], x.astype(net.dtype))
        assert np.array_equal(net.w_yx[:, u], x.astype(net.dtype))
        # the newest memory is retrieved exactly from its full pattern
        assert np.array_equal(retrieve(net, x[None])[0], x)


def test_retrieval_outputs_exactly_s_ones_and_never_changes_weights():
    net = init_network(SMALL, rng(9))
    for x in random_patterns(50, 60, 8, rng(10)):
        learn(net, x)
    w_xy, w_yx = net.w_xy.copy(), net.w_yx.copy()
    out = retrieve(net, random_patterns(20, 60, 3, rng(11)))
    assert out.dtype == np.uint8 and np.all(out.sum(axis=1) == 8)
    assert np.array_equal(net.w_xy, w_xy) and np.array_equal(net.w_yx, w_yx)
    # output is the sum of the winners' columns
    winners = np.array([0, 3, 7])
    np.testing.assert_allclose(output(net, winners), net.w_yx[:, winners].sum(axis=1), rtol=1e-6)


def test_ties_keep_values_above_the_kth_and_fill_uniformly_from_the_tied():
    drive = np.array([3.0, 3.0, 3.0, 1.0, 5.0, 3.0])
    picks = np.zeros(6, int)
    n = 3000
    for key in range(n):
        w = select_winners(drive, 2, "random", key=key)
        assert 4 in w and len(w) == 2 and np.all(np.diff(w) > 0)
        picks[w] += 1
    tied = picks[[0, 1, 2, 5]]
    assert tied.sum() == n and picks[3] == 0
    sd = math.sqrt(n * 0.25 * 0.75)
    assert np.all(np.abs(tied - n / 4) < 5 * sd), tied
    assert list(select_winners(drive, 2, "lowest_index")) == [0, 4]
    assert list(select_winners(drive, 4, "random", key=1)) == [0, 1, 2, 4, 5][:0] or len(
        select_winners(drive, 4, "random", key=1)) == 4


def test_random_winner_rule_ignores_the_drive_and_is_uniform():
    cfg = SMALL.replace(winner_rule="random")
    net = init_network(cfg, rng(12))
    x = random_patterns(1, 60, 8, rng(13))[0]
    for _ in range(800):
        learn(net, x)  # the same pattern: top-k would keep choosing similar units
    p = 5 / 40
    sd = math.sqrt(800 * p * (1 - p))
    assert np.all(np.abs(net.wins - 800 * p) < 5 * sd), net.wins


def test_tie_break_random_spreads_mhn_overwrites_over_units():
    # Fresh 1-winner networks with integer drives: with random ties each unit is overwritten
    # about equally often; lowest_index would favour low indices.
    cfg = MHN.replace(n_input=40, n_hidden=10, active=4)
    wins = np.zeros(10)
    for i in range(30):
        net = init_network(cfg, rng(100 + i))
        for x in random_patterns(60, 40, 4, rng(200 + i)):
            learn(net, x)
        wins += net.wins
    total = wins.sum()
    sd = math.sqrt(total * 0.1 * 0.9)
    assert np.all(np.abs(wins - total / 10) < 5 * sd), wins


def test_threshold_quickselect_equals_partition_whatever_the_carried_threshold():
    from slotless.memory.kernels import kth_largest as _kth_largest

    gen = rng(20)
    tau = np.full(1, -np.inf)
    for trial in range(300):
        n = int(gen.integers(5, 200))
        k = int(gen.integers(2, n))
        values = gen.integers(0, 6, n).astype(np.float32) if trial % 3 == 0 else gen.random(n).astype(np.float32)
        if trial % 7 == 0:
            tau[0] = gen.normal()  # a stale threshold from elsewhere
        expected = np.partition(values, n - k)[n - k]
        assert _kth_largest(values.copy(), k, tau) == expected


# ---------------------------------------------------------- ch-kwinner: one network, step by step
SMALL_MHN = NetworkConfig(n_input=60, n_hidden=12, active=8, fan_in=1.0, winners=1, epsilon=1.0)


def _trained(cfg=SMALL, n=30, seed=20, dtype="float32"):
    net = init_network(cfg, rng(seed), dtype=dtype)
    w0_xy, w0_yx = net.w_xy.copy(), net.w_yx.copy()
    x = random_patterns(n, cfg.n_input, cfg.active, rng(seed + 1))
    return net, w0_xy, w0_yx, x, nw.learn_sequence(net, x)


def test_mask_counts_match_the_mask_and_the_binomial_law():
    net = init_network(SMALL, rng(21))
    c = nw.mask_counts(net)
    assert np.all(c.fan_in == SMALL.fan_in_count) and c.fan_out.sum() == SMALL.connections
    np.testing.assert_array_equal(c.fan_out, net.mask.sum(axis=0))
    assert math.isclose(c.binomial_var, SMALL.n_hidden * 0.25 * 0.75)
    assert math.isclose(c.binomial_var_se, c.binomial_var * math.sqrt(2 / (SMALL.n_input - 1)))


def test_ensemble_of_predicts_learn_and_changes_nothing():
    net = init_network(SMALL, rng(22))
    x = random_patterns(5, SMALL.n_input, SMALL.active, rng(23))
    for p in x:
        before = net.w_xy.copy()
        e = nw.ensemble_of(net, p)
        assert np.array_equal(before, net.w_xy) and net.n_learned == int(np.sum(net.wins)) // SMALL.winners
        np.testing.assert_array_equal(e.seen, net.mask[:, p.astype(bool)].sum(axis=1))
        assert e.threshold == e.drive[e.winners].min() >= e.drive[e.others].max()
        np.testing.assert_array_equal(e.winners, learn(net, p))
    assert e.expected_seen == SMALL.fan_in_count * SMALL.active / SMALL.n_input


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_learn_step_records_the_update_within_its_rounding_bound(dtype):
    net = init_network(SMALL, rng(24), dtype=dtype)
    x = random_patterns(20, SMALL.n_input, SMALL.active, rng(25))
    nw.learn_sequence(net, x[:10])
    step = nw.learn_step(net, x[10])
    np.testing.assert_array_equal(step.changed_rows, step.winners)
    np.testing.assert_array_equal(step.changed_columns, step.winners)
    assert step.absent_unchanged
    assert max(step.deviation_xy, step.deviation_yx) <= step.bound == nw.update_rounding_bound(0.3, dtype)
    np.testing.assert_allclose(step.before_xy + step.d_xy, net.w_xy)


def test_rounding_bounds_scale_with_the_unit_roundoff():
    u32, u64 = 2.0**-24, 2.0**-53
    assert math.isclose(nw.update_rounding_bound(0.3), 2.7 * u32)
    assert math.isclose(nw.average_rounding_bound(0.3, "float64"), 1.7 * u64 / 0.3)


def test_learn_sequence_equals_learning_one_at_a_time():
    a, b = init_network(SMALL, rng(26)), init_network(SMALL, rng(26))
    x = random_patterns(15, SMALL.n_input, SMALL.active, rng(27))
    history = nw.learn_sequence(a, x)
    assert history.shape == (15, SMALL.winners)
    for t, p in enumerate(x):
        np.testing.assert_array_equal(history[t], learn(b, p))
    np.testing.assert_array_equal(a.w_xy, b.w_xy)


def test_last_wins_and_still_held():
    history = np.array([2, 0, 2, 1, 0, 2])
    np.testing.assert_array_equal(nw.last_wins(history, 4), [4, 3, 5, -1])
    np.testing.assert_array_equal(nw.still_held(history), [False, False, False, True, True, True])
    k_hist = np.array([[0, 1], [1, 2], [0, 3]])
    np.testing.assert_array_equal(nw.last_wins(k_hist, 5), [2, 1, 1, 2, -1])
    with pytest.raises(ConfigError, match="1-winner"):
        nw.still_held(k_hist)


def test_usage_window_counts_wins_and_the_binomial_ratio():
    net, *_, history = _trained(n=40)
    w = nw.usage_window(history, SMALL.n_hidden, 10, 40)
    assert w.counts.sum() == 30 * SMALL.winners and w.steps == 30 and w.p == SMALL.winners / SMALL.n_hidden
    assert math.isclose(w.var_ratio, w.counts.var() / (30 * w.p * (1 - w.p)))
    np.testing.assert_array_equal(nw.usage_window(history, SMALL.n_hidden, 0, 40).counts, net.wins)
    # uniformly random winners: the variance ratio is 1 within a few of its standard errors
    g = rng(28)
    random_history = np.array([g.choice(400, 10, replace=False) for _ in range(2000)])
    ratio = nw.usage_window(random_history, 400, 0, 2000)
    assert abs(ratio.var_ratio - 1) < 5 * ratio.ratio_se


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_symmetry_check_and_exponential_average_hold_within_their_bounds(dtype):
    net, w0_xy, w0_yx, x, history = _trained(n=60, dtype=dtype)
    sym = nw.symmetry_check(net, w0_xy, w0_yx)
    assert sym.error <= sym.bound and sym.unit_roundoff == np.finfo(dtype).eps / 2
    avg = nw.exponential_average(net, w0_xy, history, x)
    assert avg.error <= avg.bound
    assert np.all(avg.won.sum(axis=1) == SMALL.winners) and np.all(avg.trace[~avg.won] == 0)
    last = np.flatnonzero(avg.won[:, history[-1][0]])[-1]
    assert math.isclose(avg.trace[last, history[-1][0]], float(np.dtype(dtype).type(0.3)))


def test_frozen_winners_and_ensemble_sharing():
    net, *_ = _trained(n=30)
    net_h, *_ = _trained(SMALL_MHN, n=30)
    p = random_patterns(1, SMALL.n_input, SMALL.active, rng(29))[0]
    before = (net.w_xy.copy(), net.n_retrieved)
    np.testing.assert_array_equal(nw.frozen_winners(net, p, 3), nw.frozen_winners(net, p, 3))
    assert np.array_equal(before[0], net.w_xy) and before[1] == net.n_retrieved
    probes_k, probes_h = nw.ensemble_sharing([net, net_h], [0, 2, 8], 6, rng(30))
    assert probes_k.shared.shape == (3, 6)
    np.testing.assert_allclose(probes_k.pattern_overlap, [1.0, 0.75, 0.0])
    assert np.all(probes_k.shared[0] == 1)  # a pattern shares its whole ensemble with itself
    assert set(np.unique(probes_h.shared)) <= {0.0, 1.0}
    np.testing.assert_allclose(probes_k.se, probes_k.shared.std(1, ddof=1) / np.sqrt(6))
    assert -1 <= probes_k.spearman <= 1
    with pytest.raises(ConfigError, match="n_input"):
        nw.ensemble_sharing([net, init_network(SMALL.replace(n_input=80), rng(0))], [0], 2, rng(0))


def test_retrieval_accuracy_scores_against_the_full_pattern():
    net, *_, x, _ = _trained(n=20)
    cues = partial_cue(x, 0.5, rng(31))
    twin = init_network(SMALL, rng(20))
    nw.learn_sequence(twin, x)
    acc = nw.retrieval_accuracy(net, cues, x)
    expected = (retrieve(twin, cues) & x).sum(axis=1) / SMALL.active
    np.testing.assert_array_equal(acc, expected)
    assert acc.shape == (20,) and np.all((acc >= 0) & (acc <= 1))


def test_compiled_selection_equals_the_readable_rule_whatever_the_carried_threshold():
    # The engine's top-k (threshold candidates, branch-free passes) must pick exactly the units of
    # select_winners, ties included (integer-valued drives tie often), for both tie-breaks.
    from slotless.memory.kernels import select_top

    gen = rng(21)
    tau = np.full(1, -np.inf)
    for trial in range(400):
        n = int(gen.integers(2, 300))
        k = int(gen.integers(1, n + 1))
        if trial % 2 == 0:
            values = gen.integers(0, 5, n).astype(np.float32)
        else:
            values = gen.random(n).astype(np.float64 if trial % 4 == 1 else np.float32)
        if trial % 7 == 0:
            tau[0] = gen.normal()  # a stale threshold from elsewhere
        key = np.uint64(gen.integers(0, 2**63))
        for tie_break in ("random", "lowest_index"):
            got = select_top(values, k, tie_break == "lowest_index", key, tau)
            assert np.array_equal(got, select_winners(values, k, tie_break, key)), (trial, tie_break)
