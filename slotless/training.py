"""Seed-stacked training sweeps on the Case Sequence Task (spec §5.5-5.7, issue 10).

All seeds of a sweep train as one stack of models (leading tensor dimension S); there is no
Python loop over seeds in the training step. Seed ``s`` of master ``seed`` draws its data, its
initial weights and its fast-weight initialisations from its own generators (streams
``"case/task"``, ``"case/weights"``, ``"case/fast"``, ``"case/eval"``), so it gives the same
result alone or stacked with others (up to float rounding of batched kernels).

Definitions (spec §5.6): the accuracy of a batch is measured before that batch's update; the
final accuracy is the mean over the last ``final_window`` (500) batches; "batches to 99%" is the
first 1-based batch ``b >= 100`` whose trailing 100-batch mean accuracy is >= 0.99.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from . import models as M
from .checks import ConfigError, check_choice, check_float, check_int
from .rng import trial_generator
from .task import Sequences, check_task, draw_sequences, encode, heldout_split, redraw_excluded

__all__ = [
    "MODELS",
    "MODEL_RULES",
    "PRESETS",
    "SweepConfig",
    "SweepResult",
    "resolve_config",
    "run_sweep",
    "batches_to_threshold",
    "binned",
    "wv_ones_minus_zeros",
    "qk_block",
    "block_stats",
    "key_covariance",
    "key_query_distance",
    "weight_diagnostics",
    "evaluate",
    "result_arrays",
    "first_seeds",
    "cached_sweep",
    "cached_sweeps",
]

MODELS = ("transformer", "mhn-fixed-wk", "mhn-wk", "qk-mhn", "hebbian", "mhn-exact-wk")
MODEL_RULES = {
    "mhn-fixed-wk": "fixed",
    "mhn-wk": "via_mhn",
    "qk-mhn": "qk_align",
    "hebbian": "hebbian",
    "mhn-exact-wk": "exact_onehot",
}
PRESETS = ("default", "paper")
COSINE_RULES = ("via_mhn", "qk_align", "hebbian", "exact_onehot", "exact_reinstatement")
# K_lr when not given: the rule's own rate (spec §5.5, §5.6); None means "= lr".
DEFAULT_KEY_LR = {"fixed": None, "via_mhn": None, "qk_align": 1e-4, "hebbian": 1e-4,
                  "exact_onehot": None, "exact_reinstatement": None}


@dataclass(frozen=True)
class SweepConfig:
    """Everything a sweep needs. Build it with :func:`resolve_config`.

    ``wk_rule`` overrides the model's W_K rule (MHN models only; e.g. ``"exact_reinstatement"``).
    ``heldout_fraction > 0`` excludes that fraction of all sequences from training (per seed) and
    reports accuracy on them; ``eval_context`` (> context) reports accuracy at a longer context.
    ``track_cosines`` records the cosine diagnostics on batches 0, ``cosine_every``, 2 ``cosine_every``, ...
    (they never change training, and cost about half a training step each).
    """

    model: str
    preset: str = "default"
    letters: int = 4
    context: int = 4
    key_dim: int = 32
    hidden: int = 8
    input_projections: bool = True
    mask_unrecruited: bool = False
    lr: float = 5e-3
    key_lr: float = 5e-3
    wk_rule: str = "fixed"
    wv_mode: str = "via_reinstatement"
    transformer_preset: str = "default"
    mimic_reference_grad: bool = False
    final_window: int = 500
    heldout_fraction: float = 0.0
    eval_context: int | None = None
    eval_size: int = 1024
    track_cosines: bool = False
    cosine_every: int = 1
    dtype: str = "float32"

    @property
    def is_transformer(self) -> bool:
        return self.model == "transformer"

    def transformer_config(self) -> M.TransformerConfig:
        return M.TransformerConfig(self.letters, self.context, self.key_dim, preset=self.transformer_preset,
                                   mimic_reference_grad=self.mimic_reference_grad)

    def mhn_config(self, context: int | None = None) -> M.MHNConfig:
        return M.MHNConfig(self.letters, context or self.context, self.key_dim, self.hidden,
                           self.input_projections, mask_unrecruited=self.mask_unrecruited,
                           wk_rule=self.wk_rule, wv_mode=self.wv_mode)

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_config(model: str, preset: str = "default", **overrides) -> SweepConfig:
    """The settings of ``model`` under ``preset``, with explicit ``overrides`` applied last.

    ``preset="default"`` (the book's): transformer with gamma = 1, init SD 1/sqrt(d_k), exact gradients,
    lr 1e-3; MHN models lr 5e-3; K_lr = lr for via_mhn / exact rules, 1e-4 for qk_align and hebbian.

    ``preset="paper"`` (spec §5.6, "Reproducing the authors' saved sweep"): transformer in paper_time
    with ``mimic_reference_grad`` at lr 1e-3; Fixed-W_K and QK-MHN at lr 5e-3 (QK K_lr 1e-4); MHN-W_K
    with K_lr = lr = 1e-3. (Hebbian and exact-W_K are not in the paper; they keep the defaults.)
    Both presets: d_k = 32, n_h = 8, projections on, L = C = 4.

    ``lr``/``key_lr`` given as None are ignored (so CLI defaults can pass through).
    """
    check_choice("model", model, MODELS)
    check_choice("preset", preset, PRESETS)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    known = {f for f in SweepConfig.__dataclass_fields__}
    for key in overrides:
        if key not in known or key in ("model", "preset"):
            raise ConfigError(f"{key}={overrides[key]!r} is not a sweep setting")
    base: dict = {"model": model, "preset": preset}
    if model == "transformer":
        base.update(lr=1e-3, key_lr=1e-3, wk_rule="fixed")
        if preset == "paper":
            base.update(transformer_preset="paper_time", mimic_reference_grad=True)
    else:
        rule = overrides.get("wk_rule", MODEL_RULES[model])
        check_choice("wk_rule", rule, M.WK_RULES)
        lr = 5e-3
        if preset == "paper" and model == "mhn-wk":
            lr = 1e-3
        base.update(lr=lr, wk_rule=rule)
    base.update({k: v for k, v in overrides.items() if k != "key_lr"})
    if "key_lr" in overrides:
        base["key_lr"] = overrides["key_lr"]
    elif model == "transformer":
        base["key_lr"] = base["lr"]
    else:
        default = DEFAULT_KEY_LR[base["wk_rule"]]
        base["key_lr"] = base["lr"] if default is None else default
    cfg = SweepConfig(**base)
    _validate(cfg)
    return cfg


def _validate(cfg: SweepConfig) -> None:
    check_choice("model", cfg.model, MODELS)
    check_choice("preset", cfg.preset, PRESETS)
    check_task(cfg.letters, cfg.context)
    check_float("lr", cfg.lr, 0.0)
    check_float("key_lr", cfg.key_lr, 0.0)
    check_int("final_window", cfg.final_window, 1)
    check_float("heldout_fraction", cfg.heldout_fraction, 0.0, 0.9)
    check_int("eval_size", cfg.eval_size, 1)
    check_int("cosine_every", cfg.cosine_every, 1)
    check_choice("dtype", cfg.dtype, ("float32", "float64"))
    if cfg.eval_context is not None:
        check_int("eval_context", cfg.eval_context, cfg.context + 1, cfg.letters)
    if cfg.is_transformer:
        cfg.transformer_config()
    else:
        cfg.mhn_config()
        if cfg.eval_context is not None:
            check_int("eval_context", cfg.eval_context, 1, cfg.hidden)


@dataclass
class SweepResult:
    """Per-seed results of :func:`run_sweep`.

    ``accuracy, loss, collisions: (S, batches)`` per batch (collisions: fraction of the batch's
    sequences with an overwritten item; 0 for the transformer); ``final_accuracy, final_loss,
    collision_rate: (S,)``; ``batches_to_99``: list of int or None; ``heldout_accuracy`` and
    ``context_accuracy``: ``(S,)`` or None; ``weights``: final slow weights as numpy
    ``{"W_Q": (S, d_k, 3L), "W_K": ..., "W_V": (S, 2, 3L)}``; ``cosines``: rule -> ``(S, batches)``
    cosine of that rule's W_K gradient with the true (slot-based transformer, gamma = beta) W_K gradient
    on the same batch, if tracked (NaN on the batches between every ``cosine_every``-th); ``cosines_mhn``:
    the same against the exact gradient of the MHN's own QV loss through its stored keys (rule
    ``exact_reinstatement``).
    """

    config: SweepConfig
    seeds: list
    batches: int
    batch_size: int
    seed: int
    accuracy: np.ndarray
    loss: np.ndarray
    collisions: np.ndarray
    final_accuracy: np.ndarray
    final_loss: np.ndarray
    collision_rate: np.ndarray
    batches_to_99: list
    heldout_accuracy: np.ndarray | None
    context_accuracy: np.ndarray | None
    weights: dict
    cosines: dict = field(default_factory=dict)
    cosines_mhn: dict = field(default_factory=dict)
    seconds: float = 0.0


def batches_to_threshold(accuracy: np.ndarray, threshold: float = 0.99, window: int = 100) -> list:
    """First 1-based batch ``b >= window`` with ``mean(accuracy[b-window:b]) >= threshold``, per row; else None."""
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
    """
    curve = np.asarray(curve, dtype=np.float64)
    n = curve.shape[-1]
    edges = list(range(0, n, bin_size)) + [n]
    bins = [curve[..., a:b] for a, b in zip(edges[:-1], edges[1:])]
    return np.stack([np.nanmean(c, -1) if np.isnan(c).any() else c.mean(-1) for c in bins], axis=-1)


