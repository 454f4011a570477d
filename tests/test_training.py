"""Unit tests of slotless.attention.training and .diagnostics: presets, stacking, definitions, diagnostics."""

import numpy as np
import pytest

from slotless.attention import diagnostics, training
from slotless.checks import ConfigError


def test_paper_preset_resolves_to_the_stated_values():
    t = training.resolve_config("transformer", "paper")
    assert (t.preset, t.paper_time_gradient, t.lr, t.key_lr) == ("paper", True, 1e-3, None)
    f = training.resolve_config("mhn-fixed-wk", "paper")
    assert (f.lr, f.wk_rule) == (5e-3, "fixed")
    q = training.resolve_config("qk-mhn", "paper")
    assert (q.lr, q.key_lr, q.wk_rule) == (5e-3, 1e-4, "qk_align")
    w = training.resolve_config("mhn-wk", "paper")
    assert (w.lr, w.key_lr, w.wk_rule) == (1e-3, 1e-3, "via_mhn")
    for c in (t, f, q, w):
        assert (c.key_dim, c.letters, c.context) == (32, 4, 4)
    for c in (f, q, w):
        assert (c.hidden, c.input_projections) == (8, True)


def test_default_preset_and_key_lr_fallback():
    t = training.resolve_config("transformer")
    assert (t.preset, t.paper_time_gradient, t.lr, t.key_lr) == ("default", False, 1e-3, None)
    assert training.resolve_config("mhn-wk", lr=2e-3).key_lr == 2e-3  # via_mhn: K_lr falls back to lr
    assert training.resolve_config("qk-mhn", lr=2e-3).key_lr == 1e-4
    assert training.resolve_config("mhn-exact-wk").wk_rule == "exact_onehot"
    assert training.resolve_config("mhn-wk", "paper", key_lr=1e-4).key_lr == 1e-4  # explicit override wins
    with pytest.raises(ConfigError, match="preset"):
        training.resolve_config("qk-mhn", "nope")
    with pytest.raises(ConfigError, match="lr"):
        training.resolve_config("qk-mhn", lr=-1.0)
    with pytest.raises(ConfigError, match="model"):
        training.resolve_config("gpt")


def test_batches_to_99_definition():
    acc = np.full((3, 300), 0.98)
    acc[1, 150:] = 1.0  # trailing mean over batches 151..250 reaches 1 -> but 0.99 earlier
    acc[2, :] = 1.0
    got = diagnostics.batches_to_threshold(acc)
    # row 1: mean of last 100 = (k*1 + (100-k)*0.98)/100 >= 0.99 first when k = 50 -> batch 200
    assert got == [None, 200, 100]


@pytest.mark.parametrize("model", ["transformer", "mhn-wk"])
def test_seed_alone_equals_seed_in_stack(model):
    cfg = training.resolve_config(model)
    stack = training.run_sweep(cfg, [0, 1, 2], 60, 16, seed=5)
    alone = training.run_sweep(cfg, [2], 60, 16, seed=5)
    np.testing.assert_allclose(stack.accuracy[2], alone.accuracy[0], atol=1e-12)
    np.testing.assert_allclose(stack.loss[2], alone.loss[0], rtol=1e-4)
    np.testing.assert_allclose(stack.weights["W_K"][2], alone.weights["W_K"][0], rtol=1e-4, atol=1e-6)


def test_learning_the_two_letter_task():
    # L = C = 2: chance is 0.5; with 400 batches both the baseline and an MHN model are near perfect
    for model, extra in (("transformer", {}), ("qk-mhn", {"hidden": 4})):
        cfg = training.resolve_config(model, letters=2, context=2, lr=1e-2, final_window=100, **extra)
        r = training.run_sweep(cfg, 4, 400, 32, seed=0)
        # final-window mean over 100*32 draws; a seed at chance would be 0.5 +- 0.01
        assert np.all(r.final_accuracy > 0.9), (model, r.final_accuracy)
        assert r.accuracy[:, :5].mean() < 0.8


def test_heldout_and_longer_context_evaluation():
    # untrained: held-out accuracy near chance; trained: the in-context rule transfers to unseen sequences
    # and to a longer context (a model that memorised the training split would score ~0.5 there)
    cfg = training.resolve_config("transformer", letters=3, context=2, heldout_fraction=0.25, eval_context=3,
                            eval_size=256, lr=1e-2, final_window=100)
    r0 = training.run_sweep(cfg, 2, 1, 16, seed=0)
    assert r0.heldout_accuracy.shape == (2,) and r0.context_accuracy.shape == (2,)
    assert np.all(r0.heldout_accuracy < 0.9)
    r = training.run_sweep(cfg, 2, 400, 32, seed=0)
    assert np.all(r.final_accuracy > 0.95)
    assert np.all(r.heldout_accuracy > 0.9) and np.all(r.context_accuracy > 0.9)
    cfg_m = training.resolve_config("qk-mhn", letters=3, context=2, hidden=6, heldout_fraction=0.25, eval_context=3,
                              eval_size=64)
    rm = training.run_sweep(cfg_m, 1, 5, 8, seed=0)
    assert 0 <= rm.heldout_accuracy[0] <= 1 and 0 <= rm.context_accuracy[0] <= 1


