"""Patterns, cues and CRP trees (slotless.memory.patterns).

Statistical tolerances: a count with binomial/Poisson-like spread is accepted within 5 standard
deviations (two-sided failure probability < 6e-7 per comparison).
"""

import math

import numpy as np
import pytest
from scipy import stats

from slotless.checks import ConfigError
from slotless.memory.patterns import (
    crp_tree,
    cue_size,
    default_tree_nodes,
    leaf_similarity,
    partial_cue,
    random_patterns,
    random_similarity_sd,
    random_similarity_se,
    similarity_matrix,
    similarity_sample,
    to_indices,
    tree_leaf_patterns,
    tree_summary,
)
from slotless.perf.reference import reference_tree_leaves
from slotless.rng import trial_generator


def rng(i=0):
    return np.random.default_rng(i)


def test_random_patterns_have_exactly_s_ones_per_row():
    x = random_patterns(500, 64, 9, rng())
    assert x.shape == (500, 64) and x.dtype == np.uint8
    assert set(np.unique(x)) <= {0, 1}
    assert np.all(x.sum(axis=1) == 9)


def test_random_pattern_positions_are_uniform():
    n, n_i, s = 4000, 40, 8
    counts = random_patterns(n, n_i, s, rng(1)).sum(axis=0).astype(np.int64)
    p = s / n_i
    sd = math.sqrt(n * p * (1 - p))
    assert np.all(np.abs(counts - n * p) < 5 * sd), counts


def test_random_patterns_are_reproducible_from_the_generator():
    assert np.array_equal(random_patterns(20, 50, 5, rng(3)), random_patterns(20, 50, 5, rng(3)))
    assert not np.array_equal(random_patterns(20, 50, 5, rng(3)), random_patterns(20, 50, 5, rng(4)))


def test_random_patterns_reject_bad_sizes():
    with pytest.raises(ConfigError, match="active"):
        random_patterns(3, 10, 11, rng())
    with pytest.raises(ConfigError, match="rng"):
        random_patterns(3, 10, 2, 7)


def test_cue_keeps_floor_c_times_s_bits():
    x = random_patterns(300, 100, 30, rng(5))
    for c, m in ((1.0, 30), (0.5, 15), (0.25, 7), (0.1, 3)):
        cue = partial_cue(x, c, rng(6))
        assert cue.shape == x.shape and cue.dtype == np.uint8
        assert np.all(cue.sum(axis=1) == m)
        assert np.all(cue <= x), "a cue bit outside its pattern"
    assert cue_size(0.29, 100) == 29  # not int(28.999...)
    with pytest.raises(ConfigError, match="cue_fraction"):
        cue_size(0.05, 10)
    with pytest.raises(ConfigError, match="cue_fraction"):
        cue_size(0.0, 10)


def test_cue_subset_is_uniform_and_fresh_per_row():
    x = np.repeat(random_patterns(1, 50, 10, rng(7)), 4000, axis=0)
    cue = partial_cue(x, 0.5, rng(8))
    kept = cue[:, x[0] == 1].sum(axis=0).astype(np.int64)  # each active bit kept with probability 1/2
    sd = math.sqrt(4000 * 0.25)
    assert np.all(np.abs(kept - 2000) < 5 * sd), kept
    assert len({row.tobytes() for row in cue}) > 200, "cues are not drawn fresh per row"


def test_tree_children_flip_b_ones_and_b_original_zeros():
    for b in (0, 3, 10):
        tree = crp_tree(400, 80, 20, b, rng(b))
        x = tree.patterns
        assert np.all(x.sum(axis=1) == 20)
        assert tree.parent[0] == -1 and tree.depth[0] == 0
        child = np.arange(1, 400)
        par = tree.parent[child]
        assert np.all(par < child), "parents are created before children"
        assert np.all(tree.depth[child] == tree.depth[par] + 1)
        off = ((x[par] == 1) & (x[child] == 0)).sum(axis=1)
        on = ((x[par] == 0) & (x[child] == 1)).sum(axis=1)
        assert np.all(off == b) and np.all(on == b)
        assert np.all((x[par] != x[child]).sum(axis=1) == 2 * b)


def _dfs_leaves(parent):
    children = [[] for _ in parent]
    for node, p in enumerate(parent):
        if p >= 0:
            children[p].append(node)  # node numbers follow creation order
    out, stack = [], [0]
    while stack:
        node = stack.pop()
        if children[node]:
            stack.extend(reversed(children[node]))
        else:
            out.append(node)
    return out


def test_tree_leaves_are_childless_nodes_depth_first_in_creation_order():
    tree = crp_tree(600, 60, 12, 2, rng(11))
    assert list(tree.leaves) == _dfs_leaves(tree.parent)
    has_child = np.zeros(600, bool)
    has_child[tree.parent[1:]] = True
    assert set(tree.leaves) == set(np.flatnonzero(~has_child))


def test_root_children_follow_the_crp_table_count():
    # Every step passes the root, so its children are the tables of a CRP(1) with n-1 customers:
    # mean H_{n-1}, variance H_{n-1} - sum 1/i^2.
    n, trees = 500, 40
    counts = [np.sum(crp_tree(n, 40, 8, 1, rng(100 + i)).parent == 0) for i in range(trees)]
    i = np.arange(1, n)
    mean, var = np.sum(1 / i), np.sum(1 / i) - np.sum(1 / i**2)
    assert abs(np.mean(counts) - mean) < 5 * math.sqrt(var / trees), (np.mean(counts), mean)


