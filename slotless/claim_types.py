"""The two types of the book's headline claims: what a claim is (:class:`HeadlineClaim`) and what checking it
returns (:class:`ClaimResult`).

Each part keeps its claim functions in its own module (:mod:`slotless.memory.claims` for Part I,
``slotless.attention.claims`` for Part II); every claim function returns a :class:`ClaimResult`, which the
chapter asserts (``assert result.holds, result``). The registry :mod:`slotless.claims` lists every
:class:`HeadlineClaim`, and ``tests/test_claims.py`` checks each at CI scale and under a deliberate mutation that
must make it fail. This module imports neither part, so both can use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

__all__ = ["ClaimResult", "HeadlineClaim"]


@dataclass(frozen=True)
class ClaimResult:
    """One claim checked on one set of runs: the ``statistic`` it rests on, the ``interval`` around it,
    whether it ``holds``, and a one-line ``summary`` with the kind of interval and the numbers behind the
    verdict (e.g. the weakest age window)."""

    claim: str
    statistic: float
    interval: tuple
    holds: bool
    summary: str

    def __str__(self) -> str:
        lo, hi = self.interval
        return (f"{self.claim}: {'holds' if self.holds else 'FAILS'}, {self.statistic:.4g} [{lo:.4g}, {hi:.4g}] "
                f"({self.summary})")


@dataclass(frozen=True)
class HeadlineClaim:
    """One headline claim of the book: its ``name``, the ``statement`` the book makes, ``check(runs)`` on the runs
    of its part's CI-scale set (or a chapter's runs under the same names), a deliberate ``mutation`` (in words)
    with ``mutated(runs)``, whose result must not hold, and the ``part`` ("I" or "II")."""

    name: str
    statement: str
    check: Callable[[object], ClaimResult]
    mutation: str
    mutated: Callable[[object], ClaimResult]
    part: str
