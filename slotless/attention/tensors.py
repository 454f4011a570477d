"""Tensor algebra for stacks of seeds: the shared primitives of Part II.

Every Part II model runs a stack of S seeds as one graph, with a leading ``...`` dimension that is
either empty (one seed) or ``(S,)``. These helpers compute the batched products the models need
without Python loops over seeds or sequences. Book: {ref}`ch-mhn-transformer`, {ref}`ch-training`.
"""

from __future__ import annotations

import numpy as np
import torch

from ..checks import ConfigError, check_int
from ..rng import trial_seed_sequence

__all__ = [
    "torch_dtype",
    "torch_generators",
    "lin",
    "outer_sum",
    "rowdot",
    "vecmat",
    "softmax",
    "jvp_softmax",
    "stack_draw",
    "cosine",
]


def torch_dtype(dtype) -> torch.dtype:
    """``torch.float32`` (the default, also for None) or ``torch.float64``. Book: ``sec-methods-training``."""
    if dtype in (None, "float32", torch.float32, np.float32):
        return torch.float32
    if dtype in ("float64", torch.float64, np.float64):
        return torch.float64
    raise ConfigError(f"dtype={dtype!r} is not allowed: choose one of 'float32', 'float64'")


def torch_generators(seed: int, seeds, stream: str) -> list[torch.Generator]:
    """One ``torch.Generator`` per seed index in ``seeds`` (an int n means ``range(n)``).

    Derived from :func:`slotless.rng.trial_seed_sequence` so seed ``s`` draws the same numbers
    whether it runs alone or stacked with others.
    Book: ``sec-methods-training`` (per-seed generators).
    """
    seed = check_int("seed", seed, 0)
    if isinstance(seeds, (int, np.integer)):
        seeds = range(check_int("seeds", seeds, 1))
    gens = []
    for s in seeds:
        state = trial_seed_sequence(seed, int(s), stream).generate_state(1, np.uint64)[0]
        gens.append(torch.Generator().manual_seed(int(state) & ((1 << 63) - 1)))
    return gens


def lin(W, x):
    """``W x`` for every vector in ``x``: ``W (..., n, m)``, ``x (..., B, m)`` or ``(..., B, C, m)``.
    Book: ``eq-methods-transformer``.
    """
    if W.ndim == 2:
        return x @ W.mT
    # one (rows, m) @ (m, n) product per seed: broadcasting W over B would run B*C tiny products
    flat = x.reshape(*W.shape[:-2], -1, x.shape[-1])
    return (flat @ W.mT).reshape(*x.shape[:-1], W.shape[-2])


def outer_sum(u, v):
    """``sum_b u_b v_b^T``: ``u (..., B, m)``, ``v (..., B, n)`` -> ``(..., m, n)``.
    Book: ``eq-methods-transformer-grads``.
    """
    return u.mT @ v


def rowdot(A, v):
    """``A_b v_b`` per batch item: ``A (..., B, n, m)``, ``v (..., B, m)`` -> ``(..., B, n)``.
    Book: ``eq-methods-transformer``.
    """
    return (A * v.unsqueeze(-2)).sum(-1)


def vecmat(v, A):
    """``v_b^T A_b`` per batch item: ``v (..., B, n)``, ``A (..., B, n, m)`` -> ``(..., B, m)``.
    Book: ``eq-methods-transformer``.
    """
    # multiply-and-sum, not a batched (1, n) @ (n, m) product: far faster for tiny n and m
    return (v.unsqueeze(-1) * A).sum(-2)


def softmax(logits):
    """Softmax over the last dim; several times faster than ``torch.softmax`` for the tiny last dims here.
    Book: ``eq-methods-transformer``, ``eq-methods-mhn-query``.
    """
    e = (logits - logits.amax(-1, keepdim=True)).exp()
    return e / e.sum(-1, keepdim=True)


def stack_draw(generators, fn) -> torch.Tensor:
    """``fn(g)`` for every generator, stacked along a new leading (seed) dimension.
    Book: ``sec-methods-training`` (per-seed generators).
    """
    return torch.stack([fn(g) for g in generators])


def jvp_softmax(a, u):
    """J u with J = diag(a) - a a^T, over the last dim.
    Book: ``eq-methods-mhn-grads``, ``eq-methods-transformer-grads``.
    """
    return a * (u - (a * u).sum(-1, keepdim=True))


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine between matrices over the last two dims, shape ``(...)``; 0 where either is 0.
    Book: ``sec-methods-training`` ({ref}`ch-training`).
    """
    num = (a * b).sum(dim=(-2, -1))
    den = a.norm(dim=(-2, -1)) * b.norm(dim=(-2, -1))
    return torch.where(den > 0, num / torch.where(den > 0, den, torch.ones_like(den)), torch.zeros_like(den))
