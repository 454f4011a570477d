"""The W_K rules of the MHN-Transformer, the exact one-hot gradient, and one slot-free training step.

Book: {ref}`ch-methods` specifies the rules (``eq-methods-wk-rules``) and the step
({prf:ref}`alg-mhn-transformer-step`); {ref}`ch-training` compares them; {ref}`ch-attention-results` proves
the one-hot gradient ({prf:ref}`prop-onehot-wk-gradient`) and what QK alignment converges to
({prf:ref}`thm-qk-alignment`). No function here reads a context item.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..checks import check_choice, check_float
from .mhn import WK_RULES, FastWeights, MHNConfig, MHNGrads, MHNQuery, key_readout, mhn_local_grads, unit_softmax
from .tensors import jvp_softmax, lin, outer_sum, rowdot, vecmat
from .transformer import SlowWeights

__all__ = ["exact_onehot_wk_grad", "wk_rule_gradient", "MHNStep", "mhn_update"]


def exact_onehot_wk_grad(q, x_tilde, W_V, e, y_hat, gamma: float) -> torch.Tensor:
    """The slot-free exact W_K gradient for distinct one-hot items ({prf:ref}`prop-onehot-wk-gradient`, ``eq-methods-wk-rules``).

    ``2 gamma sum_b q [x~ ⊙ (W_V^T e) - (y_hat^T e) x~]^T``, shape ``(..., d_k, 3L)``. Inputs:
    ``q: (..., B, d_k)``, ``x_tilde: (..., B, 3L)``, ``W_V: (..., 2, 3L)``, ``e, y_hat: (..., B, 2)``.
    Exact when x~ = sum_j a_j x_j over distinct one-hot x_j (then sum_j a_j x_j x_j^T = diag(x~)).
    """
    wte = e @ W_V
    ye = (y_hat * e).sum(-1, keepdim=True)
    r = x_tilde * wte - ye * x_tilde
    return 2 * gamma * outer_sum(q, r)


def wk_rule_gradient(rule: str, config: MHNConfig, slow: SlowWeights, fast: FastWeights, xq, y,
                     query: MHNQuery, grads: MHNGrads, W_Q_new=None) -> torch.Tensor:
    """The W_K "gradient" G of one rule (the update is W_K <- W_K - K_lr * G), shape ``(..., d_k, 3L)``.

    Uses only the slow weights, the fast state, x_q, y and the query results (no context items):

    - ``fixed``: 0.
    - ``via_mhn``: k~ = W_K x~, a^K = softmax(beta W_hi k~), y_K = W_oh a^K;
      ``G = 2 beta sum_b W_hi^T J(a^K) W_oh^T (y_K - y) x~^T``.
    - ``qk_align``: ``G = 2 sum_b (W_K x~ - q') x~^T`` with q' = W_Q_new x_q (updated W_Q).
    - ``hebbian``: ``G = -sum_b q' x~^T`` (so the update is +K_lr q' x~^T).
    - ``exact_onehot``: :func:`exact_onehot_wk_grad` with the MHN's x~, q, y_hat = W_V x~, e = W_V x~ - y,
      gamma = beta (exact gradient of L_QV under Theorem 4's conditions, one-hot items).
    - ``exact_reinstatement`` (B): ``G = 2 sum_b q (W_reinst^T (g^Q ⊙ recruited))^T``, the exact
      gradient of L_QV through the stored keys, via a second, error-weighted reinstatement.
    Book: ``eq-methods-wk-rules`` ({ref}`ch-training`).
    """
    check_choice("wk_rule", rule, WK_RULES)
    W_K = slow.W_K
    if rule == "fixed":
        return torch.zeros_like(W_K)
    if rule == "via_mhn":
        k_t = lin(W_K, query.x_tilde)
        aK = unit_softmax(fast, k_t, config.beta, config.mask_unrecruited)
        yK = rowdot(fast.W_oh, aK)
        u = vecmat(yK - y, fast.W_oh)
        hg = key_readout(fast, jvp_softmax(aK, u))
        return 2 * config.beta * outer_sum(hg, query.x_tilde)
    Wq = slow.W_Q if W_Q_new is None else W_Q_new
    if rule in ("qk_align", "hebbian"):
        q_new = lin(Wq, xq)
        if rule == "hebbian":
            return -outer_sum(q_new, query.x_tilde)
        r = lin(W_K, query.x_tilde) - q_new
        return 2 * outer_sum(r, query.x_tilde)
    if rule == "exact_onehot":
        y_hat = grads.e_qv + y
        return exact_onehot_wk_grad(query.q, query.x_tilde, slow.W_V, grads.e_qv, y_hat, config.beta)
    # exact_reinstatement
    g = grads.g_q * fast.recruited.to(grads.g_q.dtype)
    xg = vecmat(g, fast.W_reinst)
    return 2 * outer_sum(query.q, xg)


@dataclass
class MHNStep:
    """What one training step computed (:func:`mhn_update`).

    ``slow``: the updated :class:`SlowWeights`; ``query``: the :class:`MHNQuery` of the step; ``grads``: the
    local W_Q/W_V gradients (:class:`MHNGrads`); ``wk_grad``: the applied rule's W_K direction
    ``(..., d_k, 3L)``; ``diagnostic_wk_grads``: the W_K direction of every rule asked for in ``diagnostic_rules``
    (computed on the same step, never applied), keyed by rule name.
    Book: {prf:ref}`alg-mhn-transformer-step`.
    """

    slow: SlowWeights
    query: MHNQuery
    grads: MHNGrads
    wk_grad: torch.Tensor
    diagnostic_wk_grads: dict = field(default_factory=dict)


def mhn_update(config: MHNConfig, slow: SlowWeights, fast: FastWeights, xq, y, lr: float, key_lr: float,
               diagnostic_rules=()) -> MHNStep:
    """One slot-free training step after storage ({prf:ref}`alg-mhn-transformer-step`). Takes NO context items.

    Order: forward query, W_Q and W_V gradients, update W_Q then W_V, then W_K with the config's rule
    (from the pre-update W_K and step-1 fast weights/x~; qk_align and hebbian use the updated W_Q).
    ``diagnostic_rules``: W_K rules whose direction is also computed on this step, for diagnostics.
    """
    lr = check_float("lr", lr, 0.0)
    key_lr = check_float("key_lr", key_lr, 0.0)
    grads, query = mhn_local_grads(config, slow, fast, xq, y)
    W_Q = slow.W_Q - lr * grads.dW_Q
    W_V = slow.W_V - lr * grads.dW_V
    G = wk_rule_gradient(config.wk_rule, config, slow, fast, xq, y, query, grads, W_Q_new=W_Q)
    diagnostic = {rule: G if rule == config.wk_rule else wk_rule_gradient(
        rule, config, slow, fast, xq, y, query, grads, W_Q_new=W_Q) for rule in diagnostic_rules}
    W_K = slow.W_K if config.wk_rule == "fixed" else slow.W_K - key_lr * G
    return MHNStep(SlowWeights(W_Q, W_K, W_V), query, grads, G, diagnostic)
