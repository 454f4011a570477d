"""The MHN-Transformer: keys, values and items stored one-shot in the fast weights of a 1-winner MHN.

Book: {ref}`ch-mhn-transformer` builds it, {ref}`ch-methods` specifies it (``eq-methods-mhn-store``,
``eq-methods-mhn-query``, ``eq-methods-mhn-grads``) and {ref}`ch-attention-results` proves its
equivalence to the minimal transformer ({prf:ref}`thm-mhn-transformer-equivalence`) and its slot-free W_Q and W_V
gradients ({prf:ref}`prop-slot-free-gradients`). Shapes as in :mod:`slotless.attention.transformer`.

Slot-freeness is structural: :func:`mhn_store` is the only function that sees the context items
``X``; :func:`mhn_query`, :func:`mhn_local_grads` and the W_K rules of :mod:`slotless.attention.rules`
take only the slow weights, the fast-weight state (:class:`FastWeights`), ``xq`` and ``y``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np
import torch

from ..checks import ConfigError, check_choice, check_float, check_int
from .tensors import jvp_softmax, lin, outer_sum, rowdot, softmax, torch_dtype, vecmat
from .transformer import SlowWeights, TransformerConfig, init_transformer

__all__ = [
    "WK_RULES",
    "WV_MODES",
    "MHNConfig",
    "FastWeights",
    "MHNQuery",
    "MHNGrads",
    "init_mhn",
    "item_projections",
    "draw_fast_init",
    "mhn_store",
    "key_drives",
    "key_readout",
    "unit_softmax",
    "mhn_query",
    "mhn_local_grads",
]

WK_RULES = ("fixed", "via_mhn", "qk_align", "hebbian", "exact_onehot", "exact_reinstatement")
WV_MODES = ("via_reinstatement", "via_mhn_output")


@dataclass(frozen=True)
class MHNConfig:
    """MHN-Transformer sizes and switches (``eq-methods-mhn-store``, ``eq-methods-mhn-query``).

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


def init_mhn(config: MHNConfig, generators, dtype=None) -> SlowWeights:
    """Initial slow weights of the MHN-Transformer: W_Q, W_K ~ N(0, 1/d_k), W_V ~ U(0, 0.1) (``eq-methods-mhn-store``)."""
    tc = TransformerConfig(config.letters, config.context, config.key_dim, init_sd=config.init_sd_value)
    return init_transformer(tc, generators, dtype)


