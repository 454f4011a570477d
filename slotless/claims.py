"""The book's headline claims, in one place: every claim the book states as a result, with the function that
checks it and a deliberate mutation that must make it fail.

``tests/test_claims.py`` checks every entry of :data:`CLAIMS` at CI scale, on its part's CI-scale runs, and checks
that its mutation makes it fail; the chapters assert the same claim functions on their own runs.

- Part I (memory): the claim functions are :mod:`slotless.memory.claims`; their runs, at CI (quick) scale, are
  :func:`memory_claim_runs`, built from the chapters' own sizes, seeds and stream names (:mod:`slotless.book`).
- Part II (attention): :mod:`slotless.attention.claims`; its runs, at CI scale (the real task, L = C = 4, 5000
  batches, 10 to 50 seeds), are ``slotless.attention.claims.ci_runs`` ({ref}`sec-training-claims`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from . import book
from .attention import claims as attention_claims
from .claim_types import HeadlineClaim
from .memory import claims as memory_claims
from .memory import metrics
from .memory import theory as memory_theory
from .rng import trial_generator

__all__ = ["MemoryClaimRuns", "memory_claim_runs", "PART_I", "PART_II", "CLAIMS"]


# ==================================================================================== Part I (memory)
@dataclass(frozen=True)
class MemoryClaimRuns:
    """The runs behind the Part I claims at one scale, with the mutated runs beside them.

    ``sizes``, ``tree``, ``theory``: the scale's :class:`~slotless.book.MemorySizes`, tree sizes and
    :class:`~slotless.book.MemoryTheorySizes`; ``dprime``: ``(model, cue)`` -> per-sample paired d'
    ``(n_samples, E)`` of the shared random-data runs (models "kwinner", "mhn", "kwinner-random", and the
    mutations "mhn as kwinner", "kwinner-random as kwinner" and "mhn, ages shuffled"); ``tree_dprime``: model ->
    ``(n_samples, E)`` on tree data at ``flips_dprime`` (and "mhn as kwinner"); ``mhn_rd``: ``(tie_break, cue)``
    -> per-trial raw differences ``(trials, E)`` of the 1-winner MHN, both shared runs pooled.
    """

    sizes: object
    tree: dict
    theory: object
    dprime: dict
    tree_dprime: dict
    mhn_rd: dict


def _with_model(sizes, name: str, config):
    """``sizes`` with ``config`` running under the model name ``name`` (and so under its streams)."""
    return dataclasses.replace(sizes, nets={**sizes.nets, name: config})


def _dprime_of(pair, n_samples: int, order=None):
    real, pseudo = pair.real, pair.pseudo
    if order is not None:  # one permutation of the ages, applied to real and pseudo alike
        real, pseudo = real[:, order], pseudo[:, order]
    return metrics.paired_dprime(real, pseudo, n_samples=n_samples)


def memory_claim_runs(quick: bool = True) -> MemoryClaimRuns:
    """Every run of the Part I claims at quick (CI) or paper scale, mutations included. The unmutated runs are the
    chapters' own (:func:`slotless.book.memory_pairs`, :func:`slotless.book.tree_runs`); a mutation that replaces a
    model runs the replacement under the replaced model's name and streams, so it is independent of the
    replacement's own runs."""
    scale = book.scale(quick)
    sizes, tree = scale.memory, scale.tree
    n = sizes.samples
    dprime, mhn_rd = {}, {}
    for cue in book.CUES:
        for model in ("kwinner", "mhn", "kwinner-random"):
            dprime[(model, cue)] = _dprime_of(book.memory_pairs(sizes, model, cue, "dprime"), n)
        for replacement in ("mhn", "kwinner-random"):
            mutated = _with_model(sizes, "kwinner", sizes.nets[replacement])
            dprime[(f"{replacement} as kwinner", cue)] = _dprime_of(
                book.memory_pairs(mutated, "kwinner", cue, "dprime"), n)
        order = trial_generator(book.SEED, 0, f"claims/shuffle/mhn/cue={cue}").permutation(sizes.n_mem)
        dprime[("mhn, ages shuffled", cue)] = _dprime_of(book.memory_pairs(sizes, "mhn", cue, "dprime"), n, order)
        for tie_break in ("random", "lowest_index"):
            mhn_sizes = _with_model(sizes, "mhn", sizes.nets["mhn"].replace(tie_break=tie_break))
            runs = [book.memory_runs(mhn_sizes, "mhn", cue, kind)[0] for kind in ("acc", "dprime")]
            mhn_rd[(tie_break, cue)] = memory_theory.memory_arrays(*runs, n_eval=sizes.n_mem).rd
    tree_dprime = {}
    for name, trees, model in (("kwinner", tree, "kwinner"), ("mhn", tree, "mhn"),
                               ("mhn as kwinner", {**tree, "nets": {**tree["nets"], "kwinner": tree["nets"]["mhn"]}},
                                "kwinner")):
        result, _ = book.tree_runs(trees, model, tree["flips_dprime"], 1.0)
        tree_dprime[name] = metrics.paired_dprime(result.acc_real, result.acc_pseudo[:, :tree["n_mem"]],
                                                  n_samples=tree["samples"])
    return MemoryClaimRuns(sizes, tree, scale.memory_theory, dprime, tree_dprime, mhn_rd)


