"""The minimal slot-based transformer: one attention head over the context (Part II's baseline).

Book: {ref}`ch-case-sequence` introduces it, {ref}`ch-methods` specifies it (``eq-methods-transformer``,
``eq-methods-transformer-grads``) and {ref}`ch-attention-results` proves when the MHN-Transformer
computes the same thing ({prf:ref}`thm-mhn-transformer-equivalence`). Plain torch with hand-written gradients,
so that a stack of seeds runs as one graph; shapes use a leading ``...`` that is empty (one seed) or
``(S,)``: slow weights ``W_Q, W_K: (..., d_k, 3L)``, ``W_V: (..., 2, 3L)``; a batch ``X: (..., B, C, 3L)``,
``xq: (..., B, 3L)``, ``y: (..., B, 2)``. Losses and gradients are **sums** over the batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch

from ..checks import ConfigError, check_choice, check_float, check_int
from .tensors import lin, outer_sum, rowdot, softmax, stack_draw, torch_dtype, vecmat

__all__ = [
    "PRESETS",
    "TransformerConfig",
    "SlowWeights",
    "TransformerForward",
    "init_transformer",
    "transformer_forward",
    "transformer_loss",
    "transformer_grads",
]

#: The transformer's two parameterisations (``tbl-methods-attention``): "default" is the book's
#: (gamma = 1, init SD 1/sqrt(d_k); {prf:ref}`thm-mhn-transformer-equivalence` needs gamma = beta = 1); "paper" is the
#: authors' paper-time code (gamma = 1/sqrt(d_k), init SD 0.25/sqrt(d_k)).
PRESETS = {
    "default": {"gamma_is_inverse_sqrt_dk": False, "init_sd_scale": 1.0},
    "paper": {"gamma_is_inverse_sqrt_dk": True, "init_sd_scale": 0.25},
}


@dataclass(frozen=True)
class TransformerConfig:
    """The minimal transformer's sizes and parameterisation (``eq-methods-transformer``).

    ``preset`` is a key of :data:`PRESETS`; explicit ``gamma``/``init_sd`` override it.
    ``paper_time_gradient`` reproduces the manual-gradient quirk of the authors' paper-time code
    (``eq-methods-transformer-grads``): all gradient terms use the unscaled softmax, no gamma factor.
    """

    letters: int = 4
    context: int = 4
    key_dim: int = 32
    gamma: float | None = None
    init_sd: float | None = None
    preset: str = "default"
    paper_time_gradient: bool = False

    def __post_init__(self):
        check_int("letters", self.letters, 1)
        check_int("context", self.context, 1, self.letters)
        check_int("key_dim", self.key_dim, 1)
        check_choice("preset", self.preset, tuple(PRESETS))
        if self.gamma is not None:
            check_float("gamma", self.gamma, 0.0, lo_open=True)
        if self.init_sd is not None:
            check_float("init_sd", self.init_sd, 0.0)
        if not isinstance(self.paper_time_gradient, bool):
            raise ConfigError(f"paper_time_gradient={self.paper_time_gradient!r} must be a bool")

    @property
    def dim(self) -> int:
        return 3 * self.letters

    @property
    def gamma_value(self) -> float:
        if self.gamma is not None:
            return float(self.gamma)
        return 1.0 / math.sqrt(self.key_dim) if PRESETS[self.preset]["gamma_is_inverse_sqrt_dk"] else 1.0

    @property
    def init_sd_value(self) -> float:
        if self.init_sd is not None:
            return float(self.init_sd)
        return PRESETS[self.preset]["init_sd_scale"] / math.sqrt(self.key_dim)


class SlowWeights(NamedTuple):
    """Slow (trained) weights. ``W_Q, W_K: (..., d_k, 3L)``, ``W_V: (..., 2, 3L)``. Book: ``eq-methods-transformer``."""

    W_Q: torch.Tensor
    W_K: torch.Tensor
    W_V: torch.Tensor


def init_transformer(config: TransformerConfig, generators, dtype=None) -> SlowWeights:
    """Initial weights for a stack of seeds, one generator each (``eq-methods-transformer``).

    W_Q, W_K ~ N(0, init_sd^2), W_V ~ U(0, 0.1). Returns tensors with leading dim S = len(generators).
    """
    dt = torch_dtype(dtype)
    dk, d, sd = config.key_dim, config.dim, config.init_sd_value

    def one(g):
        wq = torch.randn(dk, d, generator=g, dtype=torch.float64) * sd
        wk = torch.randn(dk, d, generator=g, dtype=torch.float64) * sd
        wv = torch.rand(2, d, generator=g, dtype=torch.float64) * 0.1
        return torch.cat([wq, wk, wv])

    w = stack_draw(generators, one).to(dt)
    return SlowWeights(w[:, :dk].contiguous(), w[:, dk : 2 * dk].contiguous(), w[:, 2 * dk :].contiguous())


@dataclass
class TransformerForward:
    """Forward pass of the minimal transformer (``eq-methods-transformer``).

    ``q: (..., B, d_k)``, ``K: (..., B, C, d_k)``, ``V: (..., B, C, 2)``, ``a: (..., B, C)``,
    ``y_hat: (..., B, 2)``, ``x_tilde = sum_j a_j x_j: (..., B, 3L)``.
    """

    q: torch.Tensor
    K: torch.Tensor
    V: torch.Tensor
    a: torch.Tensor
    y_hat: torch.Tensor
    x_tilde: torch.Tensor


def transformer_forward(params: SlowWeights, X, xq, gamma: float) -> TransformerForward:
    """q = W_Q x_q, k_j = W_K x_j, v_j = W_V x_j, a = softmax(gamma K^T q), y_hat = sum_j a_j v_j.
    Book: ``eq-methods-transformer`` ({ref}`ch-case-sequence`).
    """
    W_Q, W_K, W_V = params
    q = lin(W_Q, xq)
    K = lin(W_K, X)
    V = lin(W_V, X)
    a = softmax(gamma * rowdot(K, q))
    y_hat = vecmat(a, V)
    x_tilde = vecmat(a, X)
    return TransformerForward(q, K, V, a, y_hat, x_tilde)


def transformer_loss(params: SlowWeights, X, xq, y, gamma: float) -> torch.Tensor:
    """Summed squared error ``sum_b ||y_hat_b - y_b||^2``, shape ``(...)`` (one value per seed).
    Book: ``eq-methods-transformer`` ({ref}`ch-case-sequence`).
    """
    out = transformer_forward(params, X, xq, gamma)
    return ((out.y_hat - y) ** 2).sum(dim=(-2, -1))


def transformer_grads(params: SlowWeights, X, xq, y, gamma: float, paper_time_gradient: bool = False):
    """Explicit outer-product gradients of the summed loss (``eq-methods-transformer-grads``, {prf:ref}`lem-transformer-gradients`).

    With ``e = y_hat - y`` and ``g_j = gamma a_j (v_j - y_hat)^T e``:
    ``dW_V = 2 sum_b e x~^T``, ``dW_Q = 2 sum_b (K g) x_q^T``, ``dW_K = 2 sum_b q (X g)^T``.

    ``paper_time_gradient=True`` reproduces the paper-time quirk: every gradient term uses the
    unscaled softmax ``a' = softmax(K^T q)`` (also in x~ and y_hat of the g factor) and no gamma,
    while ``e`` comes from the gamma-scaled forward pass.

    Returns ``(SlowWeights of gradients, TransformerForward)``.
    """
    out = transformer_forward(params, X, xq, gamma)
    e = out.y_hat - y
    if paper_time_gradient:
        a = softmax(rowdot(out.K, out.q))
        y_mix = vecmat(a, out.V)
        x_tilde = vecmat(a, X)
        scale = 1.0
    else:
        a, y_mix, x_tilde, scale = out.a, out.y_hat, out.x_tilde, gamma
    g = scale * a * rowdot(out.V - y_mix.unsqueeze(-2), e)
    dW_V = 2 * outer_sum(e, x_tilde)
    Kg = vecmat(g, out.K)
    dW_Q = 2 * outer_sum(Kg, xq)
    Xg = vecmat(g, X)
    dW_K = 2 * outer_sum(out.q, Xg)
    return SlowWeights(dW_Q, dW_K, dW_V), out