# ------------------------------------------------------------ minimal transformer
@dataclass
class FastWeights:
    """Per-sequence fast weights of the 1-winner MHN after storage (``eq-methods-mhn-store``).

    ``W_oh: (..., B, 2, n_h)`` stored values; ``W_reinst: (..., B, n_h, 3L)`` stored items;
    ``recruited: (..., B, n_h)`` bool; ``winners: (..., B, C)`` long (unit chosen at each context step);
    ``collided: (..., B)`` bool (an item was overwritten in this sequence).

    The stored keys ``W_hi: (..., B, n_h, d_k)`` are held in factored form: a recruited unit's key row
    is ``k = W_K x`` for the item ``x`` it holds, and that item is its ``W_reinst`` row, so
    ``W_hi[u] = key_map W_reinst[u]`` with ``key_map: (..., d_k, 3L)`` the (detached) W_K used at
    storage. An unrecruited unit keeps its initial row ``W_hi0[u]`` (``W_hi0: (..., B, n_h, d_k)``,
    or None for all-zero rows). The dense :attr:`W_hi` is built on request; the training step never
    builds it (:func:`key_drives`, :func:`key_readout`), which makes it several times faster.
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
        keys = lin(self.key_map, self.W_reinst)
        return torch.where(self.recruited.unsqueeze(-1), keys, 0.0 if self.W_hi0 is None else self.W_hi0)


def key_drives(fast: FastWeights, vec) -> torch.Tensor:
    """``W_hi vec`` per unit, ``(..., B, n_h)``, for ``vec: (..., B, d_k)``, without building W_hi.

    A recruited unit's drive is ``x . (key_map^T vec)`` for its item ``x``; an unrecruited unit's is
    ``W_hi0[u] . vec``.
    Book: ``eq-methods-mhn-query``.
    """
    projected = lin(fast.key_map.mT, vec)  # (..., B, 3L)
    from_items = rowdot(fast.W_reinst, projected)
    initial = 0.0 if fast.W_hi0 is None else rowdot(fast.W_hi0, vec)
    return torch.where(fast.recruited, from_items, initial)


def key_readout(fast: FastWeights, g) -> torch.Tensor:
    """``W_hi^T g = sum_u g_u W_hi[u]``, ``(..., B, d_k)``, for unit signals ``g: (..., B, n_h)``.
    Book: ``eq-methods-mhn-grads``.
    """
    held = fast.recruited.to(g.dtype)
    out = lin(fast.key_map, vecmat(g * held, fast.W_reinst))
    if fast.W_hi0 is not None:
        out = out + vecmat(g * (1 - held), fast.W_hi0)
    return out


def item_projections(config: MHNConfig, dtype=None) -> torch.Tensor | None:
    """The fixed input projections ``W_items: (n_h, 3L)``, rho on [i, i] for i < 2L; None if off.
    Book: ``eq-methods-mhn-store`` ({ref}`ch-mhn-transformer`).
    """
    if not config.input_projections:
        return None
    w = torch.zeros(config.hidden, config.dim, dtype=torch_dtype(dtype))
    idx = torch.arange(2 * config.letters)
    w[idx, idx] = config.rho
    return w


def _fast_init_sizes(config: MHNConfig) -> list[int]:
    """Lengths of the four parts of one sequence's fast-weight draws: W_hi0 (none with projections),
    W_oh0, W_reinst0 and the tie noise."""
    nh = config.hidden
    n_hi = 0 if config.input_projections else nh * config.key_dim
    return [n_hi, 2 * nh, nh * config.dim, config.context * nh]


def _draw_fast_raw(config: MHNConfig, batch_size: int, generators, out=None) -> torch.Tensor:
    """The float32 U(0, 1) draws behind :func:`draw_fast_init`, ``(S, B, n)`` in its layout, one
    ``torch.rand`` call per seed (into ``out`` if given)."""
    total = sum(_fast_init_sizes(config))
    raw = torch.empty(len(generators), batch_size, total) if out is None else out
    for row, g in zip(raw, generators):  # straight into place: no per-seed copies to stack
        torch.rand(batch_size, total, generator=g, out=row)
    return raw


def draw_fast_init(config: MHNConfig, batch_size: int, generators, dtype=None):
    """Fresh fast-weight initial values and tie-break noise for one batch of every seed.

    Returns ``(W_hi0, W_oh0, W_reinst0, tie_noise)`` with leading dims ``(S, B)``:
    W_hi0 ~ U(0, 0.5) (None, meaning zeros, with projections), W_oh0 ~ U(0, 1), W_reinst0 ~ U(0, 1),
    ``tie_noise: (S, B, C, n_h)`` ~ U(0, 1) used to break ties among maximal drives at random.
    Each seed draws from its own generator, in one call.
    Book: ``eq-methods-mhn-store`` ({ref}`ch-mhn-transformer`).
    """
    B = check_int("batch_size", batch_size, 1)
    return _split_fast_raw(config, _draw_fast_raw(config, B, generators), dtype)


def _split_fast_raw(config: MHNConfig, raw: torch.Tensor, dtype=None):
    """:func:`draw_fast_init`'s four tensors from its raw float32 draws ``(S, B, n)``."""
    S, B = raw.shape[:2]
    nh, dk, d, C = config.hidden, config.key_dim, config.dim, config.context
    parts = torch.split(raw.to(torch_dtype(dtype)), _fast_init_sizes(config), dim=-1)
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
    d = X.shape[3]
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
            # element loops: slice copies would compile a shape check (seconds of compilation)
            for u in range(nh):
                j = holder[u]
                for i in range(d):
                    W_reinst[s, b, u, i] = X[s, b, j, i] if j >= 0 else W_reinst0[s, b, u, i]
                for c in range(2):
                    W_oh[s, b, c, u] = V[s, b, j, c] if j >= 0 else W_oh0[s, b, c, u]


