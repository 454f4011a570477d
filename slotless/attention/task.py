"""The Case Sequence Task and its held-out splits.

Book: {ref}`ch-case-sequence` introduces the task and {ref}`ch-methods` defines it (``eq-methods-task``);
the held-out splits are a book addition used in {ref}`ch-training`.

Tokens are one-hot vectors of dimension 3L: ``[0, L)`` lowercase letters, ``[L, 2L)`` uppercase
letters, ``[2L, 3L)`` query tokens ("a/A", "b/B", ...). A sequence is C <= L distinct letters (the
first C of a random permutation), each lower- or uppercase with probability 1/2, then the query
token of the letter at a uniformly chosen context position. The target is that letter's case,
one-hot: lowercase ``[1, 0]``, uppercase ``[0, 1]``.

A sequence is held as integer arrays ``letters: (n, C)`` (letter index per position),
``cases: (n, C)`` (0 lower, 1 upper) and ``query: (n,)`` (queried position); :func:`encode` turns
them into tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import permutations, product

import numpy as np
import torch

from ..checks import ConfigError, check_choice, check_float, check_int
from .transformer import SlowWeights

__all__ = [
    "Sequences",
    "CaseBatch",
    "check_task",
    "n_sequences",
    "draw_sequences",
    "encode",
    "sample_batch",
    "redraw_excluded",
    "TaskStream",
    "stack_sequences",
    "sequence_ids",
    "enumerate_sequences",
    "toy_two_letter_set",
    "permutation_reduced_set",
    "HELDOUT_SPLITS",
    "HELDOUT_FRACTION",
    "HELDOUT_LETTERS",
    "reordering_class_ids",
    "n_reordering_classes",
    "check_heldout",
    "HeldoutSplit",
    "heldout_split",
    "training_sequences",
    "novel_fraction",
    "expected_novel_fraction_random",
    "memorising_control",
    "sequence_strings",
    "token_names",
    "describe",
    "hand_built_weights",
    "matching_attention_bound",
]

MAX_ENUMERATE = 2_000_000
#: The error of a held-out exclusion that leaves (almost) nothing to draw.
_EXCLUDES_EVERYTHING = "exclude removes (almost) every sequence; use a smaller held-out fraction"


def check_task(letters: int, context: int) -> tuple[int, int]:
    """Validate ``letters >= context >= 1``; return them as ints. Book: ``eq-methods-task``."""
    L = check_int("letters", letters, 1)
    C = check_int("context", context, 1, L)
    return L, C


def n_sequences(letters: int, context: int) -> int:
    """Number of distinct sequences ``L!/(L-C)! * 2^C * C`` (1536 at L = C = 4).
    Book: ``eq-methods-task`` ({ref}`ch-case-sequence`).
    """
    L, C = check_task(letters, context)
    return math.perm(L, C) * 2**C * C


@dataclass
class Sequences:
    """Integer description of ``n`` sequences: ``letters (n, C)``, ``cases (n, C)``, ``query (n,)``.
    Book: ``eq-methods-task``.
    """

    letters: np.ndarray
    cases: np.ndarray
    query: np.ndarray

    def __len__(self) -> int:
        return len(self.query)

    def take(self, idx) -> "Sequences":
        return Sequences(self.letters[idx], self.cases[idx], self.query[idx])


@dataclass
class CaseBatch:
    """An encoded batch. ``X: (B, C, 3L)`` context, ``xq: (B, 3L)`` query token, ``y: (B, 2)`` target;
    ``seqs`` the integer description. Book: ``eq-methods-task``."""

    X: torch.Tensor
    xq: torch.Tensor
    y: torch.Tensor
    seqs: Sequences


def draw_sequences(letters: int, context: int, n: int, rng: np.random.Generator) -> Sequences:
    """``n`` i.i.d. sequences from the full task distribution, with one ``rng.random`` call.
    Book: ``eq-methods-task`` ({ref}`ch-case-sequence`).
    """
    L, C = check_task(letters, context)
    n = check_int("n", n, 0)
    u = rng.random((n, L + C + 1))
    lets = np.argsort(u[:, :L], axis=1)[:, :C]
    cases = (u[:, L : L + C] < 0.5).astype(np.int64)
    query = np.minimum((u[:, L + C] * C).astype(np.int64), C - 1)
    return Sequences(lets.astype(np.int64), cases, query)


def stack_sequences(seqs) -> Sequences:
    """One :class:`Sequences` of shape ``(S, n, ...)`` from S draws of ``n`` sequences each (one per seed).
    Book: ``eq-methods-task``."""
    return Sequences(*(np.stack([getattr(q, f) for q in seqs]) for f in ("letters", "cases", "query")))


def sequence_ids(seqs: Sequences, letters: int) -> np.ndarray:
    """A unique int64 id per sequence (mixed radix over letters, cases, query), shape ``(n,)``.
    Book: ``sec-methods-task``.
    """
    L = check_int("letters", letters, 1)
    n, C = seqs.letters.shape
    if C * math.log2(max(L, 2)) + C + math.log2(max(C, 2)) > 62:
        raise ConfigError(f"letters={L}, context={C}: too many sequences for integer ids")
    ids = np.zeros(n, dtype=np.int64)
    for c in range(C):
        ids = ids * L + seqs.letters[:, c]
    for c in range(C):
        ids = ids * 2 + seqs.cases[:, c]
    return ids * C + seqs.query


def encode(seqs: Sequences, letters: int, dtype=torch.float32):
    """One-hot tensors ``X (n, C, 3L)``, ``xq (n, 3L)``, ``y (n, 2)`` for integer sequences.
    Book: ``eq-methods-task`` ({ref}`ch-case-sequence`).
    """
    L = check_int("letters", letters, 1)
    lets = torch.as_tensor(seqs.letters, dtype=torch.long)
    cases = torch.as_tensor(seqs.cases, dtype=torch.long)
    query = torch.as_tensor(seqs.query, dtype=torch.long)
    X = torch.nn.functional.one_hot(lets + L * cases, 3 * L).to(dtype)
    qlet = torch.gather(lets, -1, query.unsqueeze(-1)).squeeze(-1)
    qcase = torch.gather(cases, -1, query.unsqueeze(-1)).squeeze(-1)
    xq = torch.nn.functional.one_hot(2 * L + qlet, 3 * L).to(dtype)
    y = torch.nn.functional.one_hot(qcase, 2).to(dtype)
    return X, xq, y


def redraw_excluded(seqs: Sequences, letters: int, context: int, rng, exclude) -> Sequences:
    """Redraw, by rejection and in place, every sequence whose id is in the sorted array ``exclude``.

    Used by the held-out split: training never sees an excluded sequence.
    Book: ``sec-methods-task`` ({ref}`ch-training`).
    """
    exclude = np.asarray(exclude)

    def excluded(s: Sequences) -> np.ndarray:  # membership in the sorted ids by binary search
        ids = sequence_ids(s, letters)
        return exclude[np.minimum(np.searchsorted(exclude, ids), len(exclude) - 1)] == ids

    bad = excluded(seqs)
    for _ in range(10_000):
        if not bad.any():
            return seqs
        rows = np.nonzero(bad)[0]
        new = draw_sequences(letters, context, len(rows), rng)
        seqs.letters[rows], seqs.cases[rows], seqs.query[rows] = new.letters, new.cases, new.query
        bad[:] = False
        bad[rows[excluded(new)]] = True  # only the redrawn rows can still be excluded
    raise ConfigError(_EXCLUDES_EVERYTHING)


class TaskStream:
    """One seed's training sequences with the held-out ids ``exclude`` (sorted) never drawn: the
    same sequences, from the same numbers of ``rng``, as :func:`draw_sequences` followed by
    :func:`redraw_excluded`, call after call, but drawn and checked by one compiled loop
    (:func:`slotless.attention.kernels.draw_task_rows`) instead of several numpy calls per batch.

    ``rng`` is read ahead in blocks of ``block`` numbers, so it must not be used for anything else.
    Book: ``sec-methods-task`` ({ref}`ch-training`).
    """

    def __init__(self, letters: int, context: int, rng: np.random.Generator, exclude, block: int = 1 << 16):
        self.letters, self.context = check_task(letters, context)
        self.rng = rng
        self.exclude = np.ascontiguousarray(exclude, dtype=np.int64)
        self.block = check_int("block", block, 1)
        self.numbers = np.empty(0)
        self.pos = 0

    def draw(self, n: int) -> Sequences:
        """The next ``n`` sequences (none of them excluded)."""
        from .kernels import draw_task_rows

        n = check_int("n", n, 0)
        L, C = self.letters, self.context
        seqs = Sequences(np.empty((n, C), np.int64), np.empty((n, C), np.int64), np.empty(n, np.int64))
        bad = np.empty(n, np.bool_)
        while True:
            pos = draw_task_rows(self.numbers, self.pos, L, C, self.exclude, seqs.letters, seqs.cases, seqs.query,
                                 bad)
            if pos >= 0:
                self.pos = pos
                return seqs
            if pos == -2:
                raise ConfigError(_EXCLUDES_EVERYTHING)
            self._read_ahead(n)

    def draw_tokens(self, s: int, tok: np.ndarray, qtok: np.ndarray, target: np.ndarray) -> None:
        """The next ``n`` batches of ``B`` sequences, one :meth:`draw` ``(B)`` each (the same sequences), as seed
        ``s``'s training tokens in the compiled step's layout (``tok (n, S, B, C)``: ``letter + L case``;
        ``qtok, target (n, S, B)``: ``2L +`` the queried letter, its case), drawn by one compiled call per
        read-ahead instead of one per batch."""
        from .kernels import draw_task_batches

        B, C = tok.shape[2], self.context
        letters, cases = np.empty((B, C), np.int64), np.empty((B, C), np.int64)
        query, bad = np.empty(B, np.int64), np.empty(B, np.bool_)
        j = 0
        while True:
            j, self.pos, status = draw_task_batches(self.numbers, self.pos, self.letters, C, self.exclude, s, j, tok,
                                                    qtok, target, letters, cases, query, bad)
            if status == 0:
                return
            if status == -2:
                raise ConfigError(_EXCLUDES_EVERYTHING)
            self._read_ahead(B)

    def _read_ahead(self, n: int) -> None:
        """Keep the unused numbers and read the next block (at least enough for ``n`` sequences): a draw ran out
        of numbers, and committed nothing of the sequences it could not finish."""
        more = max(self.block, n * (self.letters + self.context + 1))
        self.numbers = np.concatenate((self.numbers[self.pos:], self.rng.random(more)))
        self.pos = 0


def sample_batch(letters: int, context: int, batch_size: int, rng: np.random.Generator,
                 exclude: np.ndarray | None = None, dtype=torch.float32) -> CaseBatch:
    """A fresh batch; sequences whose id is in the sorted array ``exclude`` are redrawn (rejection).
    Book: ``eq-methods-task`` ({ref}`ch-case-sequence`).
    """
    L, C = check_task(letters, context)
    B = check_int("batch_size", batch_size, 1)
    seqs = draw_sequences(L, C, B, rng)
    if exclude is not None and len(exclude):
        seqs = redraw_excluded(seqs, L, C, rng, exclude)
    X, xq, y = encode(seqs, L, dtype)
    return CaseBatch(X, xq, y, seqs)


def enumerate_sequences(letters: int, context: int) -> Sequences:
    """Every distinct sequence, in a fixed order (1536 at L = C = 4).
    Book: ``eq-methods-task`` ({ref}`ch-case-sequence`).
    """
    L, C = check_task(letters, context)
    if n_sequences(L, C) > MAX_ENUMERATE:
        raise ConfigError(f"letters={L}, context={C}: {n_sequences(L, C)} sequences is too many to enumerate")
    rows = [(p, cs, qi) for p in permutations(range(L), C) for cs in product((0, 1), repeat=C) for qi in range(C)]
    return Sequences(
        np.array([r[0] for r in rows], dtype=np.int64).reshape(-1, C),
        np.array([r[1] for r in rows], dtype=np.int64).reshape(-1, C),
        np.array([r[2] for r in rows], dtype=np.int64),
    )


def permutation_reduced_set(letters: int) -> Sequences:
    """The letters in fixed order (C = L), all 2^L case assignments, each with each of the L queries.
    Book: ``sec-methods-task``.
    """
    L = check_int("letters", letters, 1, 20)
    rows = [(cs, qi) for cs in product((0, 1), repeat=L) for qi in range(L)]
    return Sequences(
        np.tile(np.arange(L, dtype=np.int64), (len(rows), 1)),
        np.array([r[0] for r in rows], dtype=np.int64).reshape(-1, L),
        np.array([r[1] for r in rows], dtype=np.int64),
    )


def toy_two_letter_set() -> Sequences:
    """The 2-letter toy set: letters a, b in fixed order, all 4 case combinations, both queries (8).
    Book: ``sec-methods-task``.
    """
    return permutation_reduced_set(2)


#: The held-out splits ({ref}`sec-training-generalisation`): "classes" and "pairs" can fail; "random" is kept
#: only with its caveat (almost every held-out sequence is a reordering of a training one).
HELDOUT_SPLITS = ("classes", "pairs", "random")
#: The fraction of reordering classes ("classes") or of sequences ("random") held out when not given.
HELDOUT_FRACTION = 0.25
#: The number of letters whose uppercase key is never queried in training ("pairs") when not given.
HELDOUT_LETTERS = 1


def reordering_class_ids(seqs: Sequences, letters: int) -> np.ndarray:
    """The reordering class of each sequence, shape ``(n,)`` int64: the unordered context (the set of its
    letter-case tokens, as a bit mask over the 2L tokens) together with the queried letter.

    Two sequences share a class exactly when one is a reordering of the other's context with the same letter
    queried; they then have the same target. Neither model of Part II reads positions, so a model gives every
    sequence of a class the same answer. Book: ``sec-training-generalisation`` ({ref}`ch-training`).
    """
    L = check_int("letters", letters, 1, 30)
    tokens = seqs.letters + L * seqs.cases  # (n, C): index of each context token in [0, 2L)
    mask = np.bitwise_or.reduce(np.left_shift(np.int64(1), tokens.astype(np.int64)), axis=1)
    queried = seqs.letters[np.arange(len(seqs)), seqs.query]
    return mask * L + queried


@dataclass
class HeldoutSplit:
    """A held-out split ({ref}`sec-training-generalisation`): ``split`` its kind; ``test_ids`` the sorted ids
    (:func:`sequence_ids`) of the held-out sequences, which training never draws; ``test`` those sequences
    (``Sequences`` of length ``n_test``)."""

    split: str
    test_ids: np.ndarray
    test: Sequences


def n_reordering_classes(letters: int, context: int) -> int:
    """Number of reordering classes, ``binom(L, C) * 2^C * C`` (96 at L = 4, C = 3; each holds the ``C!`` orders of
    its context). Book: ``sec-training-generalisation``."""
    L, C = check_task(letters, context)
    return math.comb(L, C) * 2**C * C


def check_heldout(letters: int, context: int, split: str, fraction=HELDOUT_FRACTION,
                  heldout_letters=HELDOUT_LETTERS) -> int:
    """Validate a held-out split's settings before any work (the setting of the other split is not read); return
    the number of sequences it holds out. Book: ``sec-training-generalisation``."""
    L, C = check_task(letters, context)
    split = check_choice("heldout_split", split, HELDOUT_SPLITS)
    if split == "pairs":
        n_letters = check_int("heldout_letters", heldout_letters, 1, L)
        return n_letters * math.perm(L - 1, C - 1) * C * 2 ** (C - 1)  # letter l at any position, uppercase, queried
    fraction = check_float("heldout_fraction", fraction, 0.0, 0.9, lo_open=True)
    if split == "random":
        return max(1, int(round(fraction * n_sequences(L, C))))
    n_classes = n_reordering_classes(L, C)
    n_test = max(1, int(round(fraction * n_classes)))
    if n_test >= n_classes:
        raise ConfigError(f"heldout_fraction={fraction} holds out all {n_classes} reordering classes: "
                          "use a smaller fraction")
    return n_test * math.factorial(C)


def heldout_split(letters: int, context: int, rng: np.random.Generator, split: str = "classes",
                  fraction: float = HELDOUT_FRACTION, heldout_letters: int = HELDOUT_LETTERS) -> HeldoutSplit:
    """Sequences to hold out of training (book addition, {ref}`sec-training-generalisation`).

    ``split``:

    - ``"classes"``: a random ``fraction`` of the reordering classes (:func:`reordering_class_ids`), with every
      sequence in them. No held-out sequence is then a reordering of a training sequence.
    - ``"pairs"``: every sequence in which one of the first ``heldout_letters`` letters (a, b, ...) is queried
      while it appears in uppercase. The pairing of that query with that key is then never trained, and every
      held-out target is "uppercase" (training sees those queries only with lowercase targets).
    - ``"random"``: a random ``fraction`` of all sequences. Caveat: almost every held-out sequence is then a
      reordering of a training sequence (:func:`novel_fraction`), so models that ignore positions pass it
      without generalising; it is kept for comparison only.

    ``rng`` draws the random splits ("pairs" is deterministic). The training sampler excludes the held-out
    sequences (pass ``test_ids`` as ``exclude`` to :func:`sample_batch`). Book: ``sec-methods-task``.
    """
    L, C = check_task(letters, context)
    n_test = check_heldout(L, C, split, fraction, heldout_letters)
    every = enumerate_sequences(L, C)
    if split == "pairs":
        queried = every.letters[np.arange(len(every)), every.query]
        upper = every.cases[np.arange(len(every)), every.query] == 1
        idx = np.nonzero((queried < heldout_letters) & upper)[0]
    elif split == "random":
        idx = np.sort(rng.choice(len(every), size=n_test, replace=False))
    else:
        classes = reordering_class_ids(every, L)
        chosen = rng.choice(np.unique(classes), size=n_test // math.factorial(C), replace=False)
        idx = np.nonzero(np.isin(classes, chosen))[0]
    assert len(idx) == n_test, (split, len(idx), n_test)
    test = every.take(idx)
    return HeldoutSplit(split, np.sort(sequence_ids(test, L)), test)


def training_sequences(split: HeldoutSplit, letters: int, context: int) -> Sequences:
    """Every sequence that training may draw under ``split`` (all the others), in enumeration order.
    Book: ``sec-training-generalisation``."""
    every = enumerate_sequences(letters, context)
    return every.take(~np.isin(sequence_ids(every, letters), split.test_ids))


def novel_fraction(split: HeldoutSplit, letters: int, context: int) -> float:
    """The fraction of the held-out sequences of ``split`` that are **not** a reordering of any training sequence
    (no training sequence shares their reordering class). 1 for "classes" and "pairs"; near 0 for "random".
    Book: ``sec-training-generalisation`` ({ref}`ch-training`)."""
    train = reordering_class_ids(training_sequences(split, letters, context), letters)
    return float(np.mean(~np.isin(reordering_class_ids(split.test, letters), train)))


def expected_novel_fraction_random(letters: int, context: int, fraction: float = HELDOUT_FRACTION) -> float:
    """The expected :func:`novel_fraction` of a "random" split, exactly: a held-out sequence is novel when the
    other ``C! - 1`` members of its reordering class are held out too, which for ``n`` of ``N`` sequences held
    out uniformly has probability ``prod_{i=1}^{C!-1} (n - i) / (N - i)``. Book: ``sec-training-generalisation``."""
    L, C = check_task(letters, context)
    fraction = check_float("heldout_fraction", fraction, 0.0, 0.9, lo_open=True)
    N = n_sequences(L, C)
    n = max(1, int(round(fraction * N)))
    return float(np.prod([(n - i) / (N - i) for i in range(1, math.factorial(C))]))


def memorising_control(split: HeldoutSplit, letters: int, context: int, rng: np.random.Generator) -> float:
    """Held-out accuracy of a **memorising control** (``sec-training-generalisation``, {ref}`ch-training`).

    The control has memorised the target of every training sequence (:func:`training_sequences`) in a lookup
    table keyed by reordering class (:func:`reordering_class_ids`): it ignores positions, like the models, but
    learns nothing that transfers between classes. A held-out sequence whose class it has seen gets the memorised
    target; any other gets a fair coin flip from ``rng``. It scores about 1/2 on a split that can fail and
    about 1 on the "random" split.
    """
    L, C = check_task(letters, context)
    train = training_sequences(split, L, C)
    table = dict(zip(reordering_class_ids(train, L).tolist(), train.cases[np.arange(len(train)), train.query].tolist()))
    test = split.test
    target = test.cases[np.arange(len(test)), test.query]
    guess = rng.integers(0, 2, size=len(test))
    answer = np.array([table.get(c, g) for c, g in zip(reordering_class_ids(test, L).tolist(), guess.tolist())])
    return float(np.mean(answer == target))


def sequence_strings(seqs: Sequences, letters: int) -> list[str]:
    """Compact names of sequences: the context letters in order, each lower- or uppercase as drawn, then ``?``
    and the queried letter in lowercase, e.g. ``'dAcB?a'`` (the held-out lists of the result files;
    ``sec-training-generalisation``). Letters beyond 'z' are written ``<l26>``, ``<L26>``."""
    names = token_names(check_int("letters", letters, 1))
    L = letters

    def token(i):
        name = names[i]
        return name if len(name) == 1 else f"<{name}>"

    return ["".join(token(int(le) + L * int(ca)) for le, ca in zip(lets, cs)) + "?" + token(int(lets[qi]))
            for lets, cs, qi in zip(seqs.letters, seqs.cases, seqs.query)]


def token_names(letters: int) -> list[str]:
    """Names of the 3L tokens: 'a'.., 'A'.., 'a/A'.. (letters beyond 'z' get numbers).
    Book: ``eq-methods-task`` ({ref}`ch-case-sequence`).
    """
    L = check_int("letters", letters, 1)
    low = [chr(97 + i) if i < 26 else f"l{i}" for i in range(L)]
    up = [s.upper() for s in low]
    return low + up + [f"{lo}/{u}" for lo, u in zip(low, up)]


def describe(seqs: Sequences, letters: int) -> list[str]:
    """Human-readable sequences, e.g. ``'c A d b | a/A -> upper'``.
    Book: ``eq-methods-task`` ({ref}`ch-case-sequence`).
    """
    names = token_names(letters)
    L = letters
    out = []
    for lets, cs, qi in zip(seqs.letters, seqs.cases, seqs.query):
        ctx = " ".join(names[int(letter) + L * int(case)] for letter, case in zip(lets, cs))
        out.append(f"{ctx} | {names[2 * L + int(lets[qi])]} -> {'upper' if cs[qi] else 'lower'}")
    return out


def hand_built_weights(letters: int, key_dim: int, scale: float, seed: int = 0) -> SlowWeights:
    """One-layer weights that solve every sequence of the task ({ref}`ch-case-sequence`, ``eq-case-sequence-forward``).

    Each letter gets an orthonormal code ``u_l`` (QR of a ``(key_dim, letters)`` standard normal draw from
    ``torch.Generator().manual_seed(seed)``, float64); the query token's column of W_Q and both case columns of
    W_K are ``scale * u_l``, and W_V maps lowercase to ``[1, 0]`` and uppercase to ``[0, 1]``. Shapes
    ``W_Q, W_K: (key_dim, 3L)``, ``W_V: (2, 3L)``, float64.
    """
    L = check_int("letters", letters, 1)
    dk = check_int("key_dim", key_dim, L)
    s = check_float("scale", scale, 0.0, lo_open=True)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0))
    U = torch.linalg.qr(torch.randn(dk, L, generator=g, dtype=torch.float64))[0]  # orthonormal letter codes
    W_Q = torch.zeros(dk, 3 * L, dtype=torch.float64)
    W_K = torch.zeros(dk, 3 * L, dtype=torch.float64)
    W_V = torch.zeros(2, 3 * L, dtype=torch.float64)
    W_Q[:, 2 * L:] = s * U
    W_K[:, :L] = s * U
    W_K[:, L:2 * L] = s * U
    W_V[0, :L] = 1.0
    W_V[1, L:2 * L] = 1.0
    return SlowWeights(W_Q, W_K, W_V)


def matching_attention_bound(context: int, scale: float) -> float:
    """The least attention the hand-built weights (:func:`hand_built_weights`, gamma = 1) put on the queried item:
    its logit is ``scale^2`` against 0 for the ``context - 1`` others (orthonormal codes), so the weight is at
    least ``1 / (1 + (C - 1) exp(-scale^2))`` ({ref}`ch-case-sequence`)."""
    C = check_int("context", context, 1)
    s = check_float("scale", scale, 0.0, lo_open=True)
    return 1 / (1 + (C - 1) * math.exp(-s**2))
