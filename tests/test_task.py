"""Unit tests of slotless.attention.task: encoding, targets, enumeration, held-out splits (slotless.attention.task)."""

import math

import numpy as np
import pytest
import torch

from slotless.attention import task as T
from slotless.checks import ConfigError
from slotless.rng import trial_generator


def test_encoding_layout_and_targets():
    seqs = T.Sequences(np.array([[2, 0, 3, 1]]), np.array([[1, 0, 0, 1]]), np.array([0]))
    X, xq, y = T.encode(seqs, 4)
    assert X.shape == (1, 4, 12) and xq.shape == (1, 12) and y.shape == (1, 2)
    assert X[0].argmax(-1).tolist() == [4 + 2, 0, 3, 4 + 1]  # upper c, lower a, lower d, upper b
    assert xq[0].argmax().item() == 8 + 2  # query token c/C
    assert y[0].tolist() == [0.0, 1.0]  # queried letter c is uppercase
    assert T.describe(seqs, 4) == ["C a d B | c/C -> upper"]
    assert torch.all(X.sum(-1) == 1) and torch.all(xq.sum(-1) == 1)


def test_draws_are_valid_and_uniform():
    rng = trial_generator(0, 0, "t")
    s = T.draw_sequences(4, 3, 20000, rng)
    assert all(len(set(r)) == 3 for r in s.letters[:200])  # distinct letters
    # each statistic within 5 binomial SE of its exact probability
    n = len(s)
    p_up = s.cases.mean()
    assert abs(p_up - 0.5) < 5 * math.sqrt(0.25 / (3 * n))
    for pos in range(3):
        assert abs((s.query == pos).mean() - 1 / 3) < 5 * math.sqrt(2 / 9 / n)
    for letter in range(4):
        assert abs((s.letters[:, 0] == letter).mean() - 0.25) < 5 * math.sqrt(0.1875 / n)
    # the target is the queried letter's case
    X, xq, y = T.encode(s.take(slice(0, 500)), 4)
    q_letter = xq.argmax(-1) - 8
    for b in range(500):
        j = int(s.query[b])
        assert s.letters[b, j] == q_letter[b]
        assert y[b].argmax() == s.cases[b, j]


def test_enumeration_counts_and_ids_unique():
    every = T.enumerate_sequences(4, 4)
    assert len(every) == 1536 == T.n_sequences(4, 4)
    ids = T.sequence_ids(every, 4)
    assert len(np.unique(ids)) == 1536
    assert len(T.toy_two_letter_set()) == 8
    assert len(T.permutation_reduced_set(4)) == 4 * 16
    assert len(T.enumerate_sequences(4, 3)) == T.n_sequences(4, 3) == 24 * 8 * 3


@pytest.mark.parametrize("split", T.HELDOUT_SPLITS)
def test_heldout_split_is_never_drawn_in_training(split):
    L, C = 4, 3
    held = T.heldout_split(L, C, trial_generator(0, 0, "h"), split)
    batch = T.sample_batch(L, C, 4000, trial_generator(0, 1, "h"), exclude=held.test_ids)
    assert not np.isin(T.sequence_ids(batch.seqs, L), held.test_ids).any()
    # without the exclusion, the held-out share of the draws is the held-out share of all sequences
    free = T.sequence_ids(T.draw_sequences(L, C, 4000, trial_generator(0, 1, "h")), L)
    share = len(held.test) / T.n_sequences(L, C)
    assert abs(np.isin(free, held.test_ids).mean() - share) < 5 * math.sqrt(share * (1 - share) / 4000)
    train = T.training_sequences(held, L, C)
    assert len(train) + len(held.test) == T.n_sequences(L, C)


def test_reordering_classes_are_the_reorderings_with_the_same_query():
    every = T.enumerate_sequences(4, 3)
    classes = T.reordering_class_ids(every, 4)
    # 4 letter sets x 8 case patterns x 3 queried letters, each with the 3! orderings of its context
    values, counts = np.unique(classes, return_counts=True)
    assert len(values) == 4 * 8 * 3 and np.all(counts == 6)
    for c in values[:10]:
        members = every.take(classes == c)
        tokens = {frozenset(zip(le.tolist(), ca.tolist())) for le, ca in zip(members.letters, members.cases)}
        queried = set(members.letters[np.arange(len(members)), members.query].tolist())
        assert len(tokens) == 1 and len(queried) == 1  # one unordered context, one queried letter
        target = members.cases[np.arange(len(members)), members.query]
        assert len(set(target.tolist())) == 1  # and hence one target


