"""The protocol and the fast engine (slotless.memory.protocol).

The fast engine must equal the readable path bit for bit; invariance to chunking, threads and
batch composition is exact. Statistical comparisons use 5 standard errors.
"""

import math

import numba
import numpy as np
import pytest

from slotless.checks import ConfigError
from slotless.memory.network import PRESETS, NetworkConfig
from slotless.memory.protocol import ProtocolConfig, protocol_preset, run_trials, run_trials_cached
from slotless.perf.reference import run_reference_trial

KW = NetworkConfig(n_input=60, n_hidden=40, active=8, fan_in=0.25, winners=4, epsilon=0.3)
MHN = PRESETS["mhn"]
ONE = MHN.replace(n_input=60, n_hidden=20, active=8)
RANDOM = ProtocolConfig(n_burn_in=30, n_eval=20, n_pseudo=21, cue_fraction=0.5)
TREE = ProtocolConfig(n_burn_in=30, n_eval=20, n_pseudo=21, cue_fraction=1.0, data="tree", flips=2,
                      uniform_baseline=True)
FIELDS = ("acc_real", "acc_pseudo", "acc_uniform", "trace", "hidden_usage")


def same(a, b):
    for f in FIELDS:
        x, y = getattr(a, f), getattr(b, f)
        if (x is None) != (y is None) or (x is not None and not np.array_equal(x, y)):
            return False
    return True


@pytest.mark.parametrize("cfg", [KW, ONE, KW.replace(winner_rule="random"), KW.replace(tie_break="lowest_index")],
                         ids=["kwinner", "mhn", "random-winners", "lowest-index"])
