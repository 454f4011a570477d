"""What the Part II models do and what training produced: learning-curve summaries, the weight-structure
diagnostics, collisions, cosines, and the checks of {ref}`ch-case-sequence` and {ref}`ch-mhn-transformer`.

Book: {ref}`ch-training` reports them; {ref}`ch-methods` defines them (``eq-methods-batches-to-99``,
``eq-methods-weight-diagnostics``); {ref}`ch-attention-results` uses :func:`key_query_distance` for
{prf:ref}`thm-qk-alignment`. The summaries of training are pure functions on numpy arrays (the arrays of
:func:`slotless.attention.training.result_arrays`); the checks of the model chapters run the models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from ..checks import ConfigError, check_float, check_int
from ..rng import trial_generator
from . import mhn
from .task import Sequences, draw_sequences, encode
from .tensors import torch_generators
from .transformer import SlowWeights, transformer_forward, transformer_grads, transformer_loss

__all__ = [
    "batches_to_threshold",
    "binned",
    "wv_ones_minus_zeros",
    "qk_block",
    "block_stats",
    "key_covariance",
    "key_query_distance",
    "key_case_cosines",
    "case_invariance",
    "LetterStructure",
    "letter_structure",
    "weight_diagnostics",
    "perfect_seed_diagnostics",
    "FailingSeeds",
    "failing_seeds",
    "touched_and_fell_back",
    "CosineMeans",
    "mean_cosines",
    "seed_mean_lower_bound",
    "CleanBatchCosines",
    "clean_batch_cosines",
    "gradient_error_vs_autograd",
    "credit_weights",
    "collision_rate_at_init",
    "SolutionScore",
    "score_sequences",
]


def batches_to_threshold(accuracy: np.ndarray, threshold: float = 0.99, window: int = 100) -> list:
    """First 1-based batch ``b >= window`` with ``mean(accuracy[b-window:b]) >= threshold``, per row; else None.
    Book: ``eq-methods-batches-to-99`` ({ref}`ch-training`).
    """
    acc = np.atleast_2d(np.asarray(accuracy, dtype=np.float64))
    out = []
    for row in acc:
        if len(row) < window:
            out.append(None)
            continue
        c = np.concatenate([[0.0], np.cumsum(row)])
        trailing = (c[window:] - c[:-window]) / window  # entry i -> batches i+1 .. i+window
        hit = np.nonzero(trailing >= threshold - 1e-12)[0]
        out.append(int(hit[0] + window) if len(hit) else None)
    return out


def binned(curve: np.ndarray, bin_size: int) -> np.ndarray:
    """Means over consecutive bins of ``bin_size`` batches along the last axis (a last partial bin included).

    NaN entries (batches without a measurement) are left out of a bin's mean.
    Book: ``fig-training-curves`` ({ref}`ch-training`).
    """
    curve = np.asarray(curve, dtype=np.float64)
    n = curve.shape[-1]
    edges = list(range(0, n, bin_size)) + [n]
    bins = [curve[..., a:b] for a, b in zip(edges[:-1], edges[1:])]
    return np.stack([np.nanmean(c, -1) if np.isnan(c).any() else c.mean(-1) for c in bins], axis=-1)


def wv_ones_minus_zeros(W_V: np.ndarray, letters: int) -> np.ndarray:
    """``mean(W_V[0, l] + W_V[1, L+l]) / 2 - mean(W_V[0, L+l] + W_V[1, l]) / 2`` over letters, shape ``(...)``.

    1 for a W_V that maps each case exactly onto its one-hot target.
    Book: ``eq-methods-weight-diagnostics`` ({ref}`ch-training`).
    """
    L = check_int("letters", letters, 1)
    W = np.asarray(W_V)
    right = W[..., 0, :L].sum(-1) + W[..., 1, L:2 * L].sum(-1)
    wrong = W[..., 0, L:2 * L].sum(-1) + W[..., 1, :L].sum(-1)
    return (right - wrong) / (2 * L)


def qk_block(W_Q: np.ndarray, W_K: np.ndarray, letters: int) -> np.ndarray:
    """Rows [2L, 3L) (query tokens) and columns [0, 2L) (letters) of ``W_Q^T W_K``, shape ``(..., L, 2L)``.
    Book: ``eq-methods-weight-diagnostics`` ({ref}`ch-training`).
    """
    L = check_int("letters", letters, 1)
    Q, K = np.asarray(W_Q), np.asarray(W_K)
    return np.einsum("...kq,...kd->...qd", Q[..., :, 2 * L:3 * L], K[..., :, :2 * L])


def block_stats(block: np.ndarray) -> dict:
    """Diagonal/off-diagonal mean and range (max - min) of square blocks ``(..., n, n)``, and
    ``summary`` = diagonal mean - off-diagonal mean; every entry has shape ``(...)``.
    Book: ``eq-methods-weight-diagnostics`` ({ref}`ch-training`).
    """
    B = np.asarray(block)
    n = B.shape[-1]
    eye = np.eye(n, dtype=bool)
    diag = B[..., eye]
    off = B[..., ~eye]
    return {
        "diag_mean": diag.mean(-1), "diag_range": diag.max(-1) - diag.min(-1),
        "off_mean": off.mean(-1) if n > 1 else np.zeros(B.shape[:-2]),
        "off_range": (off.max(-1) - off.min(-1)) if n > 1 else np.zeros(B.shape[:-2]),
        "summary": diag.mean(-1) - (off.mean(-1) if n > 1 else 0.0),
    }


def key_covariance(W_K: np.ndarray, letters: int) -> np.ndarray:
    """Gram matrix of the letter keys ``W_K[:, :2L]^T W_K[:, :2L]``, shape ``(..., 2L, 2L)``.
    Book: ``eq-methods-weight-diagnostics`` ({ref}`ch-training`).
    """
    L = check_int("letters", letters, 1)
    K = np.asarray(W_K)[..., :, :2 * L]
    return np.einsum("...ki,...kj->...ij", K, K)


def key_query_distance(W_Q: np.ndarray, W_K: np.ndarray, letters: int) -> np.ndarray:
    """``||W_K x_l^{case} - q_l|| / ||q_l||`` for both cases, shape ``(..., 2, L)`` (Theorem 7 diagnostic).
    Book: ``eq-methods-weight-diagnostics``, {prf:ref}`thm-qk-alignment`.
    """
    L = check_int("letters", letters, 1)
    Q, K = np.asarray(W_Q), np.asarray(W_K)
    q = Q[..., :, 2 * L:3 * L]
    keys = np.stack([K[..., :, :L], K[..., :, L:2 * L]], axis=-3)  # (..., 2, d_k, L)
    return np.linalg.norm(keys - q[..., None, :, :], axis=-2) / np.linalg.norm(q, axis=-2)[..., None, :]


def key_case_cosines(W_K: np.ndarray, letters: int) -> np.ndarray:
    """Cosine between the uppercase key ``W_K x_{L+m}`` and the lowercase key ``W_K x_l`` of every pair of letters,
    shape ``(..., L, L)`` (rows: uppercase letter m, columns: lowercase letter l); its diagonal compares the two
    cases of one letter. Book: ``eq-methods-weight-diagnostics`` ({ref}`ch-training`, case-invariant keys)."""
    L = check_int("letters", letters, 1)
    K = np.asarray(W_K, dtype=np.float64)
    lower, upper = K[..., :, :L], K[..., :, L:2 * L]
    norms = np.linalg.norm(upper, axis=-2)[..., :, None] * np.linalg.norm(lower, axis=-2)[..., None, :]
    return np.einsum("...km,...kl->...ml", upper, lower) / np.maximum(norms, 1e-300)


def case_invariance(W_K: np.ndarray, letters: int) -> np.ndarray:
    """How case-invariant the keys are, per seed ``(...)``: the mean cosine between the two cases of the same letter
    minus the mean cosine between an uppercase and a lowercase key of different letters (:func:`key_case_cosines`).
    1 when each letter's two keys point the same way and keys of different letters are orthogonal (more when keys of
    different letters point apart); about 0 for random keys. Book: ``eq-methods-weight-diagnostics`` ({ref}`ch-training`)."""
    cos = key_case_cosines(W_K, letters)
    L = cos.shape[-1]
    eye = np.eye(L, dtype=bool)
    same = cos[..., eye].mean(-1)
    return same - (cos[..., ~eye].mean(-1) if L > 1 else 0.0)


@dataclass(frozen=True)
class LetterStructure:
    """What the learned weights of a "pairs" run hold for the letters whose uppercase query was never trained
    (``held``) and for the others (``trained``), each ``(S,)`` (means over those letters) ({ref}`sec-training-generalisation`):

    - ``case_cosine_*``: cosine between the letter's uppercase and lowercase keys (:func:`key_case_cosines`);
    - ``query_key_cosine_*``: cosine between the letter's query ``W_Q x_{query l}`` and its uppercase key;
    - ``value_case_*``: ``W_V[1, L+l] - W_V[0, L+l]``, how strongly the uppercase token's value says "uppercase"
      (1 for the exact map, negative if it says "lowercase").
    """

    case_cosine_held: np.ndarray
    case_cosine_trained: np.ndarray
    query_key_cosine_held: np.ndarray
    query_key_cosine_trained: np.ndarray
    value_case_held: np.ndarray
    value_case_trained: np.ndarray


def letter_structure(weights: dict, letters: int, heldout_letters: int = 1) -> LetterStructure:
    """The :class:`LetterStructure` of stacked weights (``W_Q, W_K: (S, d_k, 3L)``, ``W_V: (S, 2, 3L)``), the first
    ``heldout_letters`` letters being the held-out ones ({ref}`sec-training-generalisation`)."""
    L = check_int("letters", letters, 2)
    n = check_int("heldout_letters", heldout_letters, 1, L - 1)
    Q, K, V = (np.asarray(weights[k], dtype=np.float64) for k in ("W_Q", "W_K", "W_V"))
    case = np.diagonal(key_case_cosines(K, L), axis1=-2, axis2=-1)  # (S, L)
    q, upper = Q[..., :, 2 * L:3 * L], K[..., :, L:2 * L]
    qk = (q * upper).sum(-2) / np.maximum(np.linalg.norm(q, axis=-2) * np.linalg.norm(upper, axis=-2), 1e-300)
    value = V[..., 1, L:2 * L] - V[..., 0, L:2 * L]
    return LetterStructure(case[..., :n].mean(-1), case[..., n:].mean(-1), qk[..., :n].mean(-1),
                           qk[..., n:].mean(-1), value[..., :n].mean(-1), value[..., n:].mean(-1))


def weight_diagnostics(weights: dict, letters: int) -> dict:
    """The weight-structure summaries (``eq-methods-weight-diagnostics``) per seed, each of shape ``(S,)`` (or ``(...)`` for other leading dims):
    ``wv_ones_minus_zeros``; ``qk_lower_*`` / ``qk_upper_*`` block stats of the query-key block;
    ``qk_summary`` (mean of the two blocks' diag - off); ``keycov_upper_lower_*`` stats of the
    uppercase-rows/lowercase-columns block of the key covariance (``keycov_summary`` = its diag - off);
    ``case_invariance`` (:func:`case_invariance`)."""
    L = letters
    out = {"wv_ones_minus_zeros": wv_ones_minus_zeros(weights["W_V"], L)}
    blk = qk_block(weights["W_Q"], weights["W_K"], L)
    for name, part in (("lower", blk[..., :, :L]), ("upper", blk[..., :, L:2 * L])):
        for k, v in block_stats(part).items():
            out[f"qk_{name}_{k}"] = v
    out["qk_summary"] = 0.5 * (out["qk_lower_summary"] + out["qk_upper_summary"])
    cov = key_covariance(weights["W_K"], L)
    for k, v in block_stats(cov[..., L:2 * L, :L]).items():
        out[f"keycov_upper_lower_{k}"] = v
    out["keycov_summary"] = out["keycov_upper_lower_summary"]
    out["case_invariance"] = case_invariance(weights["W_K"], L)
    return out


def perfect_seed_diagnostics(arrays: dict, letters: int, threshold: float = 0.99) -> dict:
    """:func:`weight_diagnostics` of the seeds whose final accuracy reaches ``threshold``: every entry ``(S_ok,)``
    (``eq-methods-weight-diagnostics``; {ref}`ch-training`). ``arrays`` holds ``W_Q, W_K, W_V`` and
    ``final_accuracy``."""
    ok = np.asarray(arrays["final_accuracy"]) >= threshold
    return {k: v[ok] for k, v in weight_diagnostics(arrays, letters).items()}


@dataclass(frozen=True)
class FailingSeeds:
    """The seeds of one run that clearly fail (final accuracy below a level; {ref}`ch-training`).

    ``failing: (S,)`` bool; ``collision_rates``: the collision rates of the failing seeds; ``success_max``: the
    largest collision rate of the other seeds (0 if there are none).
    """

    failing: np.ndarray
    collision_rates: np.ndarray
    success_max: float

    @property
    def count(self) -> int:
        return int(self.failing.sum())

    @property
    def all_collided(self) -> bool:
        """Every failing seed had key collisions (true when no seed fails)."""
        return bool(np.all(self.collision_rates > 0))


def failing_seeds(arrays: dict, below: float = 0.95) -> FailingSeeds:
    """The seeds of a run whose final accuracy is below ``below``, and the collision rates of failing and other
    seeds (``arrays`` with ``final_accuracy`` and ``collision_rate``, both ``(S,)``; {ref}`ch-training`)."""
    below = check_float("below", below, 0.0, 1.0)
    failing = np.asarray(arrays["final_accuracy"]) < below
    rates = np.asarray(arrays["collision_rate"])
    return FailingSeeds(failing, rates[failing], float(rates[~failing].max(initial=0.0)))


def touched_and_fell_back(arrays: dict, threshold: float = 0.99) -> np.ndarray:
    """``(S,)`` bool: seeds that reached 99% at some point (``eq-methods-batches-to-99``, finite) but ended with a
    final accuracy below ``threshold`` ({ref}`ch-training`, ``fig-training-lr-grid``)."""
    b99 = np.asarray(arrays["batches_to_99"], dtype=np.float64)
    return np.isfinite(b99) & (np.asarray(arrays["final_accuracy"]) < threshold)


class CosineMeans(NamedTuple):
    """Mean cosine of one rule's W_K direction over all tracked batches and seeds, with the slot-based
    transformer's W_K gradient (``transformer``) and with the exact gradient of the MHN's own QV loss
    (``own``) ({ref}`ch-training`, ``fig-training-cosines``)."""

    transformer: float
    own: float


def mean_cosines(arrays: dict, rules) -> dict:
    """Rule -> :class:`CosineMeans` of a run with tracked cosines (``cos_<rule>`` and ``cosmhn_<rule>``, ``(S,
    batches)``, NaN on untracked batches) ({ref}`ch-training`)."""
    missing = [r for r in rules if f"cos_{r}" not in arrays]
    if missing:
        raise ConfigError(f"rules={missing} were not tracked in this run: train it with track_cosines=True")
    return {r: CosineMeans(float(np.nanmean(arrays[f"cos_{r}"])), float(np.nanmean(arrays[f"cosmhn_{r}"])))
            for r in rules}


def seed_mean_lower_bound(cosines: np.ndarray, n_se: float = 3.0) -> float:
    """The mean over seeds of each seed's mean cosine (``cosines: (S, batches)``, NaN = untracked), minus
    ``n_se`` standard errors across seeds ({ref}`ch-training`: a rule is a descent direction on average when
    this is positive)."""
    per_seed = np.nanmean(np.asarray(cosines, dtype=np.float64), 1)
    if len(per_seed) < 2:
        raise ConfigError(f"cosines has {len(per_seed)} seed: a standard error across seeds needs at least 2")
    return float(per_seed.mean() - n_se * per_seed.std(ddof=1) / math.sqrt(len(per_seed)))


@dataclass(frozen=True)
class CleanBatchCosines:
    """Cosines of one rule on the tracked batches in which no sequence collided ({ref}`ch-training`):
    ``fraction`` of the tracked batches (over all seeds) that were clean, and ``cosines`` on them (1-d)."""

    fraction: float
    cosines: np.ndarray


def clean_batch_cosines(arrays: dict, rule: str = "exact_onehot") -> CleanBatchCosines:
    """The cosine of ``rule`` with the transformer's W_K gradient on the tracked batches without collisions
    (``collisions`` and ``cos_<rule>``, ``(S, batches)``); where {prf:ref}`thm-mhn-transformer-equivalence`'s
    conditions hold batch-wide ({ref}`ch-training`)."""
    cos = np.asarray(arrays[f"cos_{rule}"])
    tracked = np.isfinite(cos)
    clean = (np.asarray(arrays["collisions"]) == 0) & tracked
    if not tracked.any():
        raise ConfigError(f"rule={rule!r}: no tracked batch in this run: train it with track_cosines=True")
    return CleanBatchCosines(float(clean.sum() / tracked.sum()), cos[clean])


def gradient_error_vs_autograd(params: SlowWeights, X, xq, y, gamma: float) -> float:
    """The largest ``|manual - autograd|`` entry over the W_Q, W_K and W_V gradients of the summed loss
    (``eq-case-sequence-grads``, {prf:ref}`lem-transformer-gradients`): ``transformer_grads`` against torch's
    autograd on the same weights and batch (one seed: ``X (B, C, 3L)``)."""
    mine, _ = transformer_grads(params, X, xq, y, gamma)
    leaves = [w.clone().requires_grad_(True) for w in params]
    transformer_loss(SlowWeights(*leaves), X, xq, y, gamma).backward()
    return max((m - leaf.grad).abs().max().item() for m, leaf in zip(mine, leaves))


def credit_weights(params: SlowWeights, X, xq, y, gamma: float):
    """What each stored item contributes to the gradients of one sequence (``eq-case-sequence-grads``,
    ``fig-case-sequence-credit``): the attention weights ``a (C,)`` (all W_V needs) and the signed weights
    ``g_j = a_j (v_j - y_hat)^T e`` (without the factor gamma) with which item j enters the W_K gradient.
    ``X (1, C, 3L)``, ``xq (1, 3L)``, ``y (1, 2)``; returns numpy ``(a, g)``."""
    out = transformer_forward(params, X, xq, gamma)
    e = out.y_hat - y
    g = (out.a * ((out.V - out.y_hat.unsqueeze(-2)) * e.unsqueeze(-2)).sum(-1))[0]
    return out.a[0].numpy(), g.numpy()


def collision_rate_at_init(config: mhn.MHNConfig, seeds: int, sequences: int, seed: int, stream: str) -> float:
    """The fraction of random sequences in which a stored item is overwritten, with the initial weights of
    ``seeds`` seeds and ``sequences // seeds`` sequences each ({ref}`ch-mhn-transformer`, ``eq-methods-mhn-store``).

    Seed ``s`` draws its slow weights and sequences from stream ``stream`` and its fast weights from
    ``stream + "-fast"`` (:mod:`slotless.rng`); float32.
    """
    S = check_int("seeds", seeds, 1)
    B = check_int("sequences", sequences, S) // S
    L, C = config.letters, config.context
    w = mhn.init_mhn(config, torch_generators(seed, S, stream), torch.float32)
    X = torch.stack([encode(draw_sequences(L, C, B, trial_generator(seed, s, stream)), L)[0] for s in range(S)])
    init = mhn.draw_fast_init(config, B, torch_generators(seed, S, stream + "-fast"))
    fast = mhn.mhn_store(config, w.W_K, w.W_V, X, *init, W_items=mhn.item_projections(config))
    return fast.collided.double().mean().item()


class SolutionScore(NamedTuple):
    """How well slow weights solve a set of sequences: the ``accuracy`` and the least attention any sequence
    puts on its queried item (``min_match_attention``) ({ref}`ch-case-sequence`)."""

    accuracy: float
    min_match_attention: float


def score_sequences(params: SlowWeights, seqs: Sequences, letters: int, gamma: float = 1.0) -> SolutionScore:
    """The minimal transformer's accuracy on ``seqs`` and its least attention on the queried item
    (``eq-case-sequence-forward``; float64; {ref}`ch-case-sequence`)."""
    X, xq, y = encode(seqs, letters, torch.float64)
    out = transformer_forward(params, X, xq, gamma)
    accuracy = (out.y_hat.argmax(-1) == y.argmax(-1)).double().mean().item()
    on_match = out.a[torch.arange(len(seqs)), torch.as_tensor(seqs.query)]
    return SolutionScore(accuracy, on_match.min().item())