def test_classes_split_holds_out_whole_classes():
    L, C = 4, 3
    held = T.heldout_split(L, C, trial_generator(0, 2, "h"), "classes", fraction=0.25)
    assert len(held.test) == round(0.25 * 96) * 6  # 24 of 96 classes, 6 orderings each
    assert T.novel_fraction(held, L, C) == 1.0  # no held-out sequence is a reordering of a training one
    assert T.heldout_split(L, C, trial_generator(0, 2, "h"), "classes").test_ids.tolist() == held.test_ids.tolist()
    with pytest.raises(ConfigError, match="heldout_fraction"):
        T.heldout_split(2, 1, trial_generator(0, 0), "classes", fraction=0.9)  # 4 classes: all would be held out


def test_pairs_split_holds_out_the_uppercase_queries_of_the_first_letters():
    L, C = 4, 3
    for n_letters in (1, 2):
        held = T.heldout_split(L, C, None, "pairs", heldout_letters=n_letters)
        rows = np.arange(len(held.test))
        queried, case = held.test.letters[rows, held.test.query], held.test.cases[rows, held.test.query]
        assert np.all(queried < n_letters) and np.all(case == 1)  # every held-out target is "uppercase"
        every = T.enumerate_sequences(L, C)
        r = np.arange(len(every))
        expected = ((every.letters[r, every.query] < n_letters) & (every.cases[r, every.query] == 1)).sum()
        assert len(held.test) == expected == 72 * n_letters  # 18 ordered contexts x 4 case patterns per letter
        assert T.novel_fraction(held, L, C) == 1.0
    with pytest.raises(ConfigError, match="heldout_letters"):
        T.heldout_split(L, C, None, "pairs", heldout_letters=5)


def test_random_split_is_almost_all_reorderings_of_training_sequences():
    # the expected novel fraction at L = 4, C = 3, a quarter held out: prod_{i=1}^{5} (144 - i) / (576 - i)
    exact = T.expected_novel_fraction_random(4, 3, 0.25)
    assert exact == pytest.approx(np.prod([(144 - i) / (576 - i) for i in range(1, 6)]))
    assert 0.0008 < exact < 0.001  # about 0.09%
    sims = [T.novel_fraction(T.heldout_split(4, 3, trial_generator(0, s, "novel"), "random"), 4, 3)
            for s in range(400)]
    se = np.std(sims) / np.sqrt(len(sims))
    assert abs(np.mean(sims) - exact) < 4 * se + 1e-12
    assert T.expected_novel_fraction_random(4, 4) < 1e-12  # classes of 24 orderings: never all held out


def test_memorising_control_scores_chance_only_where_the_split_can_fail():
    L, C = 4, 3
    for split, lo, hi in (("classes", 0.35, 0.65), ("pairs", 0.3, 0.7), ("random", 0.99, 1.0)):
        acc = [T.memorising_control(T.heldout_split(L, C, trial_generator(0, s, "m"), split), L, C,
                                    trial_generator(0, s, "coin")) for s in range(5)]
        assert lo <= np.mean(acc) <= hi, (split, acc)


def test_sequence_strings():
    seqs = T.Sequences(np.array([[3, 0, 2, 1]]), np.array([[0, 1, 0, 1]]), np.array([1]))
    assert T.sequence_strings(seqs, 4) == ["dAcB?a"]
    big = T.Sequences(np.array([[26, 0]]), np.array([[1, 0]]), np.array([0]))
    assert T.sequence_strings(big, 27) == ["<L26>a?<l26>"]


def test_validation_names_the_parameter():
    with pytest.raises(ConfigError, match="context"):
        T.draw_sequences(3, 4, 1, trial_generator(0, 0))
    with pytest.raises(ConfigError, match="letters"):
        T.draw_sequences(0, 0, 1, trial_generator(0, 0))
    with pytest.raises(ConfigError, match="heldout_fraction"):
        T.heldout_split(4, 4, trial_generator(0, 0), "classes", fraction=1.5)
    with pytest.raises(ConfigError, match="heldout_split='halves' is not allowed"):
        T.heldout_split(4, 4, trial_generator(0, 0), "halves")


