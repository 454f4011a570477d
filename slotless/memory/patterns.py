"""Patterns for Part I: random s-sparse patterns, partial cues and nested-CRP trees.

Book: {ref}`ch-methods` defines them (``eq-methods-patterns``, ``eq-methods-cue``, ``eq-methods-tree``);
{ref}`ch-kwinner` and {ref}`ch-structured` use them. The sampling itself runs in the compiled
kernels of :mod:`slotless.memory.kernels`, which the fast trial engine calls too, so both see
identical data for the same seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..checks import ConfigError, check_float, check_int
from ..rng import trial_generator
from . import kernels

__all__ = [
    "random_patterns",
    "partial_cue",
    "cue_size",
    "CRPTree",
    "crp_tree",
    "tree_leaf_patterns",
    "default_tree_nodes",
    "similarity_matrix",
    "to_dense",
    "to_indices",
    "TreeSummary",
    "tree_summary",
    "SimilaritySample",
    "similarity_sample",
    "random_similarity_sd",
    "random_similarity_se",
    "leaf_similarity",
]


def _seed_from(rng: np.random.Generator) -> np.uint64:
    if not isinstance(rng, np.random.Generator):
        raise ConfigError(f"rng={rng!r} must be a numpy.random.Generator (see slotless.rng)")
    return rng.integers(0, 2**64, dtype=np.uint64)


def to_dense(rows: np.ndarray, n_input: int) -> np.ndarray:
    """Index rows ``(n, s)`` -> binary patterns ``(n, n_input)`` uint8. Book: ``eq-methods-patterns``."""
    rows = np.asarray(rows)
    out = np.zeros((rows.shape[0], n_input), dtype=np.uint8)
    if rows.size:
        np.put_along_axis(out, rows.astype(np.int64), 1, axis=1)
    return out


def to_indices(patterns: np.ndarray) -> np.ndarray:
    """Binary patterns ``(n, n_input)`` with the same number of ones per row -> ascending
    active indices ``(n, s)`` int32. Book: ``eq-methods-patterns``."""
    patterns = np.asarray(patterns)
    if patterns.ndim != 2:
        raise ConfigError(f"patterns must be 2-D (n, n_input), got shape {patterns.shape}")
    counts = patterns.sum(axis=1)
    if patterns.shape[0] and np.any(counts != counts[0]):
        raise ConfigError("patterns must have the same number of ones in every row")
    s = int(counts[0]) if patterns.shape[0] else 0
    return np.nonzero(patterns)[1].reshape(patterns.shape[0], s).astype(np.int32)


def random_patterns(n_patterns: int, n_input: int, active: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_patterns, n_input)`` uint8, each row exactly ``active`` ones at a uniform
    random set of positions, rows independent (``eq-methods-patterns``)."""
    n_patterns = check_int("n_patterns", n_patterns, 0)
    n_input = check_int("n_input", n_input, 1)
    active = check_int("active", active, 1, n_input)
    rows = kernels.random_rows(_seed_from(rng), n_patterns, n_input, active)
    return to_dense(rows, n_input)


def cue_size(cue_fraction: float, active: int) -> int:
    """m = floor(c*s) (``eq-methods-cue``), computed as floor(c*s + 1e-9) so 0.29*100 gives 29."""
    cue_fraction = check_float("cue_fraction", cue_fraction, 0.0, 1.0, lo_open=True)
    m = int(math.floor(cue_fraction * active + 1e-9))
    if m < 1:
        raise ConfigError(f"cue_fraction={cue_fraction} keeps floor(c*s)={m} bits of s={active}: need >= 1")
    return m