def _draw_stack(cfg_letters, context, batch_size, rngs, excludes) -> Sequences:
    seqs = []
    for rng, ex in zip(rngs, excludes):
        s = draw_sequences(cfg_letters, context, batch_size, rng)
        if ex is not None:
            s = redraw_excluded(s, cfg_letters, context, rng, ex)
        seqs.append(s)
    return Sequences(np.stack([s.letters for s in seqs]), np.stack([s.cases for s in seqs]),
                     np.stack([s.query for s in seqs]))


def _predict(cfg: SweepConfig, weights: M.SlowWeights, X, xq, fast_gens=None, context=None):
    """Predictions ``(S, B, 2)`` and collision flags for a stacked batch (no learning)."""
    if cfg.is_transformer:
        tc = cfg.transformer_config()
        return M.transformer_forward(weights, X, xq, tc.gamma_value).y_hat, None
    mc = cfg.mhn_config(context)
    init = M.draw_fast_init(mc, X.shape[-3], fast_gens, X.dtype)
    fast = M.mhn_store(mc, weights.W_K, weights.W_V, X, *init, W_items=M.item_projections(mc, X.dtype))
    return M.mhn_query(mc, weights.W_Q, fast, xq).y_hat, fast.collided


def evaluate(cfg: SweepConfig, weights: M.SlowWeights, seqs_per_seed: list, fast_gens=None, context=None,
             chunk: int = 1024) -> np.ndarray:
    """Accuracy ``(S,)`` of stacked ``weights`` on one list of sequences per seed (equal lengths)."""
    dt = M._dtype(cfg.dtype)
    n = len(seqs_per_seed[0])
    correct = torch.zeros(len(seqs_per_seed), dtype=torch.float64)
    for a in range(0, n, chunk):
        sl = slice(a, min(n, a + chunk))
        stack = Sequences(np.stack([s.letters[sl] for s in seqs_per_seed]),
                          np.stack([s.cases[sl] for s in seqs_per_seed]),
                          np.stack([s.query[sl] for s in seqs_per_seed]))
        X, xq, y = encode(stack, cfg.letters, dt)
        y_hat, _ = _predict(cfg, weights, X, xq, fast_gens, context)
        correct += (y_hat.argmax(-1) == y.argmax(-1)).sum(-1).double()
    return (correct / n).numpy()


