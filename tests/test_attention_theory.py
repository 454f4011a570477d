"""The formal results for attention (book/theory/attention_results.md) as fast unit tests, and the functions of
slotless.attention.theory that compute both sides of each result for the chapter.

Each test checks one identity of the chapter against torch.autograd or an exact algebraic prediction, so a
broken formula in slotless.attention fails CI. Tolerances: the identities are exact algebra, so both sides differ
only by rounding (~1e-15 relative in float64, ~1e-7 in float32); we assert 1e-10 and 1e-5.
"""

import math

import numpy as np
import pytest
import torch

from slotless.attention import mhn, rules, tensors, training, transformer
from slotless.attention import theory as ath
from slotless.attention.task import Sequences, draw_sequences, encode
from slotless.checks import ConfigError
from slotless.rng import trial_generator

F64, F32 = torch.float64, torch.float32
L, C, DK = 4, 4, 32


def _batch(seed, S=3, B=64, dtype=F64):
    """Stacked Case Sequence batch: X (S,B,C,3L), xq (S,B,3L), y (S,B,2)."""
    return ath.theory_batch(seed, S, B, "test-attn", dtype)


def _store(cfg, slow, X, seed=0):
    return ath.store_fresh(cfg, slow, X, "test-attn/fast", seed)


def _harder(w, key_scale=1.5):
    """Sharper attention, larger keys (more collisions) and O(1) values of both signs (as in the chapter)."""
    return transformer.SlowWeights(3 * w.W_Q, key_scale * w.W_K, 20 * (w.W_V - 0.05))


_rel = ath.relative_error


def _autograd(slow, X, xq, y, gamma):
    leaves = [t.clone().requires_grad_(True) for t in slow]
    transformer.transformer_loss(transformer.SlowWeights(*leaves), X, xq, y, gamma).sum().backward()
    return transformer.SlowWeights(*(t.grad for t in leaves))


def _slow(cfg, S=3, seed=0, dtype=F64, hard=False, key_scale=1.5):
    w = mhn.init_mhn(cfg, tensors.torch_generators(seed, S, "test-attn/w"), dtype)
    return _harder(w, key_scale) if hard else w


@pytest.mark.parametrize("dtype,tol", [(F64, 1e-10), (F32, 1e-5)])
@pytest.mark.parametrize("proj", [True, False])
def test_mhn_transformer_equals_minimal_transformer_under_distinct_recruitment(dtype, tol, proj):
    cfg = mhn.MHNConfig(hidden=8 if proj else 16, input_projections=proj, mask_unrecruited=True)
    slow = _slow(cfg, dtype=dtype, hard=True)
    X, xq, y = _batch(1, dtype=dtype)
    fast = _store(cfg, slow, X)
    ok = ~fast.collided
    assert ok.double().mean() > 0.1
    query, tf = mhn.mhn_query(cfg, slow.W_Q, fast, xq), transformer.transformer_forward(slow, X, xq, cfg.beta)
    assert (torch.gather(query.a, -1, fast.winners) - tf.a)[ok].abs().max() < tol
    assert _rel(query.y_hat[ok], tf.y_hat[ok]) < tol
    assert _rel(query.x_tilde[ok], tf.x_tilde[ok]) < tol
    assert _rel(torch.einsum("...od,...bd->...bo", slow.W_V, query.x_tilde)[ok], tf.y_hat[ok]) < tol


def test_rho_above_key_overlaps_puts_every_item_in_its_own_unit():
    cfg = mhn.MHNConfig(hidden=8, input_projections=True, mask_unrecruited=True)
    slow = _slow(cfg, hard=True, key_scale=2.5)
    X, xq, y = _batch(2)
    fast = _store(cfg, slow, X)
    K = torch.einsum("...kd,...bcd->...bck", slow.W_K, X)
    gram = torch.einsum("...bsk,...btk->...bst", K, K).masked_fill(~torch.ones(C, C, dtype=bool).triu(1), 0.0)
    cond = (cfg.rho > gram.amax(-2)).all(-1)
    assert 0 < cond.double().mean() < 1  # both cases occur with the harder weights
    own = (fast.winners == X.argmax(-1)).all(-1) & ~fast.collided
    assert bool(own[cond].all())