def mhn_store(config: MHNConfig, W_K, W_V, X, W_hi0, W_oh0, W_reinst0, tie_noise, W_items=None) -> FastWeights:
    """One-shot 1-winner storage of the context (``eq-methods-mhn-store``). The ONLY function that reads ``X``.

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
    K = lin(W_K, X)  # (..., B, C, d_k)
    V = lin(W_V.detach(), X)  # (..., B, C, 2)
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
    """Query step (``eq-methods-mhn-query``). ``q: (..., B, d_k)``, ``a: (..., B, n_h)`` softmax over units,
    ``y_hat: (..., B, 2)`` = W_oh a (the MHN output, used for accuracy), ``x_tilde: (..., B, 3L)``
    = W_reinst^T a (the reinstated item)."""

    q: torch.Tensor
    a: torch.Tensor
    y_hat: torch.Tensor
    x_tilde: torch.Tensor


def unit_softmax(fast: FastWeights, vec, beta: float, mask_unrecruited: bool):
    """``softmax(beta W_hi vec)`` over the n_h units, ``(..., B, n_h)``; unrecruited units get logit -inf if
    ``mask_unrecruited``. Book: ``eq-methods-mhn-query`` ({ref}`ch-mhn-transformer`)."""
    logits = beta * key_drives(fast, vec)
    if mask_unrecruited:
        logits = logits.masked_fill(~fast.recruited, float("-inf"))
    return softmax(logits)


def mhn_query(config: MHNConfig, W_Q, fast: FastWeights, xq) -> MHNQuery:
    """q = W_Q x_q, a = softmax(beta W_hi q) over all n_h units (masked if configured),
    y_hat_MHN = W_oh a, x~ = W_reinst^T a. Reads no context item.
    Book: ``eq-methods-mhn-query`` ({ref}`ch-mhn-transformer`).
    """
    q = lin(W_Q, xq)
    a = unit_softmax(fast, q, config.beta, config.mask_unrecruited)
    y_hat = rowdot(fast.W_oh, a)
    x_tilde = vecmat(a, fast.W_reinst)
    return MHNQuery(q, a, y_hat, x_tilde)


@dataclass
class MHNGrads:
    """Local gradients of one batch (summed over it). ``dW_Q, dW_V`` as the slow weights;
    ``e_qv = W_V x~ - y: (..., B, 2)``; ``g_q: (..., B, n_h)`` the unit-level error signal.
    Book: ``eq-methods-mhn-grads``.
    """

    dW_Q: torch.Tensor
    dW_V: torch.Tensor
    e_qv: torch.Tensor
    g_q: torch.Tensor


def mhn_local_grads(config: MHNConfig, slow: SlowWeights, fast: FastWeights, xq, y, query: MHNQuery | None = None):
    """W_Q and W_V gradients from quantities present at the query step (``eq-methods-mhn-grads``, {prf:ref}`prop-slot-free-gradients`).

    ``g^Q = beta J W_reinst W_V^T e`` with ``e = W_V x~ - y``; ``dW_Q = 2 sum_b W_hi^T g^Q x_q^T``
    (exact gradient of L_QV with fast weights fixed); ``dW_V = 2 sum_b e x~^T`` (``via_reinstatement``)
    or with ``e = y_hat_MHN - y`` (``via_mhn_output``). Returns ``(MHNGrads, MHNQuery)``.
    """
    if query is None:
        query = mhn_query(config, slow.W_Q, fast, xq)
    e = lin(slow.W_V, query.x_tilde) - y
    u = rowdot(fast.W_reinst, e @ slow.W_V)
    g_q = config.beta * jvp_softmax(query.a, u)
    hg = key_readout(fast, g_q)
    dW_Q = 2 * outer_sum(hg, xq)
    e_v = e if config.wv_mode == "via_reinstatement" else query.y_hat - y
    dW_V = 2 * outer_sum(e_v, query.x_tilde)
    return MHNGrads(dW_Q, dW_V, e, g_q), query


