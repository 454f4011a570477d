"""What training produced: learning-curve summaries and the weight-structure diagnostics.

Book: {ref}`ch-training` reports them; {ref}`ch-methods` defines them (``eq-methods-batches-to-99``,
``eq-methods-weight-diagnostics``); {ref}`ch-attention-results` uses :func:`key_query_distance` for
{prf:ref}`thm-qk-alignment`. Pure functions on numpy arrays.
"""

from __future__ import annotations

import numpy as np

from ..checks import check_int

__all__ = [
    "batches_to_threshold",
    "binned",
    "wv_ones_minus_zeros",
    "qk_block",
    "block_stats",
    "key_covariance",
    "key_query_distance",
    "weight_diagnostics",
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


def weight_diagnostics(weights: dict, letters: int) -> dict:
    """The weight-structure summaries (``eq-methods-weight-diagnostics``) per seed, each of shape ``(S,)`` (or ``(...)`` for other leading dims):
    ``wv_ones_minus_zeros``; ``qk_lower_*`` / ``qk_upper_*`` block stats of the query-key block;
    ``qk_summary`` (mean of the two blocks' diag - off); ``keycov_upper_lower_*`` stats of the
    uppercase-rows/lowercase-columns block of the key covariance (``keycov_summary`` = its diag - off)."""
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
    return out