def test_unmasked_mhn_is_a_transformer_with_null_items():
    cfg = mhn.MHNConfig(hidden=10, input_projections=True, mask_unrecruited=False)
    slow = _slow(cfg)
    X, xq, y = _batch(3)
    fast = _store(cfg, slow, X)
    ok = ~fast.collided
    tf, un = transformer.transformer_forward(slow, X, xq, cfg.beta), mhn.mhn_query(cfg, slow.W_Q, fast, xq)
    free = (~fast.recruited).to(F64)
    m = (un.a * free).sum(-1)
    assert m[ok].min() > 0.1  # the null items matter at initialisation
    mw = torch.einsum("...boh,...bh->...bo", fast.W_oh, un.a * free)
    assert _rel(torch.gather(un.a, -1, fast.winners)[ok], ((1 - m).unsqueeze(-1) * tf.a)[ok]) < 1e-10
    assert _rel((un.y_hat - tf.y_hat)[ok], (mw - m.unsqueeze(-1) * tf.y_hat)[ok]) < 1e-10
    logits = cfg.beta * torch.einsum("...bck,...bk->...bc", tf.K, tf.q)
    n_u = cfg.hidden - C
    assert _rel(m[ok], (n_u / (n_u + torch.exp(logits).sum(-1)))[ok]) < 1e-10


@pytest.mark.parametrize("proj,mask", [(True, True), (True, False), (False, False), (False, True)])
def test_local_qv_gradients_are_exact_gradients_of_the_qv_loss_for_any_storage(proj, mask):
    cfg = mhn.MHNConfig(hidden=8 if proj else 6, input_projections=proj, mask_unrecruited=mask)
    slow = _slow(cfg, hard=True)
    X, xq, y = _batch(5)
    fast = _store(cfg, slow, X)
    grads, _ = mhn.mhn_local_grads(cfg, slow, fast, xq, y)
    WQ, WV = slow.W_Q.clone().requires_grad_(True), slow.W_V.clone().requires_grad_(True)
    x_t = mhn.mhn_query(cfg, WQ, fast, xq).x_tilde
    ((torch.einsum("...od,...bd->...bo", WV, x_t) - y) ** 2).sum().backward()
    assert _rel(grads.dW_Q, WQ.grad) < 1e-10 and _rel(grads.dW_V, WV.grad) < 1e-10


@pytest.mark.parametrize("hard", [False, True])
def test_slot_free_wq_wv_gradients_equal_the_transformer_gradients(hard):
    cfg = mhn.MHNConfig(hidden=8, input_projections=True, mask_unrecruited=True)
    slow = _slow(cfg, hard=hard, seed=1, key_scale=1.0)
    X, xq, y = _batch(6)
    fast = _store(cfg, slow, X)
    assert not bool(fast.collided.any())  # projections at these weights: distinct recruitment
    grads, _ = mhn.mhn_local_grads(cfg, slow, fast, xq, y)
    ref = _autograd(slow, X, xq, y, cfg.beta)
    assert _rel(grads.dW_Q, ref.W_Q) < 1e-10 and _rel(grads.dW_V, ref.W_V) < 1e-10


