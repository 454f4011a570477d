"""Unit tests of slotless.attention.training and .diagnostics: presets, stacking, definitions, diagnostics."""

import re

import numpy as np
import pytest

from slotless.attention import claims, diagnostics, training
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
    # untrained: held-out accuracy near chance; trained on 3 letters at context 2, the in-context rule transfers to
    # reordering classes never trained and to a longer context
    cfg = training.resolve_config("transformer", letters=3, context=2, heldout_split="classes", eval_context=3,
                                  eval_size=256, lr=1e-2, final_window=100)
    assert cfg.heldout_fraction == 0.25 and cfg.heldout_letters is None  # the split's default, filled in
    r0 = training.run_sweep(cfg, 2, 1, 16, seed=0)
    assert r0.heldout_accuracy.shape == (2,) and r0.context_accuracy.shape == (2,)
    assert np.all(r0.heldout_accuracy < 0.9)
    r = training.run_sweep(cfg, 2, 400, 32, seed=0)
    assert np.all(r.final_accuracy > 0.95)
    assert np.all(r.heldout_accuracy > 0.9) and np.all(r.context_accuracy > 0.9)
    # each seed has its own split; the result lists it
    assert r.heldout_sequences.shape == (2, 6 * 2) and set(r.heldout_sequences[0]) != set(r.heldout_sequences[1])
    assert all(len(s) == 4 and s[2] == "?" for s in r.heldout_sequences[0])
    arrays = training.result_arrays(r)
    assert arrays["heldout_sequences"].tolist() == r.heldout_sequences.tolist()
    cfg_m = training.resolve_config("qk-mhn", letters=3, context=2, hidden=6, heldout_split="pairs", eval_context=3,
                                    eval_size=64)
    assert cfg_m.heldout_letters == 1 and cfg_m.heldout_fraction is None
    rm = training.run_sweep(cfg_m, 1, 5, 8, seed=0)
    assert 0 <= rm.heldout_accuracy[0] <= 1 and 0 <= rm.context_accuracy[0] <= 1
    assert all(s.endswith("?a") and "A" in s for s in rm.heldout_sequences[0])