def test_hand_built_weights_solve_every_sequence_within_the_attention_bound():
    from slotless.attention import diagnostics

    for L, C, s in ((4, 4, 3.0), (3, 2, 2.0), (5, 3, 1.0)):
        weights = T.hand_built_weights(L, 16, scale=s, seed=0)
        assert weights.W_Q.shape == weights.W_K.shape == (16, 3 * L) and weights.W_V.shape == (2, 3 * L)
        every = T.enumerate_sequences(L, C)
        acc, a_min = diagnostics.score_sequences(weights, every, L, gamma=1.0)
        bound = T.matching_attention_bound(C, s)
        assert acc == 1.0 and a_min >= bound - 1e-12, (L, C, s)
        assert a_min == pytest.approx(bound, abs=1e-9), "the bound is attained: every other logit is exactly 0"
    same = T.hand_built_weights(4, 8, 3.0, seed=1), T.hand_built_weights(4, 8, 3.0, seed=1)
    assert torch.equal(same[0].W_K, same[1].W_K), "a seed gives the same codes"
    assert T.matching_attention_bound(1, 0.1) == 1.0


def test_hand_built_weights_validation():
    with pytest.raises(ConfigError, match="key_dim"):
        T.hand_built_weights(4, 3, 1.0)  # orthonormal codes for 4 letters need key_dim >= 4
    with pytest.raises(ConfigError, match="scale"):
        T.hand_built_weights(4, 8, 0.0)
    with pytest.raises(ConfigError, match="context"):
        T.matching_attention_bound(0, 1.0)


@pytest.mark.parametrize(("letters", "context", "fraction"), [(4, 4, 0.25), (4, 3, 0.5), (3, 2, 0.9), (2, 1, 0.5)])
def test_task_stream_draws_what_draw_sequences_and_redraw_excluded_draw(letters, context, fraction):
    # The compiled held-out stream must give the numpy path's sequences, call after call, from the same
    # generator numbers; a small block forces many read-aheads, including in the middle of a redraw.
    ids = T.sequence_ids(T.enumerate_sequences(letters, context), letters)
    pick = np.random.default_rng(letters * 10 + context)
    exclude = np.sort(pick.choice(ids, max(1, int(fraction * len(ids))), replace=False))
    numpy_rng, stream_rng = trial_generator(7, 0, "task-stream"), trial_generator(7, 0, "task-stream")
    stream = T.TaskStream(letters, context, stream_rng, exclude, block=37)
    for n in (64, 1, 0, 200, 64, 5):
        want = T.redraw_excluded(T.draw_sequences(letters, context, n, numpy_rng), letters, context, numpy_rng, exclude)
        got = stream.draw(n)
        for field in ("letters", "cases", "query"):
            np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=field)
        assert not np.isin(T.sequence_ids(got, letters), exclude).any()


@pytest.mark.parametrize(("letters", "context", "fraction"), [(4, 4, 0.25), (4, 3, 0.5), (3, 2, 0.9), (2, 1, 0.5)])
def test_task_stream_tokens_are_its_draws_batch_by_batch(letters, context, fraction):
    # The compiled training path takes a chunk of held-out batches per seed in one call; they must be the
    # sequences of one draw(B) per batch, also when a read-ahead falls inside a batch or its redraws, and
    # the stream must go on from where those draws would have left it.
    from slotless.attention.training import _token_indices

    ids = T.sequence_ids(T.enumerate_sequences(letters, context), letters)
    pick = np.random.default_rng(letters * 10 + context)
    exclude = np.sort(pick.choice(ids, max(1, int(fraction * len(ids))), replace=False))
    streams, twins = ([T.TaskStream(letters, context, trial_generator(7, s, "task-stream"), exclude, block=37)
                       for s in range(2)] for _ in range(2))
    n, B = 6, 9
    tok, qtok, target = np.empty((n, 2, B, context), np.int64), np.empty((n, 2, B), np.int64), np.empty((n, 2, B), np.int64)
    for s, stream in enumerate(streams):
        stream.draw_tokens(s, tok, qtok, target)
    for s, twin in enumerate(twins):
        for j in range(n):
            want = _token_indices(T.stack_sequences([twin.draw(B)]), letters)
            for got, expected in zip((tok[j, s], qtok[j, s], target[j, s]), want):
                np.testing.assert_array_equal(got, expected[0])
    for stream, twin in zip(streams, twins):
        got, want = stream.draw(5), twin.draw(5)
        for field in ("letters", "cases", "query"):
            np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=field)


def test_task_stream_refuses_an_exclusion_of_every_sequence():
    every = T.sequence_ids(T.enumerate_sequences(2, 2), 2)
    with pytest.raises(ConfigError, match="smaller held-out fraction"):
        T.TaskStream(2, 2, trial_generator(1, 0, "x"), np.sort(every)).draw(4)