def test_wk_gradient_is_not_a_function_of_the_reinstated_item_for_distributed_codes():
    g = tensors.torch_generators(0, 1, "test-rem6")[0]
    D = 3 * L
    W = transformer.SlowWeights(torch.randn(DK, D, generator=g, dtype=F64) / math.sqrt(DK),
                      torch.randn(DK, D, generator=g, dtype=F64) / math.sqrt(DK), torch.randn(2, D, generator=g, dtype=F64))
    x_q, mu, d1, d2 = torch.randn(4, D, generator=g, dtype=F64)
    w = W.W_K.T @ W.W_Q @ x_q
    d1, d2 = (d - (d @ w) / (w @ w) * w for d in (d1, d2))
    X2 = torch.stack([torch.stack([mu + d1, mu - d1]), torch.stack([mu + d2, mu - d2])]).unsqueeze(1)
    W2 = transformer.SlowWeights(*(t.expand(2, *t.shape) for t in W))
    grads, out = transformer.transformer_grads(W2, X2, x_q.expand(2, 1, D), torch.tensor([1.0, 0.0], dtype=F64).expand(2, 1, 2), 1.0)
    for name in ("q", "a", "x_tilde", "y_hat"):
        assert (getattr(out, name)[0] - getattr(out, name)[1]).abs().max() < 1e-12
    assert _rel(grads.W_K[0], grads.W_K[1]) > 0.1


def test_second_moment_form_and_second_reinstatement_give_the_wk_gradient_for_distributed_codes():
    cfg = mhn.MHNConfig(hidden=32, input_projections=False, mask_unrecruited=True)
    slow = _slow(cfg, hard=True, S=2)
    _, xq, y = _batch(7, S=2, B=256)
    X = torch.randn(2, 256, C, 3 * L, generator=tensors.torch_generators(7, 1, "test-items")[0], dtype=F64) / math.sqrt(3 * L)
    ref = _autograd(slow, X, xq, y, 1.0).W_K
    tf = transformer.transformer_forward(slow, X, xq, 1.0)
    e = tf.y_hat - y
    mom = torch.einsum("...bc,...bci,...bcj->...bij", tf.a, X, X)
    br = torch.einsum("...bij,...oj,...bo->...bi", mom, slow.W_V, e) - (tf.y_hat * e).sum(-1, keepdim=True) * tf.x_tilde
    assert _rel(2 * torch.einsum("...bk,...bi->...ki", tf.q, br), ref) < 1e-10
    assert _rel(rules.exact_onehot_wk_grad(tf.q, tf.x_tilde, slow.W_V, e, tf.y_hat, 1.0), ref) > 0.1
    fast = _store(cfg, slow, X)
    ok = ~fast.collided
    n = int(ok.sum(-1).min())
    assert n >= 5
    idx = [torch.nonzero(o).squeeze(-1)[:n] for o in ok]

    def pick(t):
        return torch.stack([t[s, i] for s, i in enumerate(idx)])
    fast = fast.select(idx)
    Xd, xqd, yd = pick(X), pick(xq), pick(y)
    g_loc, qry = mhn.mhn_local_grads(cfg, slow, fast, xqd, yd)
    second = rules.wk_rule_gradient("exact_reinstatement", cfg, slow, fast, xqd, yd, qry, g_loc)
    assert _rel(second, _autograd(slow, Xd, xqd, yd, 1.0).W_K) < 1e-10


@pytest.mark.parametrize("gamma", [1.0, 1 / math.sqrt(DK)])
@pytest.mark.parametrize("hard", [False, True])
def test_onehot_wk_identity_matches_autograd(gamma, hard):
    slow = transformer.init_transformer(transformer.TransformerConfig(), tensors.torch_generators(0, 3, "test-onehot/w"), F64)
    slow = _harder(slow) if hard else slow
    X, xq, y = _batch(8)
    ref = _autograd(slow, X, xq, y, gamma).W_K
    tf = transformer.transformer_forward(slow, X, xq, gamma)
    assert _rel(rules.exact_onehot_wk_grad(tf.q, tf.x_tilde, slow.W_V, tf.y_hat - y, tf.y_hat, gamma), ref) < 1e-10
    # the check is sensitive: dropping the -(y_hat.e) x~ term (or gamma) breaks it
    assert _rel(rules.exact_onehot_wk_grad(tf.q, tf.x_tilde, slow.W_V, tf.y_hat - y, 0 * tf.y_hat, gamma), ref) > 1e-3