def test_cosine_tracking_exact_rule_is_exact_when_masked():
    cfg = training.resolve_config("mhn-exact-wk", mask_unrecruited=True, track_cosines=True, dtype="float64")
    r = training.run_sweep(cfg, 2, 10, 8, seed=0)
    ok = r.collisions == 0  # Theorem-4 conditions hold batch-wide
    assert ok.any()
    np.testing.assert_allclose(r.cosines["exact_onehot"][ok], 1.0, atol=1e-9)
    np.testing.assert_allclose(r.cosines["exact_reinstatement"][ok], 1.0, atol=1e-9)
    assert np.all(np.abs(r.cosines["qk_align"]) <= 1 + 1e-9)


def test_weight_diagnostics_on_an_ideal_solution():
    L, dk = 4, 8
    rng = np.random.default_rng(0)
    Q = rng.normal(size=(dk, L))
    W_Q = np.zeros((dk, 3 * L))
    W_Q[:, 2 * L:] = Q
    W_K = np.zeros((dk, 3 * L))
    W_K[:, :L] = Q
    W_K[:, L:2 * L] = Q
    W_V = np.zeros((2, 3 * L))
    W_V[0, :L] = 1
    W_V[1, L:2 * L] = 1
    d = diagnostics.weight_diagnostics({"W_Q": W_Q, "W_K": W_K, "W_V": W_V}, L)
    assert d["wv_ones_minus_zeros"] == pytest.approx(1.0)
    np.testing.assert_allclose(diagnostics.key_query_distance(W_Q, W_K, L), 0, atol=1e-12)
    blk = diagnostics.qk_block(W_Q, W_K, L)
    np.testing.assert_allclose(blk[:, :L], Q.T @ Q)
    cov = diagnostics.key_covariance(W_K, L)
    assert d["keycov_upper_lower_diag_mean"] == pytest.approx(np.mean(np.diag(Q.T @ Q)))
    assert cov.shape == (2 * L, 2 * L)


def test_sweeps_in_worker_processes_equal_sweeps_run_here():
    configs = [training.resolve_config("transformer", letters=2, context=2, key_dim=8),
               training.resolve_config("qk-mhn", letters=2, context=2, hidden=4, key_dim=8)]
    here = training.cached_sweeps(configs, seeds=[2, 3], batches=30, batch_size=8, seed=3, workers=1)
    spread = training.cached_sweeps(configs, seeds=[2, 3], batches=30, batch_size=8, seed=3, workers=2)
    assert [a["final_accuracy"].shape for a, _ in here] == [(2,), (3,)], "results come back in config order"
    for (a, _), (b, _) in zip(here, spread):
        assert a.keys() == b.keys()
        for name in a:
            if name != "seconds":
                np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_sweeps_need_one_seed_count_per_config():
    configs = [training.resolve_config("transformer", letters=2, context=2)] * 2
    with pytest.raises(ConfigError, match="seeds has 1 entries for 2 configs"):
        training.cached_sweeps(configs, seeds=[2], batches=1, workers=1)


def test_first_seeds_of_a_larger_sweep_are_the_smaller_sweep():
    cfg = training.resolve_config("qk-mhn", letters=2, context=2, hidden=4, key_dim=8, track_cosines=True)
    big = training.result_arrays(training.run_sweep(cfg, 5, 40, 8, seed=1))
    small = training.result_arrays(training.run_sweep(cfg, 2, 40, 8, seed=1))
    cut = training.first_seeds(big, 2)
    assert cut.keys() == small.keys()
    for name in small:
        if name != "seconds":
            assert cut[name].shape == small[name].shape, name
            np.testing.assert_allclose(cut[name], small[name], rtol=1e-4, atol=1e-5, err_msg=name)
    with pytest.raises(ConfigError, match="n=6 is more than the 5 seeds"):
        training.first_seeds(big, 6)


def test_cosines_every_kth_batch_leave_training_and_the_tracked_values_unchanged():
    base = dict(letters=2, context=2, hidden=4, key_dim=8, track_cosines=True)
    every = training.run_sweep(training.resolve_config("qk-mhn", **base), 2, 30, 8, seed=2)
    sparse = training.run_sweep(training.resolve_config("qk-mhn", cosine_every=7, **base), 2, 30, 8, seed=2)
    np.testing.assert_array_equal(sparse.accuracy, every.accuracy)
    np.testing.assert_array_equal(sparse.weights["W_K"], every.weights["W_K"])
    for rule, c in sparse.cosines.items():
        assert np.all(np.isfinite(c[:, ::7])) and np.all(np.isnan(np.delete(c, np.s_[::7], axis=1))), rule
        np.testing.assert_array_equal(c[:, ::7], every.cosines[rule][:, ::7])
    assert np.all(np.isfinite(diagnostics.binned(sparse.cosines["qk_align"], 10))), "bins average the tracked batches"


def test_mhn_only_settings_are_refused_for_the_transformer():
    for setting in ({"hidden": 4}, {"key_lr": 1e-4}, {"mask_unrecruited": True}, {"input_projections": False}):
        with pytest.raises(ConfigError, match="only apply to the MHN models"):
            training.resolve_config("transformer", **setting)
