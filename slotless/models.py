"""The minimal slot-based transformer and the slot-free MHN-Transformer (spec §5.2-5.5, §5.8).

Everything here is plain torch with hand-written gradients, so that a stack of seeds runs
as one graph. Shapes use a leading ``...`` that is either empty (one seed) or ``(S,)`` (a
stack of S seeds); every function broadcasts over it:

- slow weights ``W_Q, W_K: (..., d_k, 3L)``, ``W_V: (..., 2, 3L)``;
- a batch ``X: (..., B, C, 3L)`` (context items), ``xq: (..., B, 3L)`` (query token),
  ``y: (..., B, 2)`` (one-hot case target).

Losses and gradients are **sums** over the batch (spec §8.12); callers divide a logged loss
by ``B``.

Slot-freeness is structural: :func:`mhn_store` is the only function that sees the context
items ``X``; :func:`mhn_query`, :func:`mhn_local_grads` and :func:`mhn_update` take only the
slow weights, the fast-weight state (:class:`FastWeights`), ``xq`` and ``y``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numba as nb
import numpy as np
import torch

from .checks import ConfigError, check_choice, check_float, check_int
from .rng import trial_seed_sequence

__all__ = [
    "TransformerConfig",
    "MHNConfig",
    "SlowWeights",
    "TransformerForward",
    "FastWeights",
    "MHNQuery",
    "MHNGrads",
    "WK_RULES",
    "WV_MODES",
    "torch_generators",
    "init_transformer",
    "init_mhn",
    "transformer_forward",
    "transformer_loss",
    "transformer_grads",
    "exact_onehot_wk_grad",
    "item_projections",
    "draw_fast_init",
    "mhn_store",
    "mhn_query",
    "mhn_local_grads",
    "wk_rule_gradient",
    "mhn_update",
    "cosine",
]

WK_RULES = ("fixed", "via_mhn", "qk_align", "hebbian", "exact_onehot", "exact_reinstatement")
WV_MODES = ("via_reinstatement", "via_mhn_output")
PRESETS = ("default", "paper_time")


# ------------------------------------------------------------------ configurations
@dataclass(frozen=True)
class TransformerConfig:
    """Minimal transformer (spec §5.2).

    ``preset="default"``: gamma = 1, init SD 1/sqrt(d_k) (the book's default, Theorem 4 needs it).
    ``preset="paper_time"``: gamma = 1/sqrt(d_k), init SD 0.25/sqrt(d_k) (the authors' paper-time code).
    Explicit ``gamma``/``init_sd`` override the preset. ``mimic_reference_grad`` reproduces the paper-time
    manual-gradient quirk (spec §5.3): all gradient terms use the unscaled softmax, no gamma factor.
    """

    letters: int = 4
    context: int = 4
    key_dim: int = 32
    gamma: float | None = None
    init_sd: float | None = None
    preset: str = "default"
    mimic_reference_grad: bool = False

    def __post_init__(self):
        check_int("letters", self.letters, 1)
        check_int("context", self.context, 1, self.letters)
        check_int("key_dim", self.key_dim, 1)
        check_choice("preset", self.preset, PRESETS)
        if self.gamma is not None:
            check_float("gamma", self.gamma, 0.0, lo_open=True)
        if self.init_sd is not None:
            check_float("init_sd", self.init_sd, 0.0)
        if not isinstance(self.mimic_reference_grad, bool):
            raise ConfigError(f"mimic_reference_grad={self.mimic_reference_grad!r} must be a bool")

    @property
    def dim(self) -> int:
        return 3 * self.letters

    @property
    def gamma_value(self) -> float:
        if self.gamma is not None:
            return float(self.gamma)
        return 1.0 if self.preset == "default" else 1.0 / math.sqrt(self.key_dim)

    @property
    def init_sd_value(self) -> float:
        if self.init_sd is not None:
            return float(self.init_sd)
        scale = 1.0 if self.preset == "default" else 0.25
        return scale / math.sqrt(self.key_dim)


@dataclass(frozen=True)
class MHNConfig:
    """MHN-Transformer (spec §5.4-5.5, §5.8).

    ``hidden`` = n_h fast units; ``input_projections`` adds the fixed W_items (rho on the first 2L
    diagonal entries; needs hidden >= 2L) and starts W_hi at zero. ``wk_rule`` in :data:`WK_RULES`,
    ``wv_mode`` in :data:`WV_MODES`. ``mask_unrecruited`` (B) gives units holding no item logit -inf.
    """

    letters: int = 4
    context: int = 4
    key_dim: int = 32
    hidden: int = 8
    input_projections: bool = True
    rho: float = 1.0
    beta: float = 1.0
    mask_unrecruited: bool = False
    wk_rule: str = "fixed"
    wv_mode: str = "via_reinstatement"
    init_sd: float | None = None

    def __post_init__(self):
        check_int("letters", self.letters, 1)
        check_int("context", self.context, 1, self.letters)
        check_int("key_dim", self.key_dim, 1)
        check_int("hidden", self.hidden, 1)
        check_float("rho", self.rho, 0.0, lo_open=True)
        check_float("beta", self.beta, 0.0, lo_open=True)
        check_choice("wk_rule", self.wk_rule, WK_RULES)
        check_choice("wv_mode", self.wv_mode, WV_MODES)
        if self.input_projections and self.hidden < 2 * self.letters:
            raise ConfigError(
                f"hidden={self.hidden} is out of range: input projections need hidden >= 2*letters = "
                f"{2 * self.letters}"
            )
        if self.init_sd is not None:
            check_float("init_sd", self.init_sd, 0.0)

    @property
    def dim(self) -> int:
        return 3 * self.letters

    @property
    def init_sd_value(self) -> float:
        return float(self.init_sd) if self.init_sd is not None else 1.0 / math.sqrt(self.key_dim)


class SlowWeights(NamedTuple):
    """Slow (trained) weights. ``W_Q, W_K: (..., d_k, 3L)``, ``W_V: (..., 2, 3L)``."""

    W_Q: torch.Tensor
    W_K: torch.Tensor
    W_V: torch.Tensor


def _dtype(dtype) -> torch.dtype:
    if dtype in (None, "float32", torch.float32, np.float32):
        return torch.float32
    if dtype in ("float64", torch.float64, np.float64):
        return torch.float64
    raise ConfigError(f"dtype={dtype!r} is not allowed: choose one of 'float32', 'float64'")


def torch_generators(seed: int, seeds, stream: str) -> list[torch.Generator]:
    """One ``torch.Generator`` per seed index in ``seeds`` (an int n means ``range(n)``).

    Derived from :func:`slotless.rng.trial_seed_sequence` so seed ``s`` draws the same numbers
    whether it runs alone or stacked with others.
    """
    seed = check_int("seed", seed, 0)
    if isinstance(seeds, (int, np.integer)):
        seeds = range(check_int("seeds", seeds, 1))
    gens = []
    for s in seeds:
        state = trial_seed_sequence(seed, int(s), stream).generate_state(1, np.uint64)[0]
        gens.append(torch.Generator().manual_seed(int(state) & ((1 << 63) - 1)))
    return gens


def _lin(W, x):
    """``W x`` for every vector in ``x``: ``W (..., n, m)``, ``x (..., B, m)`` or ``(..., B, C, m)``."""
    if W.ndim == 2:
        return x @ W.mT
    # one (rows, m) @ (m, n) product per seed: broadcasting W over B would run B*C tiny products
    flat = x.reshape(*W.shape[:-2], -1, x.shape[-1])
    return (flat @ W.mT).reshape(*x.shape[:-1], W.shape[-2])


def _outer_sum(u, v):
    """``sum_b u_b v_b^T``: ``u (..., B, m)``, ``v (..., B, n)`` -> ``(..., m, n)``."""
    return u.mT @ v


def _rowdot(A, v):
    """``A_b v_b`` per batch item: ``A (..., B, n, m)``, ``v (..., B, m)`` -> ``(..., B, n)``."""
    return (A * v.unsqueeze(-2)).sum(-1)


def _vecmat(v, A):
    """``v_b^T A_b`` per batch item: ``v (..., B, n)``, ``A (..., B, n, m)`` -> ``(..., B, m)``."""
    # multiply-and-sum, not a batched (1, n) @ (n, m) product: far faster for tiny n and m
    return (v.unsqueeze(-1) * A).sum(-2)


def _softmax(logits):
    """Softmax over the last dim; several times faster than ``torch.softmax`` for the tiny last dims here."""
    e = (logits - logits.amax(-1, keepdim=True)).exp()
    return e / e.sum(-1, keepdim=True)


def _stack_draw(generators, fn) -> torch.Tensor:
    return torch.stack([fn(g) for g in generators])


def init_transformer(config: TransformerConfig, generators, dtype=None) -> SlowWeights:
    """Initial weights for a stack of seeds, one generator each (spec §5.2).

    W_Q, W_K ~ N(0, init_sd^2), W_V ~ U(0, 0.1). Returns tensors with leading dim S = len(generators).
    """
    dt = _dtype(dtype)
    dk, d, sd = config.key_dim, config.dim, config.init_sd_value

    def one(g):
        wq = torch.randn(dk, d, generator=g, dtype=torch.float64) * sd
        wk = torch.randn(dk, d, generator=g, dtype=torch.float64) * sd
        wv = torch.rand(2, d, generator=g, dtype=torch.float64) * 0.1
        return torch.cat([wq, wk, wv])

    w = _stack_draw(generators, one).to(dt)
    return SlowWeights(w[:, :dk].contiguous(), w[:, dk : 2 * dk].contiguous(), w[:, 2 * dk :].contiguous())


def init_mhn(config: MHNConfig, generators, dtype=None) -> SlowWeights:
    """Initial slow weights of the MHN-Transformer: W_Q, W_K ~ N(0, 1/d_k), W_V ~ U(0, 0.1) (spec §5.4)."""
    tc = TransformerConfig(config.letters, config.context, config.key_dim, init_sd=config.init_sd_value)
    return init_transformer(tc, generators, dtype)


# ------------------------------------------------------------ minimal transformer
@dataclass
class TransformerForward:
    """Forward pass of the minimal transformer (spec §5.2).

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
    """q = W_Q x_q, k_j = W_K x_j, v_j = W_V x_j, a = softmax(gamma K^T q), y_hat = sum_j a_j v_j."""
    W_Q, W_K, W_V = params
    q = _lin(W_Q, xq)
    K = _lin(W_K, X)
    V = _lin(W_V, X)
    a = _softmax(gamma * _rowdot(K, q))
    y_hat = _vecmat(a, V)
    x_tilde = _vecmat(a, X)
    return TransformerForward(q, K, V, a, y_hat, x_tilde)


def transformer_loss(params: SlowWeights, X, xq, y, gamma: float) -> torch.Tensor:
    """Summed squared error ``sum_b ||y_hat_b - y_b||^2``, shape ``(...)`` (one value per seed)."""
    out = transformer_forward(params, X, xq, gamma)
    return ((out.y_hat - y) ** 2).sum(dim=(-2, -1))


def transformer_grads(params: SlowWeights, X, xq, y, gamma: float, mimic_reference_grad: bool = False):
    """Explicit outer-product gradients of the summed loss (spec §5.3).

    With ``e = y_hat - y`` and ``g_j = gamma a_j (v_j - y_hat)^T e``:
    ``dW_V = 2 sum_b e x~^T``, ``dW_Q = 2 sum_b (K g) x_q^T``, ``dW_K = 2 sum_b q (X g)^T``.

    ``mimic_reference_grad=True`` reproduces the paper-time quirk: every gradient term uses the
    unscaled softmax ``a' = softmax(K^T q)`` (also in x~ and y_hat of the g factor) and no gamma,
    while ``e`` comes from the gamma-scaled forward pass.

    Returns ``(SlowWeights of gradients, TransformerForward)``.
    """
    out = transformer_forward(params, X, xq, gamma)
    e = out.y_hat - y
    if mimic_reference_grad:
        a = _softmax(_rowdot(out.K, out.q))
        y_mix = _vecmat(a, out.V)
        x_tilde = _vecmat(a, X)
        scale = 1.0
    else:
        a, y_mix, x_tilde, scale = out.a, out.y_hat, out.x_tilde, gamma
    g = scale * a * _rowdot(out.V - y_mix.unsqueeze(-2), e)
    dW_V = 2 * _outer_sum(e, x_tilde)
    Kg = _vecmat(g, out.K)
    dW_Q = 2 * _outer_sum(Kg, xq)
    Xg = _vecmat(g, X)
    dW_K = 2 * _outer_sum(out.q, Xg)
    return SlowWeights(dW_Q, dW_K, dW_V), out


def exact_onehot_wk_grad(q, x_tilde, W_V, e, y_hat, gamma: float) -> torch.Tensor:
    """The slot-free exact W_K gradient for distinct one-hot items (corrected Remark 6, spec §6).

    ``2 gamma sum_b q [x~ ⊙ (W_V^T e) - (y_hat^T e) x~]^T``, shape ``(..., d_k, 3L)``. Inputs:
    ``q: (..., B, d_k)``, ``x_tilde: (..., B, 3L)``, ``W_V: (..., 2, 3L)``, ``e, y_hat: (..., B, 2)``.
    Exact when x~ = sum_j a_j x_j over distinct one-hot x_j (then sum_j a_j x_j x_j^T = diag(x~)).
    """
    wte = e @ W_V
    ye = (y_hat * e).sum(-1, keepdim=True)
    r = x_tilde * wte - ye * x_tilde
    return 2 * gamma * _outer_sum(q, r)


# ------------------------------------------------------------ MHN-Transformer
@dataclass
class FastWeights:
    """Per-sequence fast weights of the 1-winner MHN (spec §5.4), after storage.

    ``W_oh: (..., B, 2, n_h)`` stored values; ``W_reinst: (..., B, n_h, 3L)`` stored items;
    ``recruited: (..., B, n_h)`` bool; ``winners: (..., B, C)`` long (unit chosen at each context step);
    ``collided: (..., B)`` bool (an item was overwritten in this sequence).

    The stored keys ``W_hi: (..., B, n_h, d_k)`` are held in factored form: a recruited unit's key row
    is ``k = W_K x`` for the item ``x`` it holds, and that item is its ``W_reinst`` row, so
    ``W_hi[u] = key_map W_reinst[u]`` with ``key_map: (..., d_k, 3L)`` the (detached) W_K used at
    storage. An unrecruited unit keeps its initial row ``W_hi0[u]`` (``W_hi0: (..., B, n_h, d_k)``,
    or None for all-zero rows). The dense :attr:`W_hi` is built on request; the training step never
    builds it (:func:`_key_drives`, :func:`_key_readout`), which makes it several times faster.
    """

    key_map: torch.Tensor
    W_hi0: torch.Tensor | None
    W_oh: torch.Tensor
    W_reinst: torch.Tensor
    recruited: torch.Tensor
    winners: torch.Tensor
    collided: torch.Tensor

    def select(self, rows) -> "FastWeights":
        """The fast weights of some sequences of each seed: ``rows`` holds one index tensor per seed, all
        of one length n; returns fast weights with leading dims ``(S, n)`` (the key map, one per seed, is kept)."""
        def pick(t):
            return None if t is None else torch.stack([t[s, r] for s, r in enumerate(rows)])

        return FastWeights(self.key_map, pick(self.W_hi0), pick(self.W_oh), pick(self.W_reinst),
                           pick(self.recruited), pick(self.winners), pick(self.collided))

    @property
    def W_hi(self) -> torch.Tensor:
        """The stored keys as a dense tensor ``(..., B, n_h, d_k)``."""
        keys = _lin(self.key_map, self.W_reinst)
        return torch.where(self.recruited.unsqueeze(-1), keys, 0.0 if self.W_hi0 is None else self.W_hi0)


def _key_drives(fast: FastWeights, vec) -> torch.Tensor:
    """``W_hi vec`` per unit, ``(..., B, n_h)``, for ``vec: (..., B, d_k)``, without building W_hi.

    A recruited unit's drive is ``x . (key_map^T vec)`` for its item ``x``; an unrecruited unit's is
    ``W_hi0[u] . vec``.
    """
    projected = _lin(fast.key_map.mT, vec)  # (..., B, 3L)
    from_items = _rowdot(fast.W_reinst, projected)
    initial = 0.0 if fast.W_hi0 is None else _rowdot(fast.W_hi0, vec)
    return torch.where(fast.recruited, from_items, initial)


def _key_readout(fast: FastWeights, g) -> torch.Tensor:
    """``W_hi^T g = sum_u g_u W_hi[u]``, ``(..., B, d_k)``, for unit signals ``g: (..., B, n_h)``."""
    held = fast.recruited.to(g.dtype)
    out = _lin(fast.key_map, _vecmat(g * held, fast.W_reinst))
    if fast.W_hi0 is not None:
        out = out + _vecmat(g * (1 - held), fast.W_hi0)
    return out


def item_projections(config: MHNConfig, dtype=None) -> torch.Tensor | None:
    """The fixed input projections ``W_items: (n_h, 3L)``, rho on [i, i] for i < 2L; None if off."""
    if not config.input_projections:
        return None
    w = torch.zeros(config.hidden, config.dim, dtype=_dtype(dtype))
    idx = torch.arange(2 * config.letters)
    w[idx, idx] = config.rho
    return w


def draw_fast_init(config: MHNConfig, batch_size: int, generators, dtype=None):
    """Fresh fast-weight initial values and tie-break noise for one batch of every seed.

    Returns ``(W_hi0, W_oh0, W_reinst0, tie_noise)`` with leading dims ``(S, B)``:
    W_hi0 ~ U(0, 0.5) (None, meaning zeros, with projections), W_oh0 ~ U(0, 1), W_reinst0 ~ U(0, 1),
    ``tie_noise: (S, B, C, n_h)`` ~ U(0, 1) used to break ties among maximal drives at random.
    Each seed draws from its own generator, in one call.
    """
    B = check_int("batch_size", batch_size, 1)
    nh, dk, d, C = config.hidden, config.key_dim, config.dim, config.context
    n_hi = 0 if config.input_projections else nh * dk
    sizes = [n_hi, 2 * nh, nh * d, C * nh]
    total = sum(sizes)
    S = len(generators)
    raw = torch.empty(S, B, total)
    for row, g in zip(raw, generators):  # straight into place: no per-seed copies to stack
        torch.rand(B, total, generator=g, out=row)
    raw = raw.to(_dtype(dtype))
    parts = torch.split(raw, sizes, dim=-1)
    W_hi0 = None if config.input_projections else 0.5 * parts[0].reshape(S, B, nh, dk)
    W_oh0 = parts[1].reshape(S, B, 2, nh)
    W_reinst0 = parts[2].reshape(S, B, nh, d)
    tie_noise = parts[3].reshape(S, B, C, nh)
    return W_hi0, W_oh0, W_reinst0, tie_noise


@nb.njit(cache=True)
def _store_sequences(gram, unheld_drive, held_proj, tie_noise, X, V, W_reinst0, W_oh0,
                     winners, collided, W_reinst, W_oh):  # pragma: no cover - compiled
    """The 1-winner storage loop of :func:`mhn_store`, one sequence at a time (arrays ``(S, B, ...)``).

    Drives at step t: a unit holding item j gets ``gram[j, t] + held_proj[t, u]``, a free unit
    ``unheld_drive[t, u]``. Among the maximal drives the largest ``1 + tie_noise`` wins (the first such
    unit if several are equal). Fills ``winners (S, B, C)``, ``collided (S, B)``, and the assembled
    ``W_reinst (S, B, n_h, 3L)`` and ``W_oh (S, B, 2, n_h)``.
    """
    S, B, C, nh = unheld_drive.shape
    holder = np.empty(nh, np.int64)
    drive = np.empty(nh, gram.dtype)
    one = gram.dtype.type(1.0)
    for s in range(S):
        for b in range(B):
            holder[:] = -1
            hit = False
            for t in range(C):
                top = -np.inf
                for u in range(nh):
                    j = holder[u]
                    drive[u] = gram[s, b, j, t] + held_proj[s, b, t, u] if j >= 0 else unheld_drive[s, b, t, u]
                    if drive[u] > top:
                        top = drive[u]
                best, best_score = 0, -one  # all drives NaN: unit 0, as torch's argmax of zeros
                for u in range(nh):
                    if drive[u] >= top and one + tie_noise[s, b, t, u] > best_score:
                        best, best_score = u, one + tie_noise[s, b, t, u]
                hit = hit or holder[best] >= 0
                holder[best] = t
                winners[s, b, t] = best
            collided[s, b] = hit
            for u in range(nh):
                j = holder[u]
                if j >= 0:
                    W_reinst[s, b, u, :] = X[s, b, j, :]
                    W_oh[s, b, :, u] = V[s, b, j, :]
                else:
                    W_reinst[s, b, u, :] = W_reinst0[s, b, u, :]
                    W_oh[s, b, :, u] = W_oh0[s, b, :, u]


def mhn_store(config: MHNConfig, W_K, W_V, X, W_hi0, W_oh0, W_reinst0, tie_noise, W_items=None) -> FastWeights:
    """One-shot 1-winner storage of the context (spec §5.4). The ONLY function that reads ``X``.

    For t = 1..C: k_t = W_K x_t, v_t = W_V x_t; winner j = argmax(W_hi k_t [+ W_items x_t]) with
    ties broken by the largest ``tie_noise[..., t, :]`` among maximal drives; then overwrite
    W_hi[j] <- k_t, W_oh[:, j] <- v_t, W_reinst[j] <- x_t. Stored values are constants (detached).

    Implementation: a unit's row of W_hi is either its initial row or the key of the item it holds,
    so the drives are read from the key Gram matrix and ``K W_hi0^T``; the winner loop runs compiled
    (:func:`_store_sequences`) and the fast weights are assembled once at the end, with W_hi in the
    factored form of :class:`FastWeights`. Shapes: ``W_K (..., d_k, 3L)``,
    ``W_V (..., 2, 3L)``, ``X (..., B, C, 3L)``; initial fast weights as from :func:`draw_fast_init`
    (``W_hi0`` None means zeros); ``W_items (n_h, 3L)`` or None. Returns new tensors (inputs are not
    modified; nothing returned is a view of ``X``).
    """
    X = X.detach()
    W_K = W_K.detach().clone()  # the key map of this storage, kept in the fast weights
    K = _lin(W_K, X)  # (..., B, C, d_k)
    V = _lin(W_V.detach(), X)  # (..., B, C, 2)
    B, C, d = X.shape[-3:]
    # leading (seed) dims: X and the initial fast weights broadcast against each other
    lead = torch.broadcast_shapes(X.shape[:-3], W_oh0.shape[:-3], W_reinst0.shape[:-3], tie_noise.shape[:-3])
    nh = W_oh0.shape[-1]
    gram = K @ K.mT  # (..., B, C, C): k_j . k_t
    if W_items is None:
        held_proj = torch.zeros(X.shape[:-1] + (nh,), dtype=X.dtype)
    else:
        held_proj = X @ W_items.to(X.dtype).mT  # (..., B, C, n_h): W_items[u] . x_t
    # a free unit's drive: its initial row W_hi0[u] . k_t (zero rows if None) plus the projection
    unheld_drive = held_proj if W_hi0 is None else K @ W_hi0.to(X.dtype).mT + held_proj
    winners = torch.empty(lead + (B, C), dtype=torch.long)
    collided = torch.empty(lead + (B,), dtype=torch.bool)
    W_reinst = torch.empty(lead + (B, nh, d), dtype=X.dtype)
    W_oh = torch.empty(lead + (B, 2, nh), dtype=X.dtype)

    def arr(t, own=3):  # contiguous (S, B, ...) numpy array of a tensor with `own` non-seed dims
        tail = t.shape[t.ndim - own:]
        return np.ascontiguousarray(t.expand(lead + tail).reshape((-1,) + tail).numpy())  # outputs: views

    _store_sequences(arr(gram), arr(unheld_drive), arr(held_proj), arr(tie_noise.to(X.dtype)), arr(X), arr(V),
                     arr(W_reinst0.to(X.dtype)), arr(W_oh0.to(X.dtype)), arr(winners, 2), arr(collided, 1),
                     arr(W_reinst), arr(W_oh))
    recruited = torch.zeros(lead + (B, nh), dtype=torch.bool).scatter_(-1, winners, True)
    W_hi0 = None if W_hi0 is None else W_hi0.to(X.dtype)
    return FastWeights(W_K, W_hi0, W_oh, W_reinst, recruited, winners, collided)


@dataclass
class MHNQuery:
    """Query step (spec §5.4). ``q: (..., B, d_k)``, ``a: (..., B, n_h)`` softmax over units,
    ``y_hat: (..., B, 2)`` = W_oh a (the MHN output, used for accuracy), ``x_tilde: (..., B, 3L)``
    = W_reinst^T a (the reinstated item)."""

    q: torch.Tensor
    a: torch.Tensor
    y_hat: torch.Tensor
    x_tilde: torch.Tensor


def _unit_softmax(fast: FastWeights, vec, beta: float, mask_unrecruited: bool):
    logits = beta * _key_drives(fast, vec)
    if mask_unrecruited:
        logits = logits.masked_fill(~fast.recruited, float("-inf"))
    return _softmax(logits)


def mhn_query(config: MHNConfig, W_Q, fast: FastWeights, xq) -> MHNQuery:
    """q = W_Q x_q, a = softmax(beta W_hi q) over all n_h units (masked if configured),
    y_hat_MHN = W_oh a, x~ = W_reinst^T a. Reads no context item."""
    q = _lin(W_Q, xq)
    a = _unit_softmax(fast, q, config.beta, config.mask_unrecruited)
    y_hat = _rowdot(fast.W_oh, a)
    x_tilde = _vecmat(a, fast.W_reinst)
    return MHNQuery(q, a, y_hat, x_tilde)


def _jvp_softmax(a, u):
    """J u with J = diag(a) - a a^T, over the last dim."""
    return a * (u - (a * u).sum(-1, keepdim=True))


@dataclass
class MHNGrads:
    """Local gradients of one batch (summed over it). ``dW_Q, dW_V`` as the slow weights;
    ``e_qv = W_V x~ - y: (..., B, 2)``; ``g_q: (..., B, n_h)`` the unit-level error signal."""

    dW_Q: torch.Tensor
    dW_V: torch.Tensor
    e_qv: torch.Tensor
    g_q: torch.Tensor


def mhn_local_grads(config: MHNConfig, slow: SlowWeights, fast: FastWeights, xq, y, query: MHNQuery | None = None):
    """W_Q and W_V gradients from quantities present at the query step (spec §5.5, Prop 5).

    ``g^Q = beta J W_reinst W_V^T e`` with ``e = W_V x~ - y``; ``dW_Q = 2 sum_b W_hi^T g^Q x_q^T``
    (exact gradient of L_QV with fast weights fixed); ``dW_V = 2 sum_b e x~^T`` (``via_reinstatement``)
    or with ``e = y_hat_MHN - y`` (``via_mhn_output``). Returns ``(MHNGrads, MHNQuery)``.
    """
    if query is None:
        query = mhn_query(config, slow.W_Q, fast, xq)
    e = _lin(slow.W_V, query.x_tilde) - y
    u = _rowdot(fast.W_reinst, e @ slow.W_V)
    g_q = config.beta * _jvp_softmax(query.a, u)
    hg = _key_readout(fast, g_q)
    dW_Q = 2 * _outer_sum(hg, xq)
    e_v = e if config.wv_mode == "via_reinstatement" else query.y_hat - y
    dW_V = 2 * _outer_sum(e_v, query.x_tilde)
    return MHNGrads(dW_Q, dW_V, e, g_q), query


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
    - ``exact_reinstatement`` (§5.8): ``G = 2 sum_b q (W_reinst^T (g^Q ⊙ recruited))^T``, the exact
      gradient of L_QV through the stored keys, via a second, error-weighted reinstatement.
    """
    check_choice("wk_rule", rule, WK_RULES)
    W_K = slow.W_K
    if rule == "fixed":
        return torch.zeros_like(W_K)
    if rule == "via_mhn":
        k_t = _lin(W_K, query.x_tilde)
        aK = _unit_softmax(fast, k_t, config.beta, config.mask_unrecruited)
        yK = _rowdot(fast.W_oh, aK)
        u = _vecmat(yK - y, fast.W_oh)
        hg = _key_readout(fast, _jvp_softmax(aK, u))
        return 2 * config.beta * _outer_sum(hg, query.x_tilde)
    Wq = slow.W_Q if W_Q_new is None else W_Q_new
    if rule in ("qk_align", "hebbian"):
        q_new = _lin(Wq, xq)
        if rule == "hebbian":
            return -_outer_sum(q_new, query.x_tilde)
        r = _lin(W_K, query.x_tilde) - q_new
        return 2 * _outer_sum(r, query.x_tilde)
    if rule == "exact_onehot":
        y_hat = grads.e_qv + y
        return exact_onehot_wk_grad(query.q, query.x_tilde, slow.W_V, grads.e_qv, y_hat, config.beta)
    # exact_reinstatement
    g = grads.g_q * fast.recruited.to(grads.g_q.dtype)
    xg = _vecmat(g, fast.W_reinst)
    return 2 * _outer_sum(query.q, xg)


def mhn_update(config: MHNConfig, slow: SlowWeights, fast: FastWeights, xq, y, lr: float, key_lr: float,
               extra_rules=()):
    """One slot-free training step after storage (spec §5.5). Takes NO context items.

    Order: forward query, W_Q and W_V gradients, update W_Q then W_V, then W_K with the config's rule
    (from the pre-update W_K and step-1 fast weights/x~; qk_align and hebbian use the updated W_Q).

    Returns ``(new SlowWeights, info)`` where ``info`` is a dict with ``query`` (:class:`MHNQuery`),
    ``grads`` (:class:`MHNGrads`), ``wk_grad`` and, for each rule in ``extra_rules``, ``"wk_grad/<rule>"``
    (for diagnostics; not applied).
    """
    lr = check_float("lr", lr, 0.0)
    key_lr = check_float("key_lr", key_lr, 0.0)
    grads, query = mhn_local_grads(config, slow, fast, xq, y)
    W_Q = slow.W_Q - lr * grads.dW_Q
    W_V = slow.W_V - lr * grads.dW_V
    info = {"query": query, "grads": grads}
    G = wk_rule_gradient(config.wk_rule, config, slow, fast, xq, y, query, grads, W_Q_new=W_Q)
    info["wk_grad"] = G
    for rule in extra_rules:
        info[f"wk_grad/{rule}"] = G if rule == config.wk_rule else wk_rule_gradient(
            rule, config, slow, fast, xq, y, query, grads, W_Q_new=W_Q)
    W_K = slow.W_K if config.wk_rule == "fixed" else slow.W_K - key_lr * G
    return SlowWeights(W_Q, W_K, W_V), info


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine between matrices over the last two dims, shape ``(...)``; 0 where either is 0."""
    num = (a * b).sum(dim=(-2, -1))
    den = a.norm(dim=(-2, -1)) * b.norm(dim=(-2, -1))
    return torch.where(den > 0, num / torch.where(den > 0, den, torch.ones_like(den)), torch.zeros_like(den))