@pytest.mark.parametrize("rule", ["exact_onehot", "exact_reinstatement"])
def test_exact_wk_rules_from_the_mhn_equal_the_true_gradient_when_masked(rule):
    cfg = mhn.MHNConfig(hidden=8, input_projections=True, mask_unrecruited=True, wk_rule=rule)
    slow = _slow(cfg, seed=2)
    X, xq, y = _batch(9)
    fast = _store(cfg, slow, X)
    assert not bool(fast.collided.any())
    g_loc, qry = mhn.mhn_local_grads(cfg, slow, fast, xq, y)
    G = rules.wk_rule_gradient(rule, cfg, slow, fast, xq, y, qry, g_loc)
    assert _rel(G, _autograd(slow, X, xq, y, cfg.beta).W_K) < 1e-10


def test_unmasked_null_units_break_the_onehot_rule():
    cfg = mhn.MHNConfig(hidden=8, input_projections=True, mask_unrecruited=False, wk_rule="exact_onehot")
    slow = _slow(cfg, seed=2)
    X, xq, y = _batch(9)
    fast = _store(cfg, slow, X)
    g_loc, qry = mhn.mhn_local_grads(cfg, slow, fast, xq, y)
    G = rules.wk_rule_gradient("exact_onehot", cfg, slow, fast, xq, y, qry, g_loc)
    assert _rel(G, _autograd(slow, X, xq, y, cfg.beta).W_K) > 0.1


def test_qk_alignment_contracts_key_residuals_exactly_under_correct_reinstatement():
    cfg = mhn.MHNConfig(hidden=8, wk_rule="qk_align")
    slow = _slow(cfg)
    X, xq, y = _batch(10, B=128)
    item = xq[..., 2 * L:].argmax(-1) + L * y.argmax(-1)
    x_star = torch.nn.functional.one_hot(item, 3 * L).to(F64)
    n = x_star.sum(-2)[..., : 2 * L]
    W_Q_new = slow.W_Q + 0.01 * torch.randn(slow.W_Q.shape, generator=tensors.torch_generators(9, 1, "t-dq")[0], dtype=F64)
    eta = 1e-3
    G = rules.wk_rule_gradient("qk_align", cfg, slow, None, xq, y, mhn.MHNQuery(None, None, None, x_star), None, W_Q_new=W_Q_new)
    W_K_new = slow.W_K - eta * G

    def q_cols(WQ):
        return WQ[..., 2 * L:].repeat(1, 1, 2)
    r_old, r_new = slow.W_K[..., : 2 * L] - q_cols(slow.W_Q), W_K_new[..., : 2 * L] - q_cols(W_Q_new)
    pred = (1 - 2 * eta * n).unsqueeze(-2) * (r_old - (q_cols(W_Q_new) - q_cols(slow.W_Q)))
    assert _rel(r_new, pred) < 1e-12
    assert torch.equal(W_K_new[..., 2 * L:], slow.W_K[..., 2 * L:])


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.5])
def test_true_wk_gradient_coefficients_follow_the_companion_closed_form(alpha):
    n = 500
    X, xq, y = (t.transpose(0, 1) for t in _batch(11, S=1, B=n))
    w0 = transformer.init_transformer(transformer.TransformerConfig(), tensors.torch_generators(10, 1, "t-comp/w"), F64)
    scale = torch.empty(n, 1, 1, dtype=F64).uniform_(0.5, 4.0, generator=tensors.torch_generators(10, 1, "t-comp/s")[0])
    W_V = torch.zeros(2, 3 * L, dtype=F64)
    W_V[0, :L], W_V[1, L:2 * L] = alpha, alpha
    G, out = transformer.transformer_grads(transformer.SlowWeights(w0.W_Q * scale, w0.W_K * scale, W_V.expand(n, 2, 3 * L)), X, xq, y, 1.0)
    g = torch.einsum("nbk,nkd,nbcd->nbc", out.q, G.W_K, X) / (2 * out.q.pow(2).sum(-1, keepdim=True))
    agree = (X[..., :, :L].sum(-1) == y[..., :1]).to(F64)
    p = (out.a * agree).sum(-1, keepdim=True)
    pred = torch.where(agree > 0, out.a * alpha * (1 - p) * (2 * alpha * p - alpha - 1),
                       out.a * alpha * p * (1 + alpha - 2 * alpha * p))
    assert _rel(g, pred) < 1e-10
    tol = 1e-12 * g.abs().max()
    hebbian_on_agreeing = bool((g[agree > 0] <= tol).all())
    assert hebbian_on_agreeing == (alpha <= 1)  # at alpha = 1.5 the sign statement fails for some items


