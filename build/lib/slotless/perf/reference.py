"""The reference: a deliberately straightforward implementation of one trial, in the style of typical
research code.

Dense NumPy float64 matrices, one trial at a time, full matrix-vector products and full sorts for
top-k, written directly from the model specification of {ref}`ch-methods` and sharing no code with the
engine.
It is the baseline of the speed benchmarks ({ref}`ch-performance`) and an independent *statistical* cross-check
of :mod:`slotless.memory.protocol`: it draws its randomness differently, so agreement is in distribution.

Ties are broken uniformly at random (``eq-methods-ties``) by sorting on (value, random key) with
``np.lexsort``.
"""

from __future__ import annotations

import math

import numpy as np

from ..checks import ConfigError
from ..memory.network import NetworkConfig, preset
from ..memory.protocol import ProtocolConfig

__all__ = ["run_reference_trial", "reference_tree_leaves"]


def _top(values: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of the k largest values; ties in random order (full sort)."""
    order = np.lexsort((rng.random(values.shape[0]), values))
    return order[-k:]


def _random_pattern(n_input, active, rng):
    x = np.zeros(n_input)
    x[rng.choice(n_input, active, replace=False)] = 1.0
    return x


def reference_tree_leaves(n_nodes, n_input, active, flips, rng):
    """Leaves of a nested CRP tree (``eq-methods-tree``), plain Python, depth first in child-creation order."""
    patterns = [_random_pattern(n_input, active, rng)]
    children = [[]]
    counts = [0]  # c_j of node j as a child
    for _ in range(n_nodes - 1):
        node = 0
        while True:
            kids = children[node]
            total = sum(counts[c] for c in kids)
            if kids:
                r = rng.integers(total + 1)
                if r < total:
                    acc = 0
                    for c in kids:
                        acc += counts[c]
                        if r < acc:
                            break
                    counts[c] += 1
                    node = c
                    continue
            parent = patterns[node]
            ones = np.flatnonzero(parent == 1)
            zeros = np.flatnonzero(parent == 0)
            child = parent.copy()
            child[rng.choice(ones, flips, replace=False)] = 0
            child[rng.choice(zeros, flips, replace=False)] = 1
            patterns.append(child)
            children.append([])
            counts.append(1)
            kids.append(len(patterns) - 1)
            break
    leaves, stack = [], [0]
    while stack:
        node = stack.pop()
        if children[node]:
            stack.extend(reversed(children[node]))
        else:
            leaves.append(patterns[node])
    return np.array(leaves)


def run_reference_trial(network, protocol: ProtocolConfig, rng: np.random.Generator):
    """One trial, research-code style. Returns (acc_real (E,), acc_pseudo (E,)), age 1 first."""
    cfg = preset(network) if isinstance(network, str) else network
    if not isinstance(cfg, NetworkConfig) or not isinstance(protocol, ProtocolConfig):
        raise ConfigError("run_reference_trial needs a NetworkConfig and a ProtocolConfig")
    n_i, n_h, s, k, eps = cfg.n_input, cfg.n_hidden, cfg.active, cfg.winners, cfg.epsilon
    phi = int(round(cfg.fan_in * n_i))
    B, E, P = protocol.n_burn_in, protocol.n_eval, protocol.n_pseudo
    m = int(math.floor(protocol.cue_fraction * s + 1e-9))

    # data
    if protocol.data == "random":
        pool = np.array([_random_pattern(n_i, s, rng) for _ in range(B + E + P)])
    else:
        leaves = reference_tree_leaves(protocol.tree_size, n_i, s, protocol.flips, rng)
        if len(leaves) < B + E + P:
            raise ConfigError(f"tree has {len(leaves)} leaves, need {B + E + P}")
        pool = leaves[rng.permutation(len(leaves))[: B + E + P]]

    # network
    A = np.zeros((n_h, n_i))
    for u in range(n_h):
        A[u, rng.choice(n_i, phi, replace=False)] = 1.0
    W_xy = rng.random((n_h, n_i)) * A
    W_yx = rng.random((n_i, n_h)) * A.T

    # learning
    for t in range(B + E):
        x = pool[t]
        if cfg.winner_rule == "random":
            winners = rng.choice(n_h, k, replace=False)
        else:
            winners = _top(W_xy @ x, k, rng)
        W_xy[winners] += eps * (x[None, :] - W_xy[winners]) * A[winners]
        W_yx[:, winners] += eps * (x[:, None] - W_yx[:, winners]) * A[winners].T

    # retrieval
    def recall(x):
        cue = np.zeros(n_i)
        cue[rng.choice(np.flatnonzero(x), m, replace=False)] = 1.0
        winners = _top(W_xy @ cue, k, rng)
        y = np.zeros(n_h)
        y[winners] = 1.0
        x_hat = np.zeros(n_i)
        x_hat[_top(W_yx @ y, s, rng)] = 1.0
        return float(x_hat @ x) / s

    real = np.array([recall(pool[B + j]) for j in range(E)])
    pseudo = np.array([recall(pool[B + E + j]) for j in range(E)])
    return real[::-1].copy(), pseudo[::-1].copy()
