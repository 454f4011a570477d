"""The Part I helpers of slotless.book: every chapter of Part I takes its sizes and its shared runs from them."""

import numpy as np
import pytest

from slotless import book
from slotless.checks import ConfigError
from slotless.memory.network import NetworkConfig
from slotless.memory.protocol import run_trials

SMALL = NetworkConfig(n_input=60, n_hidden=40, active=8, fan_in=0.25, winners=5, epsilon=0.3)
MHN = NetworkConfig(n_input=60, n_hidden=10, active=8, fan_in=1.0, winners=1, epsilon=1.0)


def test_part_one_sizes_at_both_scales():
    for quick in (True, False):
        sc = book.scale(quick)
        assert set(sc.kwinner) >= {"n_learn", "n_probe", "probe_flips", "usage_window", "cue"}
        assert sc.kwinner["usage_window"] * 2 <= sc.kwinner["n_learn"]  # two disjoint usage windows
        assert set(sc.controls) == {"bootstrap", "permutations", "synthetic", "grid_ages"}
        assert sc.tree["flips_dprime"] in sc.tree["flips"]
        assert sc.tree["older"] == (sc.tree["n_mem"] // 20 + 1, sc.tree["n_mem"] // 2)  # ages shown in ch-structured
        assert sc.tree["nets"]["kwinner"].connections == sc.tree["nets"]["mhn"].connections
        tree_nets = sc.tree["nets"].values()  # ch-structured reads n_i and s from the K-winner's input layer
        assert len({(c.n_input, c.active) for c in tree_nets}) == 1
        assert sc.memory.old[1] <= sc.memory.max_age <= sc.memory.n_mem


def test_memory_pairs_are_the_shared_run_with_pseudo_paired():
    sizes = book.MemorySizes(nets={"kwinner": SMALL}, n_mem=20, acc_trials=3, samples=2, runs=2, max_age=20,
                             young=(1, 2), old=(5, 20), fit_ages=(1, 10))
    pairs = book.memory_pairs(sizes, "kwinner", 0.5, "dprime")
    expected = run_trials(SMALL, book.memory_protocol(sizes, 0.5), 4, book.SEED,
                          stream=book.memory_stream("kwinner", 0.5, "dprime"))
    np.testing.assert_array_equal(pairs.real, expected.acc_real)
    np.testing.assert_array_equal(pairs.pseudo, expected.acc_pseudo)
    assert pairs.first_ages(5).real.shape == (4, 5)
    assert book.memory_pairs(sizes, "kwinner", 1.0, "acc").real.shape == (3, 20)


def test_tree_runs_size_the_dprime_design_and_the_curves():
    tree = dict(nets={"kwinner": SMALL, "mhn": MHN}, n_input=60, active=8, n_mem=15, flips=(1, 2), flips_dprime=2,
                curve_trials=3, runs=2, samples=2)
    proto = book.tree_protocol(tree, 2, 0.5)
    assert (proto.n_burn_in, proto.n_eval, proto.n_pseudo, proto.flips) == (15, 15, 16, 2)
    assert proto.data == "tree" and proto.uniform_baseline and proto.cue_fraction == 0.5
    design, _ = book.tree_runs(tree, "mhn", 2, 1.0)
    curves, _ = book.tree_runs(tree, "kwinner", 1, 1.0)
    assert design.acc_real.shape == (4, 15) and curves.acc_real.shape == (3, 15)
    assert curves.acc_uniform.shape == (3, 15)
    again = run_trials(SMALL, book.tree_protocol(tree, 1, 1.0), 3, book.SEED,
                       stream="tree/b=1/kwinner/cue=1.0/acc")
    np.testing.assert_array_equal(curves.acc_real, again.acc_real)
    with pytest.raises(ConfigError, match="model"):
        book.tree_runs(tree, "kwinner-alt", 1, 1.0)