# ------------------------------------------------------------------ slotless.attention.theory: the chapter's checks
def test_theory_batch_draws_one_stream_per_seed_and_harder_scales_the_weights():
    X, xq, y = ath.theory_batch(4, 2, 16, "t-batch")
    assert X.shape == (2, 16, C, 3 * L) and xq.shape == (2, 16, 3 * L) and y.shape == (2, 16, 2) and X.dtype == F64
    seqs = [draw_sequences(L, C, 16, trial_generator(4, s, "t-batch")) for s in range(2)]
    X2, _, _ = encode(Sequences(*(np.stack([getattr(q, f) for q in seqs]) for f in ("letters", "cases", "query"))), L, F64)
    assert torch.equal(X, X2)
    assert torch.equal(ath.theory_batch(4, 1, 16, "t-batch")[0][0], X[0])  # seed 0 alone = seed 0 stacked
    w = _slow(mhn.MHNConfig())
    h = ath.harder(w)
    assert torch.equal(h.W_Q, 3 * w.W_Q) and torch.equal(h.W_K, 1.5 * w.W_K) and torch.equal(h.W_V, 20 * (w.W_V - 0.05))
    assert ath.relative_error(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0])) == 0.5


def test_collision_free_keeps_only_collision_free_sequences_and_refuses_too_few():
    cfg = mhn.MHNConfig(hidden=16, input_projections=False, mask_unrecruited=True)
    slow = _slow(cfg)
    X, xq, y = _batch(12, B=64)
    fast = _store(cfg, slow, X)
    kept, (Xd, yd) = ath.collision_free(fast, X, y, minimum=1)
    n = int((~fast.collided).sum(-1).min())
    assert 0 < n < 64 and Xd.shape[:2] == (3, n) and yd.shape[:2] == (3, n) and not bool(kept.collided.any())
    with pytest.raises(ConfigError, match="collision-free"):
        ath.collision_free(fast, X, minimum=n + 1)


@pytest.mark.parametrize("gamma", [1.0, 0.25])
def test_transformer_gradient_sides_agree(gamma):
    w = _slow(mhn.MHNConfig(), S=2, hard=True)
    X, xq, y = _batch(13, S=2, B=32)
    manual, auto = ath.transformer_gradient_sides(w, X, xq, y, gamma)
    assert max(_rel(a, b) for a, b in zip(manual, auto)) < 1e-10


@pytest.mark.parametrize("dtype,tol", [(F64, 1e-10), (F32, 1e-5)])
def test_equivalence_check_is_exact_on_distinct_sequences(dtype, tol):
    frac, errs = ath.equivalence_check(dtype, True, False, "t-eq", 2, 32)
    assert frac == 1.0 and max(errs) < tol
    frac, errs = ath.equivalence_check(dtype, False, True, "t-eq", 2, 64)
    assert 0.05 < frac < 1 and max(errs) < tol


def test_recruitment_check_condition_implies_own_units():
    cond, own, collided = ath.recruitment_check(True, 2, 64)
    assert cond.shape == own.shape == collided.shape == (2, 64)
    assert bool((own & ~collided)[cond].all()) and bool(cond.any())


