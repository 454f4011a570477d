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


def test_heldout_split_is_never_drawn_in_training():
    rng = trial_generator(0, 0, "h")
    split = T.heldout_split(4, 4, 0.25, rng)
    assert len(split.test) == 384
    batch = T.sample_batch(4, 4, 4000, trial_generator(0, 1, "h"), exclude=split.test_ids)
    ids = T.sequence_ids(batch.seqs, 4)
    assert not np.isin(ids, split.test_ids).any()
    # without the exclusion about a quarter of draws would hit the test set
    free = T.sequence_ids(T.draw_sequences(4, 4, 4000, trial_generator(0, 1, "h")), 4)
    hit = np.isin(free, split.test_ids).mean()
    assert abs(hit - 0.25) < 5 * math.sqrt(0.25 * 0.75 / 4000)


def test_validation_names_the_parameter():
    with pytest.raises(ConfigError, match="context"):
        T.draw_sequences(3, 4, 1, trial_generator(0, 0))
    with pytest.raises(ConfigError, match="letters"):
        T.draw_sequences(0, 0, 1, trial_generator(0, 0))
    with pytest.raises(ConfigError, match="heldout_fraction"):
        T.heldout_split(4, 4, 1.5, trial_generator(0, 0))


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
