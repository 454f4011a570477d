"""The book's headline claims (slotless.claims): each holds at CI scale, where the opposite outcome is possible,
and a deliberate mutation of its input makes it fail (a claim that no mutation can fail is not a claim)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from slotless import claims as registry
from slotless.attention import claims as attention_claims
from slotless.checks import ConfigError
from slotless.claim_types import ClaimResult
from slotless.memory import claims as memory_claims
from slotless.memory import metrics

# ==================================================================================== Part I (memory)
#: The Part I headlines of issue 15: d' ordering over older ages at both cues; the MHN better only for the
#: youngest ages; the ordering on tree data; the exact 1-winner curve; recruitment against random winners.
PART_I_HEADLINES = {
    "retention/older-ages/cue=1.0", "retention/older-ages/cue=0.5",
    "retention/youngest-only/cue=1.0", "retention/youngest-only/cue=0.5",
    "structured/older-ages",
    "memory-results/one-winner-curve/cue=1.0", "memory-results/one-winner-curve/cue=0.5",
    "controls/recruitment/cue=1.0", "controls/recruitment/cue=0.5",
}


@pytest.fixture(scope="module")
def memory_runs():
    """Every CI-scale run of the Part I claims (the chapters' quick-scale runs and the mutated ones), computed once."""
    return registry.memory_claim_runs(quick=True)


def test_every_part_one_headline_is_registered_once_with_a_mutation():
    names = [claim.name for claim in registry.PART_I]
    assert set(names) == PART_I_HEADLINES and len(names) == len(set(names))
    assert all(claim.part == "I" and claim.mutation and claim.statement for claim in registry.PART_I)
    assert [c for c in registry.CLAIMS if c.part == "I"] == list(registry.PART_I)
    assert len({claim.name for claim in registry.CLAIMS}) == len(registry.CLAIMS), "claim names must be unique"


@pytest.mark.parametrize("claim", registry.PART_I, ids=lambda claim: claim.name)
def test_memory_claim_holds_at_ci_scale(claim, memory_runs):
    result = claim.check(memory_runs)
    assert isinstance(result, ClaimResult)
    assert result.interval[0] <= result.statistic <= result.interval[1]
    assert result.holds, str(result)


@pytest.mark.parametrize("claim", registry.PART_I, ids=lambda claim: claim.name)
def test_memory_claim_fails_under_its_mutation(claim, memory_runs):
    result = claim.mutated(memory_runs)
    assert not result.holds, f"{claim.name}: the mutation ({claim.mutation}) does not make it fail: {result}"


# ------------------------------------------------------------------------- the Part I claim functions
def _curves(shift, n_samples=10, ages=60, seed=0):
    g = np.random.default_rng(seed)
    return g.normal(1.0 + shift, 0.3, (n_samples, ages)), g.normal(1.0, 0.3, (n_samples, ages))


def test_t_interval_is_scipys_paired_t_interval():
    a, b = _curves(0.2)
    diff = metrics.window_difference(a, b, (11, 40))
    wa, wb = a[:, 10:40].mean(axis=1), b[:, 10:40].mean(axis=1)
    ci = stats.ttest_rel(wa, wb).confidence_interval(0.99)
    np.testing.assert_allclose(memory_claims.t_interval(diff, 10, 0.99), (ci.low, ci.high), rtol=1e-10)


def test_older_ages_advantage_holds_for_a_shift_and_fails_without_one():
    a, b = _curves(0.5)
    holds = memory_claims.older_ages_advantage(a, b, (11, 60))
    assert holds.holds and holds.interval[0] > 0 and "holds" in str(holds)
    a0, b0 = _curves(0.0, seed=1)
    fails = memory_claims.older_ages_advantage(a0, b0, (11, 60))
    assert not fails.holds and fails.interval[0] < 0 < fails.interval[1] and "FAILS" in str(fails)
    with pytest.raises(ConfigError, match="n_samples"):
        memory_claims.older_ages_advantage(a[:5], b, (1, 10))


def test_youngest_ages_only_needs_both_parts():
    k, mhn = _curves(0.0, ages=100, seed=2)
    mhn[:, :5] += 5.0  # the MHN far better over ages 1-5 only
    assert memory_claims.youngest_ages_only(k, mhn, (1, 5), n_hidden_mhn=50, runs=10).holds
    late = mhn.copy()
    late[:, 60:70] += 5.0  # ... and again at ages 61-70, beyond the horizon of 23
    result = memory_claims.youngest_ages_only(k, late, (1, 5), n_hidden_mhn=50, runs=10)
    assert not result.holds and "oldest age marked MHN better (ddof 1, BH q=0.01): 70" in result.summary
    flat = memory_claims.youngest_ages_only(k, mhn - np.pad(np.full((10, 5), 5.0), ((0, 0), (0, 95))), (1, 5),
                                            n_hidden_mhn=50, runs=10)
    assert not flat.holds  # no young advantage at all


def test_one_winner_curve_holds_on_the_exact_curve_and_fails_on_the_approximate_baseline():
    from slotless.memory import theory

    n_i, s, nh, cue, ages = 200, 20, 50, 1.0, np.arange(1, 201)
    g = np.random.default_rng(3)
    pb = theory.pb_exact(n_i, s, nh, cue)
    alive = g.random((400, ages.size)) < theory.survival(ages, nh)  # survival indicator per trial and age
    rd = alive * (1 - pb) + g.normal(0, 0.05, alive.shape)
    windows = ((1, 5), (6, 20), (21, 50), (51, 100), (101, 200))
    exact = memory_claims.one_winner_curve(rd, n_i, s, nh, cue, windows, (1, 100), np.random.default_rng(0))
    assert exact.holds, exact
    approx = memory_claims.one_winner_curve(rd, n_i, s, nh, cue, windows, (1, 100), np.random.default_rng(0),
                                            baseline="approx")
    assert not approx.holds and approx.statistic == exact.statistic
    with pytest.raises(ConfigError, match="baseline"):
        memory_claims.one_winner_curve(rd, n_i, s, nh, cue, windows, (1, 100), g, baseline="gauss")


def test_recruitment_advantage_needs_every_window():
    a, b = _curves(0.5, ages=200, seed=4)
    windows = ((1, 20), (21, 50), (51, 100), (101, 200))
    assert memory_claims.recruitment_advantage(a, b, windows).holds
    a[:, 100:] -= 0.5  # no advantage in the last window
    result = memory_claims.recruitment_advantage(a, b, windows)
    assert not result.holds and "weakest window 101-200" in result.summary


# ================================================================================= Part II (attention)


@pytest.fixture(scope="module")
def attention_runs():
    """Every CI-scale run of the Part II claims (the real task, L = C = 4, 5000 batches, 10 seeds), computed once."""
    return attention_claims.ci_runs(workers=1)


@pytest.mark.parametrize("claim", attention_claims.CLAIMS, ids=lambda c: c.name)
def test_attention_claim_holds_at_ci_scale(claim, attention_runs):
    result = claim.check(attention_runs)
    assert result.holds, str(result)


@pytest.mark.parametrize("claim", attention_claims.CLAIMS, ids=lambda c: c.name)
def test_attention_claim_fails_under_its_mutation(claim, attention_runs):
    result = claim.mutated(attention_runs)
    assert not result.holds, f"{claim.name}: the mutation ({claim.mutation}) does not make it fail: {result}"


def test_registry_lists_every_attention_claim_once():
    names = [c.name for c in registry.CLAIMS]
    assert len(names) == len(set(names))
    assert [c for c in registry.CLAIMS if c.part == "II"] == list(attention_claims.CLAIMS)
    # the headline claims of Part II named by the issue that asked for them, each covered
    for fragment in ("learns", "paper preset fails", "collide", "exact rule", "generalises", "never-trained", "case-invariant"):
        assert any(fragment in n for n in names), fragment


def _run_arrays(final, b99=None, collisions=None):
    """Run arrays with the given final accuracies (and batches to 99%, collision rates)."""
    final = np.asarray(final, dtype=float)
    return {"final_accuracy": final, "batches_to_99": np.full(len(final), 200.0) if b99 is None else np.asarray(b99),
            "collision_rate": np.zeros(len(final)) if collisions is None else np.asarray(collisions)}


def test_attention_claim_functions_on_constructed_runs():
    c = attention_claims
    win, lose = _run_arrays(np.ones(10)), _run_arrays(np.full(10, 0.6), collisions=np.full(10, 0.3))
    assert c.learns(win).holds and not c.learns(lose).holds
    assert c.fails(lose).holds and not c.fails(win).holds
    assert not c.learns(_run_arrays(np.r_[np.ones(7), np.zeros(3)])).holds  # 7/10: lower bound 0.35
    assert c.key_rate_effect(lose, win).holds and not c.key_rate_effect(win, win).holds
    assert c.collisions_explain_failures(lose, win).holds
    assert not c.collisions_explain_failures(_run_arrays(np.full(10, 0.6)), win).holds  # failures without collisions
    fast, slow = _run_arrays(np.ones(10), b99=np.full(10, 100.0)), _run_arrays(np.ones(10), b99=np.full(10, 300.0))
    assert c.exact_rule_faster_masked(fast, slow).holds and not c.exact_rule_faster_masked(slow, fast).holds
    assert c.generalises({"heldout_accuracy": np.full(10, 0.99)}).holds
    assert not c.generalises({"heldout_accuracy": np.r_[np.full(5, 1.0), np.full(5, 0.5)]}).holds
    assert c.fails_to_generalise({"heldout_accuracy": np.full(10, 0.25)}).holds
    assert not c.fails_to_generalise({"heldout_accuracy": np.full(10, 0.5)}).holds  # chance is not below chance


def test_controls_of_the_generalisation_claims():
    c = attention_claims
    config = c.generalisation_config("qk-mhn", "classes")
    control = c.memorising_control_arrays(config, 4)
    assert control["heldout_accuracy"].shape == (4,) and abs(control["heldout_accuracy"].mean() - 0.5) < 0.1
    assert abs(control["context_accuracy"].mean() - 0.5) < 0.05  # 1024 coin flips per seed
    assert c.memorising_control_arrays(config, 4, split="random")["heldout_accuracy"].min() > 0.99
    built = c.hand_built_arrays(c.generalisation_config("qk-mhn", "pairs"), 3)
    assert np.all(built["heldout_accuracy"] == 1.0) and np.all(built["context_accuracy"] == 1.0)


def test_common_seeds_pairs_the_first_seeds():
    c = attention_claims
    a, b = _run_arrays(np.ones(5)), _run_arrays(np.zeros(3))
    a2, b2 = c.common_seeds(a, b)
    assert len(a2["final_accuracy"]) == len(b2["final_accuracy"]) == 3
    assert c.key_rate_effect(_run_arrays(np.zeros(20)), _run_arrays(np.ones(10))).summary.startswith("key rate = lr 0/10")