def test_null_item_check_identities_and_bound():
    null = ath.null_item_check(2, 32, hidden=8)
    assert max(null.errors) < 1e-10 and null.bound_holds
    assert 0.1 < null.null_mass < 0.9 and 0 <= null.argmax_agreement <= 1 and null.deviation <= null.bound


def test_deviation_curve_vanishes_with_projections_and_mask_and_skips_small_hidden():
    exact = ath.deviation_curve(True, True, (4, 8, 10), 2, 16)
    assert exact.hidden == (8, 10) and exact.mean.max() < 1e-12
    loose = ath.deviation_curve(False, False, (2, 3, 8), 2, 16)
    assert loose.hidden == (2, 3, 8) and loose.collision_rate[0] == 1.0 and loose.mean.min() > 1e-3
    assert loose.se.shape == (3,) and loose.deviation[0].shape == (2, 16)


@pytest.mark.parametrize("proj,mask", [(True, False), (False, True)])
def test_qv_gradient_sides_agree_for_any_storage(proj, mask):
    cfg = mhn.MHNConfig(hidden=8 if proj else 6, input_projections=proj, mask_unrecruited=mask)
    s = ath.mhn_setup(cfg, 2, 32, "t-p5/w", (5, "t-p5"), "t-p5/fast", hard=True)
    local, auto = ath.qv_gradient_sides(cfg, s.slow, s.fast, s.xq, s.y)
    assert max(_rel(a, b) for a, b in zip(local, auto)) < 1e-10


def test_slot_free_gradient_sides_agree_on_collision_free_sequences():
    cfg = mhn.MHNConfig(hidden=8, input_projections=True, mask_unrecruited=True)
    s = ath.mhn_setup(cfg, 2, 32, "t-p5b/w", (6, "t-p5b"), "t-p5b/fast", hard=True)
    fast, (X, xq, y) = ath.collision_free(s.fast, s.X, s.xq, s.y)
    local, auto = ath.slot_free_gradient_sides(cfg, s.slow, fast, X, xq, y)
    assert max(_rel(a, b) for a, b in zip(local, auto)) < 1e-10


def test_obstruction_counterexample_and_distributed_code_check():
    ce = ath.obstruction_counterexample(DK, L)
    assert ce.forward_difference < 1e-12 and _rel(ce.grad_a, ce.grad_b) > 0.1
    dist = ath.distributed_code_check(2, 128)
    assert dist.second_moment < 1e-10 and dist.second_reinstatement < 1e-10 and dist.onehot > 0.1
    assert dist.collision_free >= 5


def test_remark6_independent_codes_give_the_exact_gradient_from_the_first_reinstatement():
    # linearly independent but not orthogonal codes: the dictionary formula is the exact gradient, the one-hot one is not
    chk = ath.independent_code_check(2, 64)
    assert chk.rank == chk.codes == 2 * L and chk.max_code_cosine > 0.2
    assert chk.dictionary < 1e-10 and chk.onehot > 0.1


def test_remark6_dependent_codes_have_no_function_of_the_reinstated_item():
    # a linearly dependent code (rank 3 for 4 codes): two contexts share x~ but not their gradients, so any
    # function of the query-step quantities (the dictionary formula included) misses at least one of them
    chk = ath.dependent_code_check()
    assert chk.rank == 3 < chk.codes == 4
    assert chk.gradient_difference > 0.1 and chk.dictionary > 0.4 * chk.gradient_difference


def test_dictionary_formula_reduces_to_the_onehot_formula_for_one_hot_codes():
    X, xq, y = _batch(21)
    w = ath.harder(transformer.init_transformer(transformer.TransformerConfig(), tensors.torch_generators(0, 3, "d"), F64))
    tf = transformer.transformer_forward(w, X, xq, 1.0)
    e = tf.y_hat - y
    codes = torch.eye(3 * L, dtype=F64)[: 2 * L]
    a = ath.dictionary_wk_grad(tf.q, tf.x_tilde, w.W_V, e, tf.y_hat, 1.0, codes)
    b = rules.exact_onehot_wk_grad(tf.q, tf.x_tilde, w.W_V, e, tf.y_hat, 1.0)
    assert ath.relative_error(a, b) < 1e-12