def test_leaf_count_matches_the_independent_reference_tree():
    n, trees = 300, 30
    ours = [len(crp_tree(n, 40, 8, 1, rng(200 + i)).leaves) for i in range(trees)]
    ref = [len(reference_tree_leaves(n, 40, 8, 1, rng(300 + i))) for i in range(trees)]
    se = math.sqrt(np.var(ours, ddof=1) / trees + np.var(ref, ddof=1) / trees)
    assert abs(np.mean(ours) - np.mean(ref)) < 5 * se, (np.mean(ours), np.mean(ref))


def test_tree_leaf_patterns_are_shuffled_leaves_and_too_small_trees_raise():
    x = tree_leaf_patterns(200, 60, 12, 3, rng(12), n_nodes=500)
    assert x.shape == (200, 60) and np.all(x.sum(axis=1) == 12)
    with pytest.raises(ConfigError, match="leaves"):
        tree_leaf_patterns(200, 60, 12, 3, rng(12), n_nodes=150)
    with pytest.raises(ConfigError, match="flips"):
        tree_leaf_patterns(10, 60, 12, 13, rng(12))


def test_similarity_of_random_data_is_s_over_n_and_tree_similarity_falls_with_b():
    x = random_patterns(300, 200, 20, rng(13))
    sim = similarity_matrix(x)
    assert np.allclose(np.diag(sim), 1.0)
    off = sim[np.triu_indices(300, 1)]
    # each entry: hypergeometric overlap / s, mean s/n_i, sd <= sqrt(p(1-p)/s); entries nearly independent
    assert abs(off.mean() - 0.1) < 5 * math.sqrt(0.1 * 0.9 / 20 / 300), off.mean()
    means = []
    for b in (1, 3, 6, 10):
        t = similarity_matrix(tree_leaf_patterns(300, 200, 20, b, rng(14), n_nodes=800))
        means.append(t[np.triu_indices(300, 1)].mean())
    assert all(a > c for a, c in zip(means, means[1:])), means
    assert means[-1] > 0.1


def test_to_indices_round_trip():
    x = random_patterns(10, 30, 4, rng(15))
    idx = to_indices(x)
    assert idx.shape == (10, 4) and np.all(np.diff(idx, axis=1) > 0)


# ------------------------------------------------------------- ch-structured: trees and similarity
@pytest.mark.parametrize("flips", [0, 2, 5])
def test_tree_summary_of_a_grown_tree(flips):
    tree = crp_tree(300, 60, 10, flips, rng(flips))
    sm = tree_summary(tree)
    assert np.all(sm.ones == 10)
    assert np.all(sm.changed == 2 * flips) and np.all(sm.new_ones == flips)
    assert sm.changed.size == 299
    np.testing.assert_array_equal(sm.childless, np.sort(tree.leaves))
    has_child = np.zeros(300, bool)
    has_child[tree.parent[tree.parent >= 0]] = True
    np.testing.assert_array_equal(sm.childless, np.flatnonzero(~has_child))
    np.testing.assert_array_equal(sm.leaf_depth, tree.depth[tree.leaves])
    assert sm.max_depth == tree.depth.max()


def test_random_similarity_sd_is_the_hypergeometric_sd_over_s():
    for n_i, s in ((200, 20), (1000, 100), (50, 7)):
        overlap = stats.hypergeom(n_i, s, s)
        assert math.isclose(random_similarity_sd(n_i, s), overlap.std() / s, rel_tol=1e-12)
        pairs = 30 * 29 / 2 * 4
        assert math.isclose(random_similarity_se(n_i, s, 30, 4), random_similarity_sd(n_i, s) / math.sqrt(pairs))


def test_similarity_sample_draws_each_set_from_its_own_stream():
    sample = similarity_sample(6, 40, 80, 8, None, 3, "test/similarity")
    assert len(sample.matrices) == 6 and sample.sample_means.shape == (6,)
    x2 = random_patterns(40, 80, 8, trial_generator(3, 2, "test/similarity"))
    np.testing.assert_array_equal(sample.matrices[2], similarity_matrix(x2))
    off = ~np.eye(40, dtype=bool)
    assert sample.sample_means[2] == similarity_matrix(x2)[off].mean()
    assert sample.off_diagonal().size == 6 * 40 * 39
    assert math.isclose(sample.se, sample.sample_means.std(ddof=1) / math.sqrt(6))
    # random patterns: the mean similarity is s/n_i within 5 of its exact standard errors
    big = similarity_sample(4, 120, 80, 8, None, 4, "test/similarity")
    assert abs(big.mean - 8 / 80) < 5 * random_similarity_se(80, 8, 120, 4)


def test_similarity_sample_of_tree_leaves_is_more_similar_than_random():
    n_nodes = default_tree_nodes(121)
    tree = similarity_sample(3, 40, 80, 8, 1, 5, "test/tree", n_nodes)
    x0 = tree_leaf_patterns(40, 80, 8, 1, trial_generator(5, 0, "test/tree"), n_nodes=n_nodes)
    np.testing.assert_array_equal(tree.matrices[0], similarity_matrix(x0))
    assert tree.mean > 8 / 80 + 10 * random_similarity_se(80, 8, 40, 3)


def test_leaf_similarity_uses_depth_first_leaves():
    tree = crp_tree(200, 60, 10, 2, rng(6))
    np.testing.assert_array_equal(leaf_similarity(tree, 15), similarity_matrix(tree.patterns[tree.leaves[:15]]))