@pytest.mark.parametrize("extra,message", [
    (dict(heldout_fraction=0.3), "heldout_fraction=0.3 needs a held-out split"),
    (dict(heldout_split="pairs", heldout_fraction=0.3), "heldout_fraction=0.3 does not apply to heldout_split='pairs'"),
    (dict(heldout_split="classes", heldout_letters=2), "heldout_letters=2 does not apply to heldout_split='classes'"),
    (dict(heldout_split="halves"), "heldout_split='halves' is not allowed"),
    (dict(heldout_split="classes", heldout_fraction=0.0), "heldout_fraction=0.0 is out of range"),
    (dict(heldout_split="pairs", heldout_letters=5), "heldout_letters=5 is out of range"),
])
def test_heldout_settings_are_checked(extra, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        training.resolve_config("qk-mhn", **extra)


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


# ------------------------------------------------------------------ the training plan and its de-duplication
def test_training_key_ignores_only_the_preset_name_and_the_cosine_tracking():
    small = dict(letters=2, context=2, hidden=4)
    default, paper = training.resolve_config("qk-mhn", **small), training.resolve_config("qk-mhn", "paper", **small)
    assert default.preset != paper.preset and training.training_key(default) == training.training_key(paper)
    tracked = training.resolve_config("qk-mhn", track_cosines=True, cosine_every=3, **small)
    assert training.training_key(tracked) == training.training_key(default)
    for changed in (dict(lr=1e-2), dict(key_lr=1e-3), dict(mask_unrecruited=True), dict(final_window=10)):
        assert training.training_key(training.resolve_config("qk-mhn", **small, **changed)) != \
            training.training_key(default), changed
    # the transformer's presets differ in what they train (parameterisation and gradient)
    assert training.training_key(training.resolve_config("transformer")) != \
        training.training_key(training.resolve_config("transformer", "paper"))


def chapter_dedup(runs, n_seeds, batches, batch_size, seed):
    """The de-duplication the training chapter used to do inline (the reference for cached_plan)."""
    groups = {}
    for key, cfg in runs.items():
        groups.setdefault(training.training_key(cfg), []).append(key)
    jobs = [runs[max(keys, key=lambda k: runs[k].track_cosines)] for keys in groups.values()]
    job_seeds = [max(n_seeds[k] for k in keys) for keys in groups.values()]
    results = dict(zip(groups, training.cached_sweeps(jobs, job_seeds, batches, batch_size, seed=seed, workers=1)))
    return {key: training.first_seeds(results[training.training_key(cfg)][0], n_seeds[key])
            for key, cfg in runs.items()}, len(groups)


def test_cached_plan_runs_each_training_once_and_equals_the_chapters_former_code():
    small = dict(letters=2, context=2, hidden=4, key_dim=8)
    runs = {("qk-mhn", "default"): training.resolve_config("qk-mhn", track_cosines=True, **small),
            ("qk-mhn", "paper"): training.resolve_config("qk-mhn", "paper", **small),
            ("mhn-wk", "default"): training.resolve_config("mhn-wk", **small),
            ("transformer", "default"): training.resolve_config("transformer", letters=2, context=2, key_dim=8)}
    n_seeds = {("qk-mhn", "default"): 3, ("qk-mhn", "paper"): 2, ("mhn-wk", "default"): 2,
               ("transformer", "default"): 2}
    plan = {key: (cfg, n_seeds[key]) for key, cfg in runs.items()}
    arrays, info = training.cached_plan(plan, batches=20, batch_size=8, seed=4)
    want, n_groups = chapter_dedup(runs, n_seeds, 20, 8, 4)
    assert info.trainings == n_groups == 3 and info.from_cache == 0 and info.cpu_seconds > 0
    assert list(arrays) == list(runs)
    for key in runs:
        assert arrays[key].keys() == want[key].keys(), key
        for name in want[key]:
            if name != "seconds":
                np.testing.assert_array_equal(arrays[key][name], want[key][name], err_msg=f"{key} {name}")
    # the two QK-MHN entries are one training: the paper entry gets the first 2 of its 3 seeds, with the cosines
    shared, default = arrays[("qk-mhn", "paper")], arrays[("qk-mhn", "default")]
    assert len(shared["final_accuracy"]) == 2 and len(default["final_accuracy"]) == 3
    assert "cos_qk_align" in shared
    for name in ("accuracy", "W_K", "cos_qk_align"):
        np.testing.assert_array_equal(shared[name], default[name][:2], err_msg=name)


@pytest.mark.parametrize("quick", [True, False])
def test_book_training_plan(quick):
    from slotless import book

    sizes = book.scale(quick).training
    plan = book.training_plan(sizes)
    assert len(plan.main) == 15 and plan.main[0] == ("transformer", "default")
    assert all(n == sizes.main_seeds for name, (_, n) in plan.runs.items() if name in plan.main)
    assert all(n == sizes.seeds for name, (_, n) in plan.runs.items() if name not in plan.main)
    n_held = len(sizes.generalisation.splits) * len(book.GENERALISATION_MODELS)
    assert len(plan.runs) == 15 + 4 * len(sizes.grid_lrs) + n_held
    tracked = [name for name, (cfg, _) in plan.runs.items() if cfg.track_cosines]
    assert tracked == [("qk-mhn", "default"), ("mhn-exact-wk masked", "default")]
    assert plan.config(("mhn-exact-wk masked", "default")).mask_unrecruited
    for name, (cfg, _) in plan.runs.items():
        assert cfg.final_window == sizes.window and (cfg.cosine_every == sizes.cosine_every or not cfg.track_cosines)
        if name.setting.endswith(" split"):
            gen = sizes.generalisation
            assert (cfg.letters, cfg.context, cfg.eval_context) == (gen.letters, gen.context, gen.eval_context)
            assert cfg.heldout_split == name.setting.removesuffix(" split") and name == book.split_run(name.model,
                                                                                                       cfg.heldout_split)
            assert cfg.is_transformer or cfg.hidden >= 2 * gen.letters
        elif name.setting == "no projections":
            assert not cfg.input_projections and (cfg.key_dim, cfg.hidden) == training.NO_PROJECTION_VARIANTS[name.model]
        else:
            assert (cfg.letters, cfg.context) == (sizes.letters, sizes.context)
    for model in book.GRID_MODELS:
        for lr in sizes.grid_lrs:
            assert plan.config(book.grid_run(model, lr, lr)).key_lr == lr
            assert plan.config(book.grid_run(model, lr, book.SLOW_KEY_LR)).lr == lr
    assert plan.config(("mhn-wk", "key_lr=1e-4")).key_lr == book.SLOW_KEY_LR
    learned = plan.learned_keys()
    assert ("qk-mhn", "pairs split") not in learned and ("mhn-fixed-wk", "paper") not in learned
    assert set(plan.held_out("pairs")) == set(book.GENERALISATION_MODELS)
    assert all(plan.config(name).wk_rule not in (None, "fixed") for name in learned)
    # QK-MHN under both presets is one training; at quick scale the 29 runs are 23 distinct trainings
    keys = {training.training_key(cfg) for cfg, _ in plan.runs.values()}
    assert training.training_key(plan.config(("qk-mhn", "paper"))) == \
        training.training_key(plan.config(("qk-mhn", "default")))
    if quick:
        assert (len(plan.runs), len(keys)) == (29, 23)
        assert plan.config(("transformer", "paper")).lr == sizes.transformer_lr
        assert plan.config(("mhn-fixed-wk", "default")).lr == sizes.mhn_lr
    else:
        assert plan.config(("transformer", "paper")).lr == training.LEARNING_RATES[("transformer", "paper")]
        # the held-out runs at paper scale are the CI runs of the claims
        ci = claims.ci_plan()
        for model, name in plan.held_out("classes").items():
            assert training.training_key(plan.config(name)) == training.training_key(ci[f"classes: {model}"][0])


def test_claim_runs_names_the_chapter_runs_as_the_claims_do():
    from slotless import book

    plan = book.training_plan(book.scale(True).training)
    res = {name: {"name": name} for name in plan.runs}
    runs = book.claim_runs(res)
    assert runs["mhn-wk paper"]["name"] == ("mhn-wk", "paper") and runs["qk-mhn"]["name"] == ("qk-mhn", "default")
    assert runs["pairs: mhn-exact-wk masked"]["name"] == ("mhn-exact-wk masked", "pairs split")
    needed = {"transformer", "mhn-fixed-wk", "qk-mhn", "mhn-exact-wk", "mhn-exact-wk masked", "mhn-wk paper",
              "mhn-wk key_lr=1e-4"} | {f"{s}: {m}" for s in ("classes", "pairs") for m in book.GENERALISATION_MODELS}
    assert needed <= set(runs)


# ------------------------------------------------------------------------ diagnostics of the chapters
def test_failing_seeds_and_touch_and_fall_back():
    arrays = {"final_accuracy": np.array([1.0, 0.9, 0.5, 0.985]), "collision_rate": np.array([0.0, 0.02, 0.0, 0.01]),
              "batches_to_99": np.array([120.0, 150.0, np.nan, 200.0])}
    f = diagnostics.failing_seeds(arrays, below=0.95)
    assert f.count == 2 and f.failing.tolist() == [False, True, True, False]
    assert f.collision_rates.tolist() == [0.02, 0.0] and f.success_max == 0.01 and not f.all_collided
    ok = diagnostics.failing_seeds({"final_accuracy": np.ones(3), "collision_rate": np.zeros(3)})
    assert ok.count == 0 and ok.all_collided and ok.success_max == 0.0
    assert diagnostics.touched_and_fell_back(arrays).tolist() == [False, True, False, True]


def test_cosine_summaries():
    cos = np.array([[1.0, np.nan, 0.5], [0.0, np.nan, 0.2], [0.4, np.nan, 0.6]])
    arrays = {"cos_qk_align": cos, "cosmhn_qk_align": -cos, "collisions": np.array([[0, 0, 0.1], [0, 0.5, 0],
                                                                                      [0.2, 0, 0]])}
    m = diagnostics.mean_cosines(arrays, ["qk_align"])["qk_align"]
    assert m.transformer == pytest.approx(np.nanmean(cos)) and m.own == pytest.approx(-np.nanmean(cos))
    with pytest.raises(ConfigError, match="track_cosines"):
        diagnostics.mean_cosines(arrays, ["hebbian"])
    per_seed = np.array([0.75, 0.1, 0.5])
    assert diagnostics.seed_mean_lower_bound(cos, n_se=3) == pytest.approx(
        per_seed.mean() - 3 * per_seed.std(ddof=1) / np.sqrt(3))
    clean = diagnostics.clean_batch_cosines(arrays, "qk_align")
    assert clean.fraction == pytest.approx(4 / 6) and sorted(clean.cosines.tolist()) == [0.0, 0.2, 0.6, 1.0]


def test_perfect_seed_diagnostics_keep_the_perfect_seeds():
    rng = np.random.default_rng(1)
    arrays = {"W_Q": rng.normal(size=(3, 8, 6)), "W_K": rng.normal(size=(3, 8, 6)), "W_V": rng.normal(size=(3, 2, 6)),
              "final_accuracy": np.array([1.0, 0.5, 0.99])}
    d = diagnostics.perfect_seed_diagnostics(arrays, 2)
    full = diagnostics.weight_diagnostics(arrays, 2)
    for k, v in d.items():
        np.testing.assert_array_equal(v, full[k][[0, 2]], err_msg=k)


def test_gradient_check_and_credit_weights():
    import torch

    from slotless.attention import task, tensors, transformer

    L, C, dk = 4, 4, 8
    X, xq, y = task.encode(task.draw_sequences(L, C, 16, np.random.default_rng(0)), L, torch.float64)
    p = transformer.init_transformer(transformer.TransformerConfig(L, C, dk), tensors.torch_generators(0, 1, "t"),
                                     torch.float64)
    p = transformer.SlowWeights(*(w[0] for w in p))
    assert diagnostics.gradient_error_vs_autograd(p, X, xq, y, gamma=0.5) < 1e-10
    a, g = diagnostics.credit_weights(p, X[:1], xq[:1], y[:1], gamma=1.0)
    assert a.shape == g.shape == (C,) and a.sum() == pytest.approx(1.0) and abs(g.sum()) < 1e-12
    # g is the W_K-gradient weighting: 2 q (X^T g)^T is the W_K gradient of the one sequence (gamma = 1)
    grads, out = transformer.transformer_grads(p, X[:1], xq[:1], y[:1], 1.0)
    np.testing.assert_allclose(grads.W_K.numpy(), 2 * np.outer(out.q[0].numpy(), g @ X[0].numpy()), atol=1e-12)


def test_collision_rate_at_init():
    from slotless.attention import mhn

    with_proj = mhn.MHNConfig(4, 4, 32, 8, input_projections=True)
    without = mhn.MHNConfig(4, 4, 32, 8, input_projections=False)
    assert diagnostics.collision_rate_at_init(with_proj, 2, 200, seed=1, stream="t") < 0.02
    rate = diagnostics.collision_rate_at_init(without, 2, 200, seed=1, stream="t")
    assert rate > 1 - 0.41 - 0.15  # uniformly random winners alone collide in 59% of sequences
    assert rate == diagnostics.collision_rate_at_init(without, 2, 200, seed=1, stream="t")
    assert rate != diagnostics.collision_rate_at_init(without, 2, 200, seed=2, stream="t")
    with pytest.raises(ConfigError, match="sequences"):
        diagnostics.collision_rate_at_init(without, 4, 2, seed=1, stream="t")


def test_sweep_cost_starts_the_slow_sweeps_without_projections_first():
    # The cost model orders the book's paper-scale plan as measured per seed and batch: MHN-W_K without
    # projections (two queries of 16 initial key rows) first, then the other variants without projections,
    # then everything with projections; it is linear in the number of seeds.
    from slotless import book

    plan = book.training_plan(book.scale(False).training).runs
    costs = {name: training.sweep_cost(config, n) for name, (config, n) in plan.items()}
    ranked = sorted(costs, key=costs.get, reverse=True)
    assert ranked[0] == ("mhn-wk", "no projections")
    assert {name.setting for name in ranked[:3]} == {"no projections"}
    config, n = plan[ranked[5]]
    assert training.sweep_cost(config, 2 * n) == pytest.approx(2 * costs[ranked[5]])
