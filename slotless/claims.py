"""The book's headline claims, in one place: every claim the book states as a result, with the function that
checks it and a deliberate mutation that must make it fail.

``tests/test_claims.py`` runs every entry of :data:`CLAIMS` at CI scale (each part's own ``ci_runs``) and checks
that its mutation makes it fail; the chapters assert the same functions on their own runs.

- Part I (memory): ``slotless.memory.claims`` (added by the Part I claims work; the section below is its place).
- Part II (attention): :mod:`slotless.attention.claims` ({ref}`sec-training-claims`).
"""

from __future__ import annotations

from .attention.claims import CLAIMS as PART_II

__all__ = ["PART_I", "PART_II", "CLAIMS"]

# ------------------------------------------------------------------------------------ Part I (memory)
# The Part I entries (slotless.memory.claims) go here.
PART_I: tuple = ()

# ---------------------------------------------------------------------------------- Part II (attention)
# PART_II is imported above from slotless.attention.claims: each a slotless.claim_types.HeadlineClaim(name,
# statement, check, mutation, mutated, "II"), whose check and mutated take the runs of
# slotless.attention.claims.ci_runs() (a dict: run name -> arrays).

#: Every headline claim of the book, Part I then Part II.
CLAIMS: tuple = PART_I + PART_II