def _older(cue: float, kwinner: str = "kwinner"):
    def check(runs: MemoryClaimRuns):
        return memory_claims.older_ages_advantage(runs.dprime[(kwinner, cue)], runs.dprime[("mhn", cue)],
                                                  runs.sizes.old)
    return check


def _youngest(cue: float, mhn: str = "mhn"):
    def check(runs: MemoryClaimRuns):
        mhn_net = runs.sizes.nets["mhn"]
        return memory_claims.youngest_ages_only(runs.dprime[("kwinner", cue)], runs.dprime[(mhn, cue)],
                                                runs.sizes.young, mhn_net.n_hidden, runs.sizes.runs)
    return check


def _tree(kwinner: str = "kwinner"):
    def check(runs: MemoryClaimRuns):
        return memory_claims.older_ages_advantage(runs.tree_dprime[kwinner], runs.tree_dprime["mhn"],
                                                  runs.tree["older"])
    return check


def _curve(cue: float, tie_break: str = "random"):
    def check(runs: MemoryClaimRuns):
        net = runs.sizes.nets["mhn"]
        rng = trial_generator(book.SEED, 0, f"claims/one-winner-curve/cue={cue}")
        return memory_claims.one_winner_curve(runs.mhn_rd[(tie_break, cue)], net.n_input, net.active, net.n_hidden,
                                              cue, runs.theory.windows, runs.sizes.fit_ages, rng)
    return check


def _recruitment(cue: float, similarity: str = "kwinner"):
    def check(runs: MemoryClaimRuns):
        return memory_claims.recruitment_advantage(runs.dprime[(similarity, cue)], runs.dprime[("kwinner-random", cue)],
                                                   metrics.windows_upto(runs.sizes.max_age))
    return check


def _part_one() -> tuple:
    claims = []
    for cue in book.CUES:
        claims += [
            HeadlineClaim(f"retention/older-ages/cue={cue}",
                          "over the older ages the K-winner's paired d' is higher than the 1-winner MHN's",
                          _older(cue), "the K-winner replaced by the 1-winner MHN (run under the K-winner's streams)",
                          _older(cue, kwinner="mhn as kwinner"), "I"),
            HeadlineClaim(f"retention/youngest-only/cue={cue}",
                          "the 1-winner MHN's paired d' is higher only for its youngest memories", _youngest(cue),
                          "the 1-winner MHN's ages shuffled (one permutation of the memories' ages)",
                          _youngest(cue, mhn="mhn, ages shuffled"), "I"),
            HeadlineClaim(f"memory-results/one-winner-curve/cue={cue}",
                          "the 1-winner MHN forgets on the exact curve pi_a (1 - p_b) (Theorem 1, Proposition 2)",
                          _curve(cue), "ties of the 1-winner MHN broken by lowest index instead of at random",
                          _curve(cue, tie_break="lowest_index"), "I"),
            HeadlineClaim(f"controls/recruitment/cue={cue}",
                          "similarity-based recruitment beats random winners in every age window", _recruitment(cue),
                          "the similarity-based K-winner replaced by a second, independent random-winner run",
                          _recruitment(cue, similarity="kwinner-random as kwinner"), "I"),
        ]
    claims.append(HeadlineClaim("structured/older-ages", "on tree data the K-winner's paired d' is higher than the "
                                "1-winner MHN's over the older ages", _tree(),
                                "the K-winner replaced by the 1-winner MHN on tree data",
                                _tree(kwinner="mhn as kwinner"), "I"))
    return tuple(claims)


#: The headline claims of Part I: d' ordering over older ages at both cues; the MHN better only for the youngest
#: ages; the ordering on tree data; the exact 1-winner curve; similarity-based recruitment against random winners.
PART_I: tuple = _part_one()

# ================================================================================= Part II (attention)
# The Part II entries: slotless.attention.claims.CLAIMS, each a HeadlineClaim(..., "II") whose check and mutated take
# the runs of slotless.attention.claims.ci_runs() (a dict: run name -> arrays).
PART_II: tuple = attention_claims.CLAIMS

#: Every headline claim of the book, Part I then Part II.
CLAIMS: tuple = PART_I + PART_II