def run_sweep(config: SweepConfig, seeds=10, batches: int = 5000, batch_size: int = 64, seed: int = 0,
              progress: bool = False, threads: int | None = 1) -> SweepResult:
    """Train a stack of seeds (``seeds``: a count or a list of seed indices) for ``batches`` batches.

    No autograd: manual gradients (spec §5.3, §5.5). ``threads`` sets ``torch.set_num_threads`` for the
    run (1 by default: on a shared 2-core machine separate processes beat intra-op threads).
    """
    import time

    _validate(config)
    batches = check_int("batches", batches, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    seed = check_int("seed", seed, 0)
    seed_list = list(range(check_int("seeds", seeds, 1))) if isinstance(seeds, (int, np.integer)) else [
        check_int("seeds", s, 0) for s in seeds]
    if not seed_list:
        raise ConfigError("seeds=[] must name at least one seed")
    start = time.perf_counter()
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(check_int("threads", threads, 1))
    try:
        result = _run(config, seed_list, batches, batch_size, seed, progress)
    finally:
        torch.set_num_threads(old_threads)
    result.seconds = time.perf_counter() - start
    return result


def _run(cfg: SweepConfig, seed_list, batches, batch_size, seed, progress) -> SweepResult:
    L, C = cfg.letters, cfg.context
    dt = M._dtype(cfg.dtype)
    S = len(seed_list)
    task_rngs = [trial_generator(seed, s, "case/task") for s in seed_list]
    weight_gens = M.torch_generators(seed, seed_list, "case/weights")
    fast_gens = M.torch_generators(seed, seed_list, "case/fast")
    excludes = [None] * S
    splits = None
    if cfg.heldout_fraction > 0:
        splits = [heldout_split(L, C, cfg.heldout_fraction, trial_generator(seed, s, "case/heldout"))
                  for s in seed_list]
        excludes = [sp.test_ids for sp in splits]

    if cfg.is_transformer:
        tc = cfg.transformer_config()
        weights = M.init_transformer(tc, weight_gens, dt)
        gamma, mimic = tc.gamma_value, tc.mimic_reference_grad
    else:
        mc = cfg.mhn_config()
        weights = M.init_mhn(mc, weight_gens, dt)
        W_items = M.item_projections(mc, dt)
    extra = COSINE_RULES if (cfg.track_cosines and not cfg.is_transformer) else ()

    acc = torch.zeros(batches, S, dtype=torch.float64)
    loss = torch.zeros(batches, S, dtype=torch.float64)
    coll = torch.zeros(batches, S, dtype=torch.float64)
    cos = {r: torch.full((batches, S), float("nan"), dtype=torch.float64) for r in extra}
    cos_mhn = {r: torch.full((batches, S), float("nan"), dtype=torch.float64) for r in extra}
    iterator = range(batches)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc=f"{cfg.model} ({S} seeds)", unit="batch")
    chunk = 50  # batches drawn per generator call (fixed, so seeds never depend on S)
    for b in iterator:
        if b % chunk == 0:
            n_chunk = min(chunk, batches - b)
            if splits is None:  # one draw per seed per chunk; same numbers as batch-by-batch draws
                seqs_chunk = _draw_stack(L, C, n_chunk * batch_size, task_rngs, excludes)
        rows = slice((b % chunk) * batch_size, (b % chunk + 1) * batch_size)
        if splits is None:
            seqs = Sequences(seqs_chunk.letters[:, rows], seqs_chunk.cases[:, rows], seqs_chunk.query[:, rows])
        else:
            seqs = _draw_stack(L, C, batch_size, task_rngs, excludes)
        X, xq, y = encode(seqs, L, dt)
        target = y.argmax(-1)
        if cfg.is_transformer:
            grads, out = M.transformer_grads(weights, X, xq, y, gamma, mimic)
            acc[b] = (out.y_hat.argmax(-1) == target).double().mean(-1)
            loss[b] = ((out.y_hat - y) ** 2).sum((-2, -1)).double() / batch_size
            weights = M.SlowWeights(*(w - cfg.lr * g for w, g in zip(weights, grads)))
            continue
        # per batch (torch's generators fill sequentially, so chunking would give the same numbers, only slower)
        init = M.draw_fast_init(mc, batch_size, fast_gens, dt)
        fast = M.mhn_store(mc, weights.W_K, weights.W_V, X, *init, W_items=W_items)
        tracked = extra if b % cfg.cosine_every == 0 else ()
        if tracked:
            true_wk = M.transformer_grads(weights, X, xq, y, mc.beta)[0].W_K  # diagnostic only (uses slots)
        new, info = M.mhn_update(mc, weights, fast, xq, y, cfg.lr, cfg.key_lr, extra_rules=tracked)
        q = info["query"]
        acc[b] = (q.y_hat.argmax(-1) == target).double().mean(-1)
        if mc.wk_rule == "fixed":
            loss[b] = (info["grads"].e_qv ** 2).sum((-2, -1)).double() / batch_size
        else:
            loss[b] = ((q.y_hat - y) ** 2).sum((-2, -1)).double() / batch_size
        coll[b] = fast.collided.double().mean(-1)
        for r in tracked:
            cos[r][b] = M.cosine(info[f"wk_grad/{r}"], true_wk).double()
            cos_mhn[r][b] = M.cosine(info[f"wk_grad/{r}"], info["wk_grad/exact_reinstatement"]).double()
        weights = new

    acc_np, loss_np, coll_np = acc.T.numpy(), loss.T.numpy(), coll.T.numpy()
    w = min(cfg.final_window, batches)
    eval_gens = M.torch_generators(seed, seed_list, "case/eval")
    heldout = context_acc = None
    if splits is not None:
        # every held-out sequence is scored ceil(eval_size / n_test) times (fresh fast weights each time)
        reps = -(-cfg.eval_size // len(splits[0].test))
        tiled = [sp.test.take(np.tile(np.arange(len(sp.test)), reps)) for sp in splits]
        heldout = evaluate(cfg, weights, tiled, eval_gens)
    if cfg.eval_context is not None:
        eval_rngs = [trial_generator(seed, s, "case/eval-context") for s in seed_list]
        seqs = [draw_sequences(L, cfg.eval_context, cfg.eval_size, r) for r in eval_rngs]
        context_acc = evaluate(cfg, weights, seqs, eval_gens, context=cfg.eval_context)
    return SweepResult(
        config=cfg, seeds=list(seed_list), batches=batches, batch_size=batch_size, seed=seed,
        accuracy=acc_np, loss=loss_np, collisions=coll_np,
        final_accuracy=acc_np[:, -w:].mean(1), final_loss=loss_np[:, -w:].mean(1),
        collision_rate=coll_np.mean(1), batches_to_99=batches_to_threshold(acc_np),
        heldout_accuracy=heldout, context_accuracy=context_acc,
        weights={k: v.detach().double().numpy() for k, v in weights._asdict().items()},
        cosines={r: c.T.numpy() for r, c in cos.items()},
        cosines_mhn={r: c.T.numpy() for r, c in cos_mhn.items()},
    )


# ------------------------------------------------------------ diagnostics (spec §5.7)
def wv_ones_minus_zeros(W_V: np.ndarray, letters: int) -> np.ndarray:
    """``mean(W_V[0, l] + W_V[1, L+l]) / 2 - mean(W_V[0, L+l] + W_V[1, l]) / 2`` over letters, shape ``(...)``.

    1 for a W_V that maps each case exactly onto its one-hot target.
    """
    L = check_int("letters", letters, 1)
    W = np.asarray(W_V)
    right = W[..., 0, :L].sum(-1) + W[..., 1, L:2 * L].sum(-1)
    wrong = W[..., 0, L:2 * L].sum(-1) + W[..., 1, :L].sum(-1)
    return (right - wrong) / (2 * L)


def qk_block(W_Q: np.ndarray, W_K: np.ndarray, letters: int) -> np.ndarray:
    """Rows [2L, 3L) (query tokens) and columns [0, 2L) (letters) of ``W_Q^T W_K``, shape ``(..., L, 2L)``."""
    L = check_int("letters", letters, 1)
    Q, K = np.asarray(W_Q), np.asarray(W_K)
    return np.einsum("...kq,...kd->...qd", Q[..., :, 2 * L:3 * L], K[..., :, :2 * L])


def block_stats(block: np.ndarray) -> dict:
    """Diagonal/off-diagonal mean and range (max - min) of square blocks ``(..., n, n)``, and
    ``summary`` = diagonal mean - off-diagonal mean; every entry has shape ``(...)``."""
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
    """Gram matrix of the letter keys ``W_K[:, :2L]^T W_K[:, :2L]``, shape ``(..., 2L, 2L)``."""
    L = check_int("letters", letters, 1)
    K = np.asarray(W_K)[..., :, :2 * L]
    return np.einsum("...ki,...kj->...ij", K, K)


def key_query_distance(W_Q: np.ndarray, W_K: np.ndarray, letters: int) -> np.ndarray:
    """``||W_K x_l^{case} - q_l|| / ||q_l||`` for both cases, shape ``(..., 2, L)`` (Theorem 7 diagnostic)."""
    L = check_int("letters", letters, 1)
    Q, K = np.asarray(W_Q), np.asarray(W_K)
    q = Q[..., :, 2 * L:3 * L]
    keys = np.stack([K[..., :, :L], K[..., :, L:2 * L]], axis=-3)  # (..., 2, d_k, L)
    return np.linalg.norm(keys - q[..., None, :, :], axis=-2) / np.linalg.norm(q, axis=-2)[..., None, :]


def weight_diagnostics(weights: dict, letters: int) -> dict:
    """The spec §5.7 summaries per seed, each of shape ``(S,)`` (or ``(...)`` for other leading dims):
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


# ------------------------------------------------------------ cached sweeps for the book
def result_arrays(result: SweepResult) -> dict:
    """A :class:`SweepResult` as a flat dict of numpy arrays (``batches_to_99`` with NaN for None)."""
    out = {
        "accuracy": result.accuracy, "loss": result.loss, "collisions": result.collisions,
        "final_accuracy": result.final_accuracy, "final_loss": result.final_loss,
        "collision_rate": result.collision_rate,
        "batches_to_99": np.array([np.nan if b is None else b for b in result.batches_to_99], dtype=float),
        "seconds": np.array(result.seconds),
    }
    if result.heldout_accuracy is not None:
        out["heldout_accuracy"] = result.heldout_accuracy
    if result.context_accuracy is not None:
        out["context_accuracy"] = result.context_accuracy
    for k, v in result.weights.items():
        out[k] = v
    for k, v in result.cosines.items():
        out[f"cos_{k}"] = v
    for k, v in result.cosines_mhn.items():
        out[f"cosmhn_{k}"] = v
    return out


def first_seeds(arrays: dict, n: int) -> dict:
    """The arrays of :func:`result_arrays` restricted to the first ``n`` seeds (``seconds`` kept as is).

    Seed ``s`` trains on its own generators, so the first ``n`` seeds of a larger sweep are the sweep
    of ``n`` seeds (up to float rounding of the batched products).
    """
    n = check_int("n", n, 1)
    available = len(arrays["final_accuracy"])
    if n > available:
        raise ConfigError(f"n={n} is more than the {available} seeds of this sweep")
    return {k: (v if k == "seconds" else v[:n]) for k, v in arrays.items()}


def cached_sweep(config: SweepConfig, seeds=10, batches: int = 5000, batch_size: int = 64, seed: int = 0,
                 directory=None) -> tuple[dict, bool]:
    """:func:`run_sweep` through the keyed cache of :mod:`slotless.io` (active when ``SLOTLESS_CACHE`` is set).

    Returns ``(arrays, from_cache)`` with the arrays of :func:`result_arrays`. The key covers the full
    config, the run sizes and the package source, so a stale entry can never be served.
    """
    from .io import cached_arrays

    key = {"kind": "case-sequence-sweep", "config": config.to_dict(), "seeds": seeds, "batches": batches,
           "batch_size": batch_size, "seed": seed}
    return cached_arrays(key, lambda: result_arrays(run_sweep(config, seeds, batches, batch_size, seed)), directory)


def cached_sweeps(configs, seeds=10, batches: int = 5000, batch_size: int = 64, seed: int = 0,
                  workers: int | None = None) -> list[tuple[dict, bool]]:
    """:func:`cached_sweep` for several configs, spread over ``workers`` processes.

    ``seeds`` is a number of seeds (seeds ``0 .. n-1``) for every config, or a list with one such
    number per config. Sweeps are independent and each is deterministic given its config and seed,
    so the result does not depend on which process ran it. ``workers`` defaults to the number of
    cores (at most one per config); 1 runs them here, one after another. Returns a list of
    ``(arrays, from_cache)`` in the order of ``configs``.
    """
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    configs = list(configs)
    if isinstance(seeds, (int, np.integer)):
        counts = [check_int("seeds", seeds, 1)] * len(configs)
    else:
        counts = [check_int("seeds", n, 1) for n in seeds]
        if len(counts) != len(configs):
            raise ConfigError(f"seeds has {len(counts)} entries for {len(configs)} configs: give one per config")
    workers = check_int("workers", workers if workers is not None else (os.cpu_count() or 1), 1)
    workers = min(workers, max(len(configs), 1))
    if workers == 1:
        return [cached_sweep(c, n, batches, batch_size, seed) for c, n in zip(configs, counts)]

    def cost(i):  # rough relative CPU time, from timings of the paper-scale sweeps
        c = configs[i]
        return counts[i] * (0.4 if c.is_transformer else 1.0) * (1 + 0.6 * c.track_cosines / c.cosine_every)

    # longest first, so that the workers finish at about the same time
    order = sorted(range(len(configs)), key=cost, reverse=True)
    # spawn, not fork: a forked torch process can deadlock on the parent's thread pool
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {i: pool.submit(cached_sweep, configs[i], counts[i], batches, batch_size, seed) for i in order}
        return [futures[i].result() for i in range(len(configs))]