def partial_cue(patterns: np.ndarray, cue_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Partial cues, same shape and dtype (uint8) as ``patterns`` (``eq-methods-cue``).

    Each row keeps ``floor(cue_fraction * s)`` of its ``s`` ones, chosen uniformly without
    replacement and fresh per row; all other bits are 0 (no noise).
    """
    rows = to_indices(patterns)
    m = cue_size(cue_fraction, rows.shape[1] if rows.shape[0] else 1)
    cues = kernels.cue_rows(_seed_from(rng), rows, m)
    return to_dense(cues, np.asarray(patterns).shape[1])


@dataclass(frozen=True)
class CRPTree:
    """A nested-CRP pattern tree (``eq-methods-tree``).

    patterns: (n_nodes, n_input) uint8; parent: (n_nodes,) int32, -1 for the root;
    depth: (n_nodes,) int32, 0 for the root; leaves: node indices of the leaves,
    depth first in child-creation order.
    """

    patterns: np.ndarray
    parent: np.ndarray
    depth: np.ndarray
    leaves: np.ndarray
    flips: int


def _check_tree_args(n_input, active, flips):
    n_input = check_int("n_input", n_input, 1)
    active = check_int("active", active, 1, n_input)
    flips = check_int("flips", flips, 0, min(active, n_input - active))
    return n_input, active, flips


def crp_tree(n_nodes: int, n_input: int, active: int, flips: int, rng: np.random.Generator) -> CRPTree:
    """Grow a nested Chinese-restaurant-process tree of ``n_nodes`` nodes (root plus
    ``n_nodes - 1`` steps, concentration 1 at every node). A child is its parent with
    ``flips`` of the parent's ones set to 0 and ``flips`` of the parent's original zeros set to 1.
    Book: ``eq-methods-tree`` ({ref}`ch-structured`).
    """
    n_nodes = check_int("n_nodes", n_nodes, 1)
    n_input, active, flips = _check_tree_args(n_input, active, flips)
    act, parent, depth, leaves = kernels.grow_tree(_seed_from(rng), n_nodes, n_input, active, flips)
    return CRPTree(to_dense(act, n_input), parent, depth, leaves, flips)


def default_tree_nodes(n_needed: int) -> int:
    """Paper-time sizing: 7 n_mem nodes for 3 n_mem + 1 needed leaves -> ceil(7 (n_needed-1)/3).
    Book: ``eq-methods-tree`` ({ref}`ch-structured`).
    """
    return max(1, math.ceil(7 * max(n_needed - 1, 1) / 3))


def tree_leaf_patterns(
    n_needed: int,
    n_input: int,
    active: int,
    flips: int,
    rng: np.random.Generator,
    n_nodes: int | None = None,
) -> np.ndarray:
    """``(n_needed, n_input)`` uint8: the leaves of a fresh CRP tree, shuffled (``eq-methods-tree``).

    Recovery if the tree has fewer than ``n_needed`` leaves: it is regrown from the next
    seed of a fixed deterministic sequence, up to ``kernels.MAX_TREE_ATTEMPTS`` times, after which a
    :class:`ConfigError` is raised. ``n_nodes`` defaults to :func:`default_tree_nodes`.
    """
    rows = _tree_rows_checked(_seed_from(rng), n_needed, n_input, active, flips, n_nodes)
    return to_dense(rows, n_input)


def _tree_rows_checked(seed, n_needed, n_input, active, flips, n_nodes):
    n_needed = check_int("n_needed", n_needed, 1)
    n_input, active, flips = _check_tree_args(n_input, active, flips)
    n_nodes = default_tree_nodes(n_needed) if n_nodes is None else check_int("n_nodes", n_nodes, 1)
    rows, attempts, found = kernels.tree_rows(np.uint64(seed), n_needed, n_nodes, n_input, active, flips,
                                       kernels.MAX_TREE_ATTEMPTS)
    if rows.shape[0] == 0:
        raise ConfigError(
            f"n_nodes={n_nodes}: tree has {found} leaves after {attempts} attempts, "
            f"need n_needed={n_needed}; grow a larger tree"
        )
    return rows


def similarity_matrix(patterns: np.ndarray) -> np.ndarray:
    """``(n, n)`` float64 ``X X^T / s`` ({ref}`ch-structured`): 1 on the diagonal, overlap fraction off it.
    Book: ``eq-methods-tree``.
    """
    x = np.asarray(patterns, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ConfigError(f"patterns must be a non-empty (n, n_input) array, got shape {x.shape}")
    s = x.sum(axis=1)
    if np.any(s != s[0]) or s[0] == 0:
        raise ConfigError("patterns must have the same positive number of ones in every row")
    return (x @ x.T) / s[0]


# ------------------------------------------------------------------ tree and similarity summaries
@dataclass(frozen=True)
class TreeSummary:
    """What a grown tree looks like ({ref}`sec-structured-tree`).

    ones: (n_nodes,) ones of each node's pattern (s for all); changed: (n_nodes - 1,) positions where each
    child differs from its parent (2b for all); new_ones: (n_nodes - 1,) ones of each child at its parent's
    zeros (b for all); childless: (n_leaves,) ascending indices of the nodes without children;
    leaf_depth: (n_leaves,) depths of the leaves; max_depth: the deepest node's depth.
    """

    ones: np.ndarray
    changed: np.ndarray
    new_ones: np.ndarray
    childless: np.ndarray
    leaf_depth: np.ndarray
    max_depth: int


def tree_summary(tree: CRPTree) -> TreeSummary:
    """:class:`TreeSummary` of ``tree`` (``eq-methods-tree``)."""
    x = tree.patterns.astype(np.int16)
    child = np.flatnonzero(tree.parent >= 0)
    parent = tree.parent[child]
    is_leaf = np.ones(x.shape[0], bool)
    is_leaf[parent] = False
    return TreeSummary(x.sum(axis=1), np.abs(x[child] - x[parent]).sum(axis=1),
                       ((x[child] == 1) & (x[parent] == 0)).sum(axis=1), np.flatnonzero(is_leaf),
                       tree.depth[tree.leaves], int(tree.depth.max()))


@dataclass(frozen=True)
class SimilaritySample:
    """Similarity matrices of independent pattern sets ({ref}`sec-structured-similarity`).

    matrices: one (n, n) :func:`similarity_matrix` per set; sample_means: (n_samples,) the mean
    off-diagonal similarity of each set."""

    matrices: tuple
    sample_means: np.ndarray

    @property
    def mean(self) -> float:
        """Mean off-diagonal similarity, averaged over the sets."""
        return float(self.sample_means.mean())

    @property
    def se(self) -> float:
        """Its standard error over the independent sets (ddof 1)."""
        return float(self.sample_means.std(ddof=1) / np.sqrt(self.sample_means.size))

    def off_diagonal(self) -> np.ndarray:
        """Every off-diagonal similarity of every set, pooled, (n_samples n (n - 1),)."""
        off = ~np.eye(self.matrices[0].shape[0], dtype=bool)
        return np.concatenate([s[off] for s in self.matrices])


def similarity_sample(n_samples: int, n_patterns: int, n_input: int, active: int, flips: int | None, seed: int,
                      stream: str, n_nodes: int | None = None) -> SimilaritySample:
    """:class:`SimilaritySample` of ``n_samples`` independent sets of ``n_patterns`` patterns: random
    patterns (``flips=None``, ``eq-methods-patterns``) or the shuffled leaves of a fresh nested-CRP tree
    of ``n_nodes`` nodes with ``flips`` flips (:func:`tree_leaf_patterns`, ``eq-methods-tree``). Set ``j``
    draws from ``slotless.rng.trial_generator(seed, j, stream)``."""
    n_samples = check_int("n_samples", n_samples, 2)
    matrices, means = [], []
    for j in range(n_samples):
        rng = trial_generator(seed, j, stream)
        if flips is None:
            x = random_patterns(n_patterns, n_input, active, rng)
        else:
            x = tree_leaf_patterns(n_patterns, n_input, active, flips, rng, n_nodes=n_nodes)
        s = similarity_matrix(x)
        matrices.append(s)
        means.append(s[~np.eye(s.shape[0], dtype=bool)].mean())
    return SimilaritySample(tuple(matrices), np.array(means))


def random_similarity_sd(n_input: int, active: int) -> float:
    """SD of the similarity ``x . x' / s`` of two independent random patterns (hypergeometric overlap):
    ``sqrt(p (1 - p) (n_i - s) / (s (n_i - 1)))`` with ``p = s / n_i`` ({ref}`sec-structured-similarity`)."""
    n_input = check_int("n_input", n_input, 2)
    active = check_int("active", active, 1, n_input)
    p0 = active / n_input
    return float(np.sqrt(p0 * (1 - p0) * (n_input - active) / (active * (n_input - 1))))


def random_similarity_se(n_input: int, active: int, n_patterns: int, n_samples: int = 1) -> float:
    """Exact standard error of the mean off-diagonal similarity of ``n_samples`` independent sets of
    ``n_patterns`` random patterns: the overlaps of distinct pairs are uncorrelated, so it is
    :func:`random_similarity_sd` over the square root of the number of pairs ({ref}`sec-structured-similarity`)."""
    n_patterns = check_int("n_patterns", n_patterns, 2)
    n_samples = check_int("n_samples", n_samples, 1)
    return float(random_similarity_sd(n_input, active) / np.sqrt(n_patterns * (n_patterns - 1) / 2 * n_samples))


def leaf_similarity(tree: CRPTree, n_leaves: int) -> np.ndarray:
    """:func:`similarity_matrix` of the first ``n_leaves`` leaves of ``tree`` in depth-first order, so
    that leaves with a recent common ancestor sit next to each other ({numref}`fig-structured-similarity`)."""
    n_leaves = check_int("n_leaves", n_leaves, 1)
    return similarity_matrix(tree.patterns[tree.leaves[:n_leaves]])
