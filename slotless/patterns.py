"""Patterns for Part I: random s-sparse patterns, partial cues and nested-CRP trees.

Spec §1.2 (random patterns), §2.3 (cues) and §3 (tree data).

All sampling runs in small Numba kernels driven by a counter-based generator
(splitmix64) whose 64-bit seed is drawn from the caller's :class:`numpy.random.Generator`.
The same kernels are called by the fast engine inside its compiled trial loop and by
the readable path, so both see *identical* data for the same trial seed.

Sampling without replacement uses Floyd's algorithm (exactly uniform subsets);
integers in ``[0, n)`` are ``floor(u * n)`` with a 53-bit uniform ``u`` (bias below 2**-40
for ``n <= 2**13``, irrelevant here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np

from .checks import ConfigError, check_float, check_int

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
]

# ----------------------------------------------------------------- generator core
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_S40 = np.uint64(40)
_TREE_RETRY = np.uint64(0xD1B54A32D192ED03)
MAX_TREE_ATTEMPTS = 8


@nb.njit(cache=True)
def splitmix64(z):
    """The splitmix64 finaliser of ``z + golden`` (a bijection on uint64)."""
    z = z + _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@nb.njit(cache=True)
def _next(state):
    state[0] = state[0] + _GOLDEN
    z = state[0]
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@nb.njit(cache=True)
def _uniform(state):
    """Uniform float64 in [0, 1) with 53 random bits."""
    return np.float64(_next(state) >> _S11) * 1.1102230246251565e-16


@nb.njit(cache=True)
def _uniform24(state):
    """Uniform in [0, 1) on a 2**-24 grid: exact in float32 and float64 alike."""
    return np.float64(_next(state) >> _S40) * 5.960464477539063e-08


@nb.njit(cache=True)
def _randbelow(state, n):
    return np.int64(_uniform(state) * n)


@nb.njit(cache=True)
def _new_state(seed):
    state = np.empty(1, dtype=np.uint64)
    state[0] = seed
    return state


@nb.njit(cache=True)
def _sample_sorted(state, n, s, marker, out):
    """Floyd's algorithm: ``out[:s]`` = a uniform s-subset of range(n), ascending.

    ``marker`` (bool, length n) must be all False; it is left all False.
    """
    for j in range(n - s, n):
        t = _randbelow(state, j + 1)
        if marker[t]:
            t = j
        marker[t] = True
    # collect ascending: scan whichever is cheaper
    cnt = 0
    for i in range(n):
        if marker[i]:
            out[cnt] = i
            marker[i] = False
            cnt += 1


@nb.njit(cache=True)
def _random_rows(seed, n_rows, n, s):
    """``(n_rows, s)`` int32: each row a uniform s-subset of range(n), ascending."""
    state = _new_state(seed)
    out = np.empty((n_rows, s), dtype=np.int32)
    marker = np.zeros(n, dtype=np.bool_)
    for r in range(n_rows):
        _sample_sorted(state, n, s, marker, out[r])
    return out


@nb.njit(cache=True)
def _cue_rows(seed, targets, m):
    """For each row of ``targets`` ((n, s) ascending indices) keep m entries, ascending."""
    n_rows, s = targets.shape
    state = _new_state(seed)
    out = np.empty((n_rows, m), dtype=np.int32)
    marker = np.zeros(s, dtype=np.bool_)
    pos = np.empty(m, dtype=np.int32)
    for r in range(n_rows):
        _sample_sorted(state, s, m, marker, pos)
        for j in range(m):
            out[r, j] = targets[r, pos[j]]
    return out


@nb.njit(cache=True)
def _merge_new_ones(row, kept, out):
    """``out`` = ``row`` sorted, where ``row[:kept]`` is already ascending and the rest is not.

    Sorts the few new entries in place (insertion sort) and merges: no allocation per tree node.
    """
    for i in range(kept + 1, row.shape[0]):
        v = row[i]
        j = i - 1
        while j >= kept and row[j] > v:
            row[j + 1] = row[j]
            j -= 1
        row[j + 1] = v
    i, j = 0, kept
    for k in range(row.shape[0]):
        if j >= row.shape[0] or (i < kept and row[i] < row[j]):
            out[k] = row[i]
            i += 1
        else:
            out[k] = row[j]
            j += 1


@nb.njit(cache=True)
def _grow_tree(seed, n_nodes, n, s, b):
    """Nested CRP tree (spec §3). Returns (act (n_nodes, s), parent, depth, leaves)."""
    state = _new_state(seed)
    act = np.empty((n_nodes, s), dtype=np.int32)
    parent = np.full(n_nodes, -1, dtype=np.int32)
    depth = np.zeros(n_nodes, dtype=np.int32)
    ccount = np.zeros(n_nodes, dtype=np.int64)
    ntot = np.zeros(n_nodes, dtype=np.int64)
    first = np.full(n_nodes, -1, dtype=np.int32)
    last = np.full(n_nodes, -1, dtype=np.int32)
    nxt = np.full(n_nodes, -1, dtype=np.int32)
    marker = np.zeros(n, dtype=np.bool_)
    chosen = np.zeros(n, dtype=np.bool_)
    smark = np.zeros(s, dtype=np.bool_)
    drop = np.empty(b, dtype=np.int32)
    row = np.empty(s, dtype=np.int32)
    _sample_sorted(state, n, s, marker, act[0])
    nodes = 1
    while nodes < n_nodes:
        cur = 0
        while True:
            if first[cur] != -1:
                r = _randbelow(state, ntot[cur] + 1)
                if r < ntot[cur]:
                    ch = first[cur]
                    acc = ccount[ch]
                    while r >= acc:
                        ch = nxt[ch]
                        acc += ccount[ch]
                    ccount[ch] += 1
                    ntot[cur] += 1
                    cur = ch
                    continue
            # create a new child of cur (first child, or with probability 1/(n+1))
            new = nodes
            parent[new] = cur
            depth[new] = depth[cur] + 1
            ccount[new] = 1
            ntot[cur] += 1
            if first[cur] == -1:
                first[cur] = new
            else:
                nxt[last[cur]] = new
            last[cur] = new
            # b of the parent's ones -> 0, b of its original zeros -> 1
            for j in range(s):
                marker[act[cur, j]] = True
            if b > 0:
                _sample_sorted(state, s, b, smark, drop)
                for j in range(b):
                    smark[drop[j]] = True
                cnt = 0
                for j in range(s):
                    if not smark[j]:
                        row[cnt] = act[cur, j]
                        cnt += 1
                for j in range(b):
                    smark[drop[j]] = False
                added = 0
                while added < b:
                    t = _randbelow(state, n)
                    if not marker[t] and not chosen[t]:
                        chosen[t] = True
                        row[cnt] = t
                        cnt += 1
                        added += 1
                for j in range(s - b, s):
                    chosen[row[j]] = False
                _merge_new_ones(row, s - b, act[new])
            else:
                act[new] = act[cur]
            for j in range(s):
                marker[act[cur, j]] = False
            nodes += 1
            break
    # leaves, depth first in child-creation order (pre-order walk)
    leaves = np.empty(n_nodes, dtype=np.int32)
    n_leaves = 0
    node = 0
    while True:
        if first[node] == -1:
            leaves[n_leaves] = node
            n_leaves += 1
        if first[node] != -1:
            node = first[node]
            continue
        while node != 0 and nxt[node] == -1:
            node = parent[node]
        if node == 0:
            break
        node = nxt[node]
    return act, parent, depth, leaves[:n_leaves].copy()


@nb.njit(cache=True)
def _shuffle(state, arr):
    for i in range(arr.shape[0] - 1, 0, -1):
        j = _randbelow(state, i + 1)
        tmp = arr[i]
        arr[i] = arr[j]
        arr[j] = tmp


@nb.njit(cache=True)
def _tree_rows(seed, n_needed, n_nodes, n, s, b, max_attempts):
    """``(n_needed, s)`` shuffled leaf patterns, regrowing with the next seed if too few leaves.

    Returns (rows, attempts_used, leaves_found_last); rows has 0 rows if every attempt failed.
    """
    grow_seed = seed
    n_leaves = 0
    for attempt in range(max_attempts):
        act, parent, depth, leaves = _grow_tree(grow_seed, n_nodes, n, s, b)
        n_leaves = leaves.shape[0]
        if n_leaves >= n_needed:
            state = _new_state(splitmix64(grow_seed ^ _TREE_RETRY))
            _shuffle(state, leaves)
            out = np.empty((n_needed, s), dtype=np.int32)
            for r in range(n_needed):
                out[r] = act[leaves[r]]
            return out, attempt + 1, n_leaves
        grow_seed = splitmix64(grow_seed + _TREE_RETRY)
    return np.empty((0, s), dtype=np.int32), max_attempts, n_leaves


# Python-facing entry points. A cached Numba function that returns a tuple of arrays and is also
# inlined into the cached parallel trial kernel can fail when called from Python after that kernel
# was loaded from the cache ("NRT_adapt_ndarray_to_python: descr is NULL", numba 0.68.1). Python
# therefore calls these thin wrappers, never the kernel's callees directly.
@nb.njit(cache=True)
def _grow_tree_py(seed, n_nodes, n, s, b):
    return _grow_tree(seed, n_nodes, n, s, b)


@nb.njit(cache=True)
def _tree_rows_py(seed, n_needed, n_nodes, n, s, b, max_attempts):
    return _tree_rows(seed, n_needed, n_nodes, n, s, b, max_attempts)


@nb.njit(cache=True)
def _random_rows_py(seed, n_rows, n, s):
    return _random_rows(seed, n_rows, n, s)


@nb.njit(cache=True)
def _cue_rows_py(seed, targets, m):
    return _cue_rows(seed, targets, m)


# ------------------------------------------------------------------- public API
def _seed_from(rng: np.random.Generator) -> np.uint64:
    if not isinstance(rng, np.random.Generator):
        raise ConfigError(f"rng={rng!r} must be a numpy.random.Generator (see slotless.rng)")
    return rng.integers(0, 2**64, dtype=np.uint64)


def to_dense(rows: np.ndarray, n_input: int) -> np.ndarray:
    """Index rows ``(n, s)`` -> binary patterns ``(n, n_input)`` uint8."""
    rows = np.asarray(rows)
    out = np.zeros((rows.shape[0], n_input), dtype=np.uint8)
    if rows.size:
        np.put_along_axis(out, rows.astype(np.int64), 1, axis=1)
    return out


def to_indices(patterns: np.ndarray) -> np.ndarray:
    """Binary patterns ``(n, n_input)`` with the same number of ones per row -> ascending
    active indices ``(n, s)`` int32."""
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
    random set of positions, rows independent (spec §1.2)."""
    n_patterns = check_int("n_patterns", n_patterns, 0)
    n_input = check_int("n_input", n_input, 1)
    active = check_int("active", active, 1, n_input)
    rows = _random_rows_py(_seed_from(rng), n_patterns, n_input, active)
    return to_dense(rows, n_input)


