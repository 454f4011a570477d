"""Per-trial random generators.

Every trial (or training seed) draws from its own generator, derived from
``(seed, stream, index)`` by :class:`numpy.random.SeedSequence`. A result therefore
never depends on how many trials run together, on chunk size or on thread count.
``stream`` separates experiments that share a seed (e.g. the two models of a
comparison, or the two cue levels), so they are independent draws.
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["stream_id", "trial_seed_sequence", "trial_generator", "trial_seeds"]


def stream_id(name: str) -> int:
    """A stable 32-bit integer for a stream name such as ``"kwinner/cue=0.5"``. Book: ``sec-methods-seeding``."""
    return zlib.crc32(name.encode("utf-8"))


def trial_seed_sequence(seed: int, trial: int, stream: int | str = 0) -> np.random.SeedSequence:
    """The seed sequence of trial ``trial`` of ``stream`` under master ``seed``. Book: ``sec-methods-seeding``."""
    if isinstance(stream, str):
        stream = stream_id(stream)
    return np.random.SeedSequence([int(seed), int(stream), int(trial)])


def trial_generator(seed: int, trial: int, stream: int | str = 0) -> np.random.Generator:
    """A fresh PCG64 generator for one trial. Book: ``sec-methods-seeding``."""
    return np.random.default_rng(trial_seed_sequence(seed, trial, stream))


def trial_seeds(seed: int, trials, stream: int | str = 0) -> np.ndarray:
    """One uint64 seed per trial index in ``trials``, shape ``(len(trials),)``.

    For code (e.g. a compiled kernel) that needs a plain integer seed per trial.
    Book: ``sec-methods-seeding``.
    """
    return np.array(
        [trial_seed_sequence(seed, t, stream).generate_state(1, np.uint64)[0] for t in trials],
        dtype=np.uint64,
    )