def test_onehot_sides_agree_with_the_mask_and_not_without():
    X, xq, y = _batch(8, S=2, B=64)
    slow = _slow(mhn.MHNConfig(), S=2, hard=True)
    assert _rel(*ath.onehot_identity_sides(slow, X, xq, y, 1.0)) < 1e-10
    G, true = ath.mhn_onehot_sides(True, X, xq, y, 2)
    assert _rel(G, true) < 1e-10
    G, true = ath.mhn_onehot_sides(False, X, xq, y, 2)
    assert _rel(G, true) > 0.1


def test_qk_contraction_check_is_exact():
    con = ath.qk_contraction_check(2, 64, eta=1e-3)
    assert _rel(con.residual, con.predicted) < 1e-12 and con.query_columns_unchanged and 0 < con.max_rate < 1


def _old_loop(mask, batches, seeds, key_lr, every):
    """The chapter's former hand-written QK-MHN loop (batch by batch), kept here as the reference the hook must match."""
    cfg = mhn.MHNConfig(hidden=8, mask_unrecruited=mask, wk_rule="qk_align")
    slow = mhn.init_mhn(cfg, tensors.torch_generators(0, seeds, "thm7/w"), F64)
    fg = tensors.torch_generators(0, seeds, "thm7/fast")
    rngs = [trial_generator(0, s, "thm7/task") for s in range(seeds)]
    res, drift, cos = [], [], []
    for t in range(batches):
        X, xq, y = ath.case_batch(rngs, 64)
        fast = mhn.mhn_store(cfg, slow.W_K, slow.W_V, X, *mhn.draw_fast_init(cfg, 64, fg, F64),
                             W_items=mhn.item_projections(cfg, F64))
        rules_now = training.COSINE_RULES if t % every == 0 else ()
        step = rules.mhn_update(cfg, slow, fast, xq, y, 5e-3, key_lr, diagnostic_rules=rules_now)
        if rules_now:
            true = transformer.transformer_grads(slow, X, xq, y, cfg.beta)[0].W_K
            cos.append([tensors.cosine(step.diagnostic_wk_grads[r], true).numpy() for r in rules_now])
        res.append((slow.W_K[..., :2 * L] - slow.W_Q[..., 2 * L:].repeat(1, 1, 2)).norm(dim=-2).numpy())
        drift.append((step.slow.W_Q - slow.W_Q)[..., 2 * L:].norm(dim=-2).numpy())
        slow = step.slow
    return np.array(res), np.array(drift), np.array(cos), slow


@pytest.mark.parametrize("mask", [True, False])
def test_key_tracking_recorder_on_run_sweep_equals_the_former_hand_written_loop(mask):
    """run_sweep draws 50 batches per generator call; with PCG64 that gives the same numbers, bit for bit."""
    config = training.resolve_config("qk-mhn", hidden=8, mask_unrecruited=mask, key_lr=1e-3, dtype="float64",
                                     track_cosines=True, cosine_every=7)
    recorder = ath.KeyTrackingRecorder(L)
    streams = training.SweepStreams(task="thm7/task", weights="thm7/w", fast="thm7/fast")
    run = training.run_sweep(config, 2, 55, 64, seed=0, streams=streams, on_batch=recorder)
    track = recorder.tracking()
    res, drift, cos, final = _old_loop(mask, 55, 2, 1e-3, 7)
    assert np.array_equal(track.residual, res) and np.array_equal(track.query_drift, drift)
    rc = ath.rule_cosines(run, training.COSINE_RULES)
    assert np.array_equal(rc.cosines, cos) and np.array_equal(rc.batches, np.arange(1, 56, 7))
    assert np.array_equal(run.weights["W_K"], final.W_K.numpy())
    assert track.counts.shape == (55, 2, 2 * L) and np.all(track.counts.sum(-1) == 64)
    assert track.attention_on_item.shape == (55, 2) and np.all((0 < track.attention_on_item) & (track.attention_on_item <= 1))
    # the summary's final residual is key_query_distance of the final weights; the start is the first record
    summary = ath.key_tracking_summary(run, track, 1e-3, L)
    assert np.allclose(summary.initial, track.relative_residual[0].mean(-1)) and summary.final.shape == (2,)