def cue_size(cue_fraction: float, active: int) -> int:
    """m = floor(c*s) (spec §2.3), computed as floor(c*s + 1e-9) so 0.29*100 gives 29."""
    cue_fraction = check_float("cue_fraction", cue_fraction, 0.0, 1.0, lo_open=True)
    m = int(math.floor(cue_fraction * active + 1e-9))
    if m < 1:
        raise ConfigError(f"cue_fraction={cue_fraction} keeps floor(c*s)={m} bits of s={active}: need >= 1")
    return m


def partial_cue(patterns: np.ndarray, cue_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Partial cues, same shape and dtype (uint8) as ``patterns`` (spec §2.3).

    Each row keeps ``floor(cue_fraction * s)`` of its ``s`` ones, chosen uniformly without
    replacement and fresh per row; all other bits are 0 (no noise).
    """
    rows = to_indices(patterns)
    m = cue_size(cue_fraction, rows.shape[1] if rows.shape[0] else 1)
    cues = _cue_rows_py(_seed_from(rng), rows, m)
    return to_dense(cues, np.asarray(patterns).shape[1])


@dataclass(frozen=True)
class CRPTree:
    """A nested-CRP pattern tree (spec §3).

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
    ``flips`` of the parent's ones set to 0 and ``flips`` of the parent's original zeros set to 1."""
    n_nodes = check_int("n_nodes", n_nodes, 1)
    n_input, active, flips = _check_tree_args(n_input, active, flips)
    act, parent, depth, leaves = _grow_tree_py(_seed_from(rng), n_nodes, n_input, active, flips)
    return CRPTree(to_dense(act, n_input), parent, depth, leaves, flips)


def default_tree_nodes(n_needed: int) -> int:
    """Paper-time sizing: 7 n_mem nodes for 3 n_mem + 1 needed leaves -> ceil(7 (n_needed-1)/3)."""
    return max(1, math.ceil(7 * max(n_needed - 1, 1) / 3))


def tree_leaf_patterns(
    n_needed: int,
    n_input: int,
    active: int,
    flips: int,
    rng: np.random.Generator,
    n_nodes: int | None = None,
) -> np.ndarray:
    """``(n_needed, n_input)`` uint8: the leaves of a fresh CRP tree, shuffled (spec §3).

    Recovery if the tree has fewer than ``n_needed`` leaves: it is regrown from the next
    seed of a fixed deterministic sequence, up to ``MAX_TREE_ATTEMPTS`` times, after which a
    :class:`ConfigError` is raised. ``n_nodes`` defaults to :func:`default_tree_nodes`.
    """
    rows = _tree_rows_checked(_seed_from(rng), n_needed, n_input, active, flips, n_nodes)
    return to_dense(rows, n_input)


def _tree_rows_checked(seed, n_needed, n_input, active, flips, n_nodes):
    n_needed = check_int("n_needed", n_needed, 1)
    n_input, active, flips = _check_tree_args(n_input, active, flips)
    n_nodes = default_tree_nodes(n_needed) if n_nodes is None else check_int("n_nodes", n_nodes, 1)
    rows, attempts, found = _tree_rows_py(np.uint64(seed), n_needed, n_nodes, n_input, active, flips,
                                       MAX_TREE_ATTEMPTS)
    if rows.shape[0] == 0:
        raise ConfigError(
            f"n_nodes={n_nodes}: tree has {found} leaves after {attempts} attempts, "
            f"need n_needed={n_needed}; grow a larger tree"
        )
    return rows


def similarity_matrix(patterns: np.ndarray) -> np.ndarray:
    """``(n, n)`` float64 ``X X^T / s`` (spec §3): 1 on the diagonal, overlap fraction off it."""
    x = np.asarray(patterns, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ConfigError(f"patterns must be a non-empty (n, n_input) array, got shape {x.shape}")
    s = x.sum(axis=1)
    if np.any(s != s[0]) or s[0] == 0:
        raise ConfigError("patterns must have the same positive number of ones in every row")
    return (x @ x.T) / s[0]