@pytest.mark.parametrize("proto", [RANDOM, TREE], ids=["random", "tree"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fast_engine_equals_readable_path_exactly(cfg, proto, dtype):
    fast = run_trials(cfg, proto, 2, 11, "eq", dtype=dtype)
    readable = run_trials(cfg, proto, 2, 11, "eq", dtype=dtype, engine="readable")
    assert same(fast, readable)


@pytest.mark.parametrize("cfg", [ONE, MHN.replace(n_input=130, n_hidden=12, active=9),
                                 ONE.replace(tie_break="lowest_index"), ONE.replace(winner_rule="random")],
                         ids=["mhn", "mhn-3-words", "lowest-index", "random-winners"])
@pytest.mark.parametrize("proto", [RANDOM, RANDOM.replace(cue_fraction=1.0), TREE, TREE.replace(cue_fraction=0.5),
                                   ProtocolConfig(n_burn_in=0, n_eval=8, n_pseudo=8, cue_fraction=0.5)],
                         ids=["random-cue-0.5", "random-cue-1", "tree-cue-1", "tree-cue-0.5", "never-won-units"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bitpacked_mhn_path_is_bit_identical_to_the_general_path(cfg, proto, dtype):
    # The 1-winner MHN (k = 1, f = 1, eps = 1) runs on bit-packed patterns; forcing the general
    # path must give the same accuracies, traces and usage counts, bit for bit. The last protocol
    # learns fewer patterns than there are units, so cues also reach never-won units.
    packed = run_trials(cfg, proto, 3, 12, "bits", dtype=dtype)
    general = run_trials(cfg, proto, 3, 12, "bits", dtype=dtype, _bitpacked=False)
    assert same(packed, general)
    if proto.n_burn_in == 0:
        assert np.all((packed.hidden_usage == 0).sum(axis=1) > 0), "some units must never win"


def test_results_do_not_depend_on_chunk_size_threads_or_batch_composition():
    base = run_trials(KW, TREE, 5, 3, "inv", chunk_size=5)
    for chunk in (1, 2):
        assert same(base, run_trials(KW, TREE, 5, 3, "inv", chunk_size=chunk))
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one_thread = run_trials(KW, TREE, 5, 3, "inv")
    finally:
        numba.set_num_threads(threads)
    assert same(base, one_thread)
    alone = run_trials(KW, TREE, 1, 3, "inv", first_trial=3)
    for f in FIELDS:
        assert np.array_equal(getattr(alone, f)[0], getattr(base, f)[3])
    other_stream = run_trials(KW, TREE, 1, 3, "other", first_trial=3)
    assert not np.array_equal(other_stream.acc_real[0], base.acc_real[3])


def test_shapes_age_order_and_usage_counts():
    r = run_trials(ONE, RANDOM.replace(cue_fraction=1.0), 6, 1)
    assert r.acc_real.shape == r.acc_pseudo.shape == r.trace.shape == (6, 20)
    assert r.acc_uniform is None and r.hidden_usage.shape == (6, 20)
    assert np.all(r.hidden_usage.sum(axis=1) == 50)
    # 1-winner MHN, full cue: the newest memory (age 1, column 0) always survives and is exact;
    # every surviving memory is retrieved exactly.
    assert np.all(r.trace[:, 0] == 1) and np.all(r.acc_real[:, 0] == 1)
    assert set(np.unique(r.trace)) <= {0.0, 1.0}
    assert np.all(r.acc_real[r.trace == 1] == 1)
    t = run_trials(KW, TREE, 2, 1)
    assert t.acc_uniform.shape == (2, 20)
    assert np.all(t.hidden_usage.sum(axis=1) == 50 * 4)
    assert np.all((t.trace > 0) & (t.trace <= 0.3))


def test_mhn_survival_follows_one_minus_one_over_n_h_to_the_age():
    # In the steady state every unit holds a pattern and drives are exchangeable, so with random
    # ties each new pattern overwrites a uniform unit: P(survive to age a) = (1 - 1/n_h)^(a-1).
    cfg = MHN.replace(n_input=100, n_hidden=10, active=10)
    proto = ProtocolConfig(n_burn_in=100, n_eval=30, n_pseudo=30)
    r = run_trials(cfg, proto, 400, 2)
    ages = np.arange(1, 31)
    p = (1 - 1 / 10) ** (ages - 1)
    se = np.sqrt(p * (1 - p) / 400) + 1e-9
    assert np.all(np.abs(r.trace.mean(axis=0) - p) < 5 * se + 1e-12)


def test_fast_engine_agrees_with_the_independent_reference_in_distribution():
    cfg = NetworkConfig(n_input=100, n_hidden=60, active=10, fan_in=0.2, winners=5, epsilon=0.3)
    proto = ProtocolConfig(n_burn_in=60, n_eval=40, n_pseudo=41, cue_fraction=0.5)
    trials = 30
    fast = run_trials(cfg, proto, trials, 4)
    rng = np.random.default_rng(5)
    ref = np.array([np.concatenate(run_reference_trial(cfg, proto, rng)) for _ in range(trials)])
    for ours, theirs in ((fast.acc_real, ref[:, :40]), (fast.acc_pseudo, ref[:, 40:])):
        for sl in (slice(0, 10), slice(10, 40)):  # young and old memories
            a, b = ours[:, sl].mean(axis=1), theirs[:, sl].mean(axis=1)
            se = math.sqrt(a.var(ddof=1) / trials + b.var(ddof=1) / trials)
            assert abs(a.mean() - b.mean()) < 5 * se, (sl, a.mean(), b.mean(), se)
    young, old = fast.acc_real[:, :10].mean(), fast.acc_pseudo.mean()
    assert young > old, "recent memories must beat the pseudo baseline"


def test_float32_and_float64_give_the_same_curves_within_noise():
    a = run_trials(KW, RANDOM, 20, 6, dtype="float32")
    b = run_trials(KW, RANDOM, 20, 6, dtype="float64")
    d = (a.acc_real - b.acc_real).mean(axis=1)
    assert abs(d.mean()) <= 5 * d.std(ddof=1) / math.sqrt(20) + 1e-12


def test_protocol_presets_and_validation():
    paper = protocol_preset("paper")
    assert (paper.n_burn_in, paper.n_eval, paper.n_pseudo, paper.cue_fraction) == (2000, 2000, 2001, 1.0)
    assert protocol_preset("paper", data="tree", flips=20).tree_size == 14000
    later = protocol_preset("later")
    assert (later.n_burn_in, later.n_eval, later.n_pseudo, later.tree_nodes) == (3000, 1000, 1000, 15001)
    assert protocol_preset("paper", n_eval=50).n_pseudo == 51
    with pytest.raises(ConfigError, match="n_pseudo"):
        ProtocolConfig(n_eval=10, n_pseudo=9)
    with pytest.raises(ConfigError, match="flips"):
        ProtocolConfig(data="tree")
    with pytest.raises(ConfigError, match="flips"):
        ProtocolConfig(flips=3)
    with pytest.raises(ConfigError, match="protocol"):
        protocol_preset("early")
    with pytest.raises(ConfigError, match="flips"):
        run_trials(KW, TREE.replace(flips=9), 1, 0)
    with pytest.raises(ConfigError, match="tree_nodes"):
        run_trials(KW, TREE.replace(tree_nodes=40), 1, 0)
    with pytest.raises(ConfigError, match="engine"):
        run_trials(KW, RANDOM, 1, 0, engine="gpu")
    with pytest.raises(ConfigError, match="dtype"):
        run_trials(KW, RANDOM, 1, 0, dtype="float16")
    with pytest.raises(ConfigError, match="trials"):
        run_trials(KW, RANDOM, 0, 0)


def test_cached_runs_return_the_stored_result(tmp_path, monkeypatch):
    monkeypatch.setenv("SLOTLESS_CACHE", str(tmp_path))
    first, hit1 = run_trials_cached(KW, RANDOM, 2, 9, "cache")
    second, hit2 = run_trials_cached(KW, RANDOM, 2, 9, "cache")
    assert (hit1, hit2) == (False, True)
    assert same(first, second) and first.config == second.config
    _, hit3 = run_trials_cached(KW, RANDOM, 2, 9, "cache", first_trial=1)
    assert hit3 is False