def test_key_tracking_recorder_refuses_the_transformer():
    config = training.resolve_config("transformer")
    with pytest.raises(ConfigError, match="MHN models only"):
        training.run_sweep(config, 1, 1, 4, on_batch=ath.KeyTrackingRecorder(L))


def test_tracking_bound_follows_its_recursion():
    rng = np.random.default_rng(0)
    T, S = 5, 2
    track = ath.KeyTracking(rng.random((T, S, 2 * L)), rng.random((T, S, L)) + 1, rng.random((T, S, L)) * 0.01,
                            rng.integers(0, 20, (T, S, 2 * L)), rng.random((T, S)))
    b = ath.tracking_bound(track, 1e-3)
    assert b.shape == (T + 1, S, 2 * L) and np.array_equal(b[0], track.residual[0])
    dq = np.concatenate([track.query_drift] * 2, -1)
    np.testing.assert_allclose(b[3], (1 - 2e-3 * track.counts[2]) * (b[2] + dq[2]))


def test_attention_margins_at_the_fixed_point_equal_the_identity_with_zero_slack():
    g = torch.Generator().manual_seed(0)
    W_Q = torch.randn(2, DK, 3 * L, generator=g, dtype=F64)
    W_K = W_Q.clone()
    W_K[..., :L], W_K[..., L:2 * L] = W_Q[..., 2 * L:], W_Q[..., 2 * L:]  # keys = queries in both cases
    mg = ath.attention_margins(W_Q.numpy(), W_K.numpy(), L)
    assert mg.actual.shape == mg.fixed_point.shape == mg.slack.shape == (2, L * (L - 1), 2, 2)
    assert mg.identity_error < 1e-12 and np.abs(mg.actual - mg.fixed_point).max() < 1e-12 and mg.slack.max() < 1e-12
    moved = W_K.clone()
    moved[..., 0] += 0.1
    mg2 = ath.attention_margins(W_Q.numpy(), moved.numpy(), L)
    assert np.all(np.abs(mg2.actual - mg2.fixed_point) <= mg2.slack + 1e-12) and mg2.slack.max() > 0


@pytest.mark.parametrize("alpha,signs_hold", [(0.5, True), (1.0, True), (1.5, False)])
def test_companion_check_closed_form_and_signs(alpha, signs_hold):
    cc = ath.companion_check(alpha, 300, L)
    assert cc.closed_form_error < 1e-10
    assert (cc.non_hebbian_agreeing == 0) == signs_hold and (cc.above_threshold == 0) == signs_hold
    if signs_hold:
        assert cc.anti_hebbian_disagreeing


def test_the_attention_results_sizes():
    from slotless import book

    quick, paper = book.scale(True).attention_theory, book.scale(False).attention_theory
    assert isinstance(paper, book.AttentionTheorySizes)
    # the QK-MHN run of thm-qk-alignment at paper scale is the book's setting: 5000 batches, K_lr 1e-4
    assert (paper.train_batches, paper.key_lr, paper.cosine_every) == (5000, 1e-4, 25)
    assert quick.train_batches < paper.train_batches and quick.sequences < paper.sequences
    assert all(nh >= 2 for nh in paper.hidden_grid) and 8 in quick.hidden_grid and 8 in paper.hidden_grid
