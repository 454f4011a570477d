"""Seed-stacked training on the Case Sequence Task: the models, their presets, and the sweeps.

Book: {ref}`ch-training` runs the sweeps; {ref}`ch-methods` lists the presets (``tbl-methods-attention``)
and defines the measures (``eq-methods-final-accuracy``, ``eq-methods-batches-to-99``).

All seeds of a sweep train as one stack of models (leading tensor dimension S); there is no Python
loop over seeds in the training step. Seed ``s`` of master ``seed`` draws its data, its initial
weights and its fast-weight initialisations from its own generators (:class:`SweepStreams`), so it
gives the same result alone or stacked with others (up to float rounding of batched kernels).

Definitions: the accuracy of a batch is measured before that batch's update; the final accuracy is
the mean over the last ``final_window`` (500) batches; "batches to 99%" is the first 1-based batch
``b >= 100`` whose trailing 100-batch mean accuracy is >= 0.99. A seed whose loss becomes non-finite
(too large a learning rate) has diverged: it stops there, its first non-finite batch is recorded
(``diverged_at``), and its records from that batch on are NaN (not measured).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable, NamedTuple

import numpy as np
import torch

from ..checks import ConfigError, check_choice, check_float, check_int
from ..rng import trial_generator
from . import kernels as _kernels
from .diagnostics import batches_to_threshold
from .mhn import (
    WK_RULES,
    WV_MODES,
    FastWeights,
    MHNConfig,
    _fast_init_sizes,
    draw_fast_init,
    init_mhn,
    item_projections,
    mhn_query,
    mhn_store,
)
from .rules import MHNStep, mhn_update
from .task import (
    HELDOUT_FRACTION,
    HELDOUT_LETTERS,
    HELDOUT_SPLITS,
    Sequences,
    TaskStream,
    check_heldout,
    check_task,
    draw_sequences,
    encode,
    heldout_split,
    sequence_strings,
    stack_sequences,
)
from .tensors import cosine, torch_dtype, torch_generators
from .transformer import SlowWeights, TransformerConfig, init_transformer, transformer_forward, transformer_grads

__all__ = [
    "MODELS",
    "PRESETS",
    "LEARNING_RATES",
    "RULE_KEY_LR",
    "NO_PROJECTION_VARIANTS",
    "COSINE_RULES",
    "SweepConfig",
    "SweepStreams",
    "SweepResult",
    "BatchRecord",
    "resolve_config",
    "run_sweep",
    "evaluate",
    "result_arrays",
    "first_seeds",
    "cached_sweep",
    "cached_sweeps",
    "sweep_cost",
    "training_key",
    "cached_plan",
    "PlanInfo",
]

#: The models of Part II and their W_K rule (None: the slot-based transformer, trained by gradient).
MODELS = {
    "transformer": None,
    "mhn-fixed-wk": "fixed",
    "mhn-wk": "via_mhn",
    "qk-mhn": "qk_align",
    "hebbian": "hebbian",
    "mhn-exact-wk": "exact_onehot",
}
#: The two presets: "default" (the book's: exact gradients, gamma = 1) and "paper" (the settings that
#: reproduce the authors' saved sweep).
PRESETS = ("default", "paper")
#: The one table of learning rates, per (model, preset) (``tbl-methods-attention``).
LEARNING_RATES = {
    **{(model, preset): 5e-3 for model in MODELS for preset in PRESETS},
    ("transformer", "default"): 1e-3,
    ("transformer", "paper"): 1e-3,
    ("mhn-wk", "paper"): 1e-3,
}
#: The authors' committed variants without input projections: model -> (d_k, n_h) (``tbl-methods-attention``).
NO_PROJECTION_VARIANTS = {"mhn-fixed-wk": (50, 10), "mhn-wk": (50, 16), "qk-mhn": (50, 16)}
#: The W_K learning rate of a rule when not given: 1e-4 for query-key alignment and the Hebbian rule;
#: every other rule learns its keys at the model's learning rate.
RULE_KEY_LR = {"qk_align": 1e-4, "hebbian": 1e-4}
#: The rules whose W_K direction is compared with the true gradient when cosines are tracked.
COSINE_RULES = ("via_mhn", "qk_align", "hebbian", "exact_onehot", "exact_reinstatement")


@dataclass(frozen=True)
class SweepConfig:
    """Everything a sweep needs. Build it with :func:`resolve_config`, which fills the preset's rates.

    ``wk_rule`` (MHN models): the W_K rule, by default the model's (:data:`MODELS`). ``key_lr`` is None for
    the transformer, whose W_K learns at ``lr``. ``heldout_split`` (one of
    :data:`slotless.attention.task.HELDOUT_SPLITS`, or None) excludes the sequences of that split from training
    (each seed draws its own split) and reports accuracy on them; ``heldout_fraction`` applies to the "classes"
    and "random" splits and ``heldout_letters`` to "pairs" (:func:`resolve_config` fills the defaults of the
    split given and refuses the setting of another split); ``eval_context`` (> context) reports
    accuracy at a longer context. ``track_cosines`` records the cosine diagnostics on batches 0,
    ``cosine_every``, 2 ``cosine_every``, ... (they never change training, and cost about half a training
    step each).
    Book: ``tbl-methods-attention`` ({ref}`ch-training`).
    """

    model: str
    lr: float
    key_lr: float | None
    wk_rule: str | None
    preset: str = "default"
    letters: int = 4
    context: int = 4
    key_dim: int = 32
    hidden: int = 8
    input_projections: bool = True
    mask_unrecruited: bool = False
    wv_mode: str = "via_reinstatement"
    paper_time_gradient: bool = False
    final_window: int = 500
    heldout_split: str | None = None
    heldout_fraction: float | None = None
    heldout_letters: int | None = None
    eval_context: int | None = None
    eval_size: int = 1024
    track_cosines: bool = False
    cosine_every: int = 1
    dtype: str = "float32"

    @property
    def is_transformer(self) -> bool:
        return self.model == "transformer"

    def transformer_config(self) -> TransformerConfig:
        preset = self.preset if self.is_transformer else "default"
        return TransformerConfig(self.letters, self.context, self.key_dim, preset=preset,
                                 paper_time_gradient=self.paper_time_gradient)

    def mhn_config(self, context: int | None = None) -> MHNConfig:
        return MHNConfig(self.letters, context or self.context, self.key_dim, self.hidden,
                         self.input_projections, mask_unrecruited=self.mask_unrecruited,
                         wk_rule=self.wk_rule, wv_mode=self.wv_mode)

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_config(model: str, preset: str = "default", **overrides) -> SweepConfig:
    """The settings of ``model`` under ``preset``, with explicit ``overrides`` applied last.

    Rates come from :data:`LEARNING_RATES` and :data:`RULE_KEY_LR`; under the "paper" preset the
    transformer also uses the paper-time parameterisation and gradient. Overrides given as None are
    ignored (so CLI defaults can pass through); an override that does not apply to the model is refused.
    Book: ``tbl-methods-attention`` ({ref}`ch-training`).
    """
    check_choice("model", model, tuple(MODELS))
    check_choice("preset", preset, PRESETS)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    known = set(SweepConfig.__dataclass_fields__) - {"model", "preset"}
    for key in overrides:
        if key not in known:
            raise ConfigError(f"{key}={overrides[key]!r} is not a sweep setting")
    if model == "transformer":
        mhn_only = sorted(set(overrides) & {"key_lr", "wk_rule", "hidden", "input_projections", "mask_unrecruited",
                                            "wv_mode"})
        if mhn_only:
            raise ConfigError(f"{', '.join(mhn_only)} only apply to the MHN models, not to model='transformer'")
        base = dict(wk_rule=None, key_lr=None, paper_time_gradient=preset == "paper")
    else:
        rule = check_choice("wk_rule", overrides.get("wk_rule", MODELS[model]), WK_RULES)
        base = dict(wk_rule=rule)
    base["lr"] = overrides.pop("lr", LEARNING_RATES[(model, preset)])
    if model != "transformer" and "key_lr" not in overrides:
        overrides["key_lr"] = RULE_KEY_LR.get(base["wk_rule"], base["lr"])
    _resolve_heldout(overrides)
    cfg = SweepConfig(model=model, preset=preset, **{**base, **overrides})
    _validate(cfg)
    return cfg


def _resolve_heldout(overrides: dict) -> None:
    """Fill the held-out setting of the split given (``heldout_fraction`` or ``heldout_letters``) with its
    default; refuse a setting without a split or one that belongs to another split."""
    split = overrides.get("heldout_split")
    if split is None:
        given = [k for k in ("heldout_fraction", "heldout_letters") if k in overrides]
        if given:
            raise ConfigError(f"{given[0]}={overrides[given[0]]!r} needs a held-out split: give heldout_split "
                              f"({', '.join(map(repr, HELDOUT_SPLITS))})")
        return
    check_choice("heldout_split", split, HELDOUT_SPLITS)
    own, other = ("heldout_letters", "heldout_fraction") if split == "pairs" else ("heldout_fraction",
                                                                                 "heldout_letters")
    if other in overrides:
        raise ConfigError(f"{other}={overrides[other]!r} does not apply to heldout_split={split!r}: "
                          f"that split takes {own}")
    overrides.setdefault(own, HELDOUT_LETTERS if split == "pairs" else HELDOUT_FRACTION)


def _validate(cfg: SweepConfig) -> None:
    check_choice("model", cfg.model, tuple(MODELS))
    check_choice("preset", cfg.preset, PRESETS)
    check_task(cfg.letters, cfg.context)
    check_float("lr", cfg.lr, 0.0)
    if cfg.key_lr is not None:
        check_float("key_lr", cfg.key_lr, 0.0)
    check_int("final_window", cfg.final_window, 1)
    if cfg.heldout_split is not None:
        check_heldout(cfg.letters, cfg.context, cfg.heldout_split, cfg.heldout_fraction, cfg.heldout_letters)
    check_int("eval_size", cfg.eval_size, 1)
    check_int("cosine_every", cfg.cosine_every, 1)
    check_choice("dtype", cfg.dtype, ("float32", "float64"))
    if cfg.eval_context is not None:
        check_int("eval_context", cfg.eval_context, cfg.context + 1, cfg.letters)
    if cfg.is_transformer:
        cfg.transformer_config()
    else:
        check_choice("wv_mode", cfg.wv_mode, WV_MODES)
        cfg.mhn_config()
        if cfg.key_lr is None:
            raise ConfigError(f"key_lr=None: model={cfg.model!r} needs a W_K learning rate (use resolve_config)")
        if cfg.eval_context is not None:
            check_int("eval_context", cfg.eval_context, 1, cfg.hidden)


class SweepStreams(NamedTuple):
    """Names of the per-seed random streams of a sweep (:mod:`slotless.rng`): the task batches, the
    initial slow weights, the fast-weight draws, the evaluation draws, the held-out split and the
    longer-context evaluation. Book: ``sec-methods-training``."""

    task: str = "case/task"
    weights: str = "case/weights"
    fast: str = "case/fast"
    eval: str = "case/eval"
    heldout: str = "case/heldout"
    eval_context: str = "case/eval-context"


@dataclass
class BatchRecord:
    """One training batch, handed to the ``on_batch`` hook of :func:`run_sweep` after the update.

    ``index`` (0-based); the batch ``X (S, B, C, 3L)``, ``xq (S, B, 3L)``, ``y (S, B, 2)``; the slow weights
    ``before`` and ``after`` the update; for MHN models the ``fast`` weights of the batch and the ``step``
    (:class:`slotless.attention.rules.MHNStep`), None for the transformer.
    Book: {prf:ref}`alg-mhn-transformer-step` ({ref}`ch-attention-results`).
    """

    index: int
    X: torch.Tensor
    xq: torch.Tensor
    y: torch.Tensor
    before: SlowWeights
    after: SlowWeights
    fast: FastWeights | None = None
    step: MHNStep | None = None


@dataclass
class SweepResult:
    """Per-seed results of :func:`run_sweep`.

    ``accuracy, loss, collisions: (S, batches)`` per batch (collisions: fraction of the batch's
    sequences with an overwritten item; 0 for the transformer); ``final_accuracy, final_loss,
    collision_rate: (S,)``; ``batches_to_99``: list of int or None; ``heldout_accuracy`` and
    ``context_accuracy``: ``(S,)`` or None; ``heldout_sequences``: ``(S, n_test)`` strings
    (:func:`slotless.attention.task.sequence_strings`, each seed's held-out sequences) or None; ``weights``: final slow weights as numpy
    ``{"W_Q": (S, d_k, 3L), "W_K": ..., "W_V": (S, 2, 3L)}``; ``cosines``: rule -> ``(S, batches)``
    cosine of that rule's W_K direction with the true (slot-based transformer, gamma = beta) W_K gradient
    on the same batch, if tracked (NaN on the batches between every ``cosine_every``-th); ``cosines_mhn``:
    the same against the exact gradient of the MHN's own QV loss through its stored keys (rule
    ``exact_reinstatement``); ``diverged_at``: per seed, the 1-based batch whose loss was first non-finite
    (the seed stopped there: every per-batch and final measure of it from then on is NaN, and its final
    weights are zero), or None.
    Book: ``eq-methods-final-accuracy``, ``eq-methods-batches-to-99`` ({ref}`ch-training`).
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
    heldout_sequences: np.ndarray | None = None
    cosines: dict = field(default_factory=dict)
    cosines_mhn: dict = field(default_factory=dict)
    seconds: float = 0.0
    diverged_at: list = field(default_factory=list)


def _predict(cfg: SweepConfig, weights: SlowWeights, X, xq, fast_gens=None, context=None):
    """Predictions ``(S, B, 2)`` and collision flags for a stacked batch (no learning)."""
    if cfg.is_transformer:
        tc = cfg.transformer_config()
        return transformer_forward(weights, X, xq, tc.gamma_value).y_hat, None
    mc = cfg.mhn_config(context)
    init = draw_fast_init(mc, X.shape[-3], fast_gens, X.dtype)
    fast = mhn_store(mc, weights.W_K, weights.W_V, X, *init, W_items=item_projections(mc, X.dtype))
    return mhn_query(mc, weights.W_Q, fast, xq).y_hat, fast.collided


def evaluate(cfg: SweepConfig, weights: SlowWeights, seqs_per_seed: list, fast_gens=None, context=None,
             chunk: int = 1024) -> np.ndarray:
    """Accuracy ``(S,)`` of stacked ``weights`` on one list of sequences per seed (equal lengths).
    Book: ``sec-methods-task`` (held-out and longer-context accuracy, {ref}`ch-training`).
    """
    dt = torch_dtype(cfg.dtype)
    n = len(seqs_per_seed[0])
    correct = torch.zeros(len(seqs_per_seed), dtype=torch.float64)
    for a in range(0, n, chunk):
        sl = slice(a, min(n, a + chunk))
        stack = stack_sequences([s.take(sl) for s in seqs_per_seed])
        X, xq, y = encode(stack, cfg.letters, dt)
        y_hat, _ = _predict(cfg, weights, X, xq, fast_gens, context)
        correct += (y_hat.argmax(-1) == y.argmax(-1)).sum(-1).double()
    return (correct / n).numpy()


def run_sweep(config: SweepConfig, seeds=10, batches: int = 5000, batch_size: int = 64, seed: int = 0,
              progress: bool = False, threads: int | None = 1, streams: SweepStreams = SweepStreams(),
              on_batch: Callable[[BatchRecord], None] | None = None) -> SweepResult:
    """Train a stack of seeds (``seeds``: a count or a list of seed indices) for ``batches`` batches.

    No autograd: manual gradients (``eq-methods-transformer-grads``, ``eq-methods-mhn-grads``). ``threads``
    sets ``torch.set_num_threads`` for the run (1 by default: on a shared 2-core machine separate
    processes beat intra-op threads). ``on_batch``, if given, is called with a :class:`BatchRecord`
    after every update (for diagnostics; it must not change its arguments).
    """
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
        result = _run(config, seed_list, batches, batch_size, seed, progress, streams, on_batch)
    finally:
        torch.set_num_threads(old_threads)
    result.seconds = time.perf_counter() - start
    return result


#: Train with the compiled batch steps of :mod:`slotless.attention.kernels` (the readable torch path is
#: used when False or when an ``on_batch`` hook is given).
_COMPILED_STEP = True


@dataclass
class _CompiledStep:
    """Constants, buffers and generator states of the compiled steps of one sweep (:func:`_compiled_step`).

    ``prm``: the float constants of :mod:`slotless.attention.kernels` in the weights' dtype. MHN models
    only: ``raw`` the fast-weight draws of one seed's batch ``(B, n)`` (scratch), ``mt`` the seeds' generator
    states (advanced by the compiled twister, so the draws are ``draw_fast_init``'s), ``items``/``has_items`` the
    input projections, ``rule`` the W_K rule's code, ``via_output`` the W_V mode, and ``directions``
    ``(S, 6, d_k, 3L)`` the W_K directions of the cosine diagnostics."""

    batch_size: int
    prm: np.ndarray
    raw: np.ndarray | None = None
    mt: tuple | None = None
    items: np.ndarray | None = None
    has_items: bool = False
    rule: int = 0
    via_output: bool = False
    directions: np.ndarray | None = None


def _compiled_step(cfg: SweepConfig, dt, S: int, batch_size: int, fast_gens) -> _CompiledStep:
    """The :class:`_CompiledStep` of a sweep of ``S`` seeds."""
    np_dt = np.float64 if dt == torch.float64 else np.float32
    prm = np.zeros(4, dtype=np_dt)
    prm[_kernels.PRM_LR] = cfg.lr
    if cfg.is_transformer:
        prm[_kernels.PRM_GAMMA] = cfg.transformer_config().gamma_value
        return _CompiledStep(batch_size, prm)
    mc = cfg.mhn_config()
    items = item_projections(mc, dt)
    prm[_kernels.PRM_BETA] = mc.beta
    prm[_kernels.PRM_KEY_LR] = cfg.key_lr
    return _CompiledStep(
        batch_size, prm, raw=np.empty((batch_size, sum(_fast_init_sizes(mc))), dtype=np.float32),
        mt=_kernels.mt_states(fast_gens),
        items=np.zeros((mc.hidden, mc.dim), np_dt) if items is None else items.numpy().astype(np_dt),
        has_items=items is not None, rule=_kernels.RULE_CODES[mc.wk_rule], via_output=mc.wv_mode == "via_mhn_output",
        directions=np.zeros((S, len(_kernels.DIAGNOSTIC_RULES) + 1, mc.key_dim, mc.dim), np_dt))


def _token_indices(seqs: Sequences, letters: int) -> list:
    """The compiled steps' view of stacked sequences ``(S, n, ...)``: context tokens ``letter + L case``
    ``(S, n, C)``, query tokens ``2L + letter`` ``(S, n)`` and targets (the queried case) ``(S, n)``."""
    query = seqs.query[..., None]
    qlet = np.take_along_axis(seqs.letters, query, -1)[..., 0]
    target = np.ascontiguousarray(np.take_along_axis(seqs.cases, query, -1)[..., 0])
    return [seqs.letters + letters * seqs.cases, 2 * letters + qlet, target]


def _token_chunk(n_batches: int, S: int, batch_size: int, C: int) -> list:
    """Empty token arrays of a chunk of ``n_batches`` batches of ``S`` seeds, in the compiled steps' layout
    (:func:`_token_indices`): ``[tok (n, S, B, C), qtok (n, S, B), target (n, S, B)]``, int64."""
    return [np.empty((n_batches, S, batch_size, C), np.int64), np.empty((n_batches, S, batch_size), np.int64),
            np.empty((n_batches, S, batch_size), np.int64)]


def _chunk_tokens(task_rngs, L: int, C: int, n_batches: int, batch_size: int) -> list:
    """The compiled steps' tokens (:func:`_token_indices`) of the next ``n_batches`` batches of every seed, drawn
    as :func:`slotless.attention.task.draw_sequences` draws ``n_batches * batch_size`` sequences (the same
    ``rng.random`` call, hence the same sequences): ``[tok (n, S, B, C), qtok (n, S, B), target (n, S, B)]``,
    so that batch ``j``'s tokens are each array's contiguous block ``[j]``."""
    tok, qtok, target = chunk = _token_chunk(n_batches, len(task_rngs), batch_size, C)
    for s, rng in enumerate(task_rngs):
        u = rng.random((n_batches * batch_size, L + C + 1))
        _kernels.draw_task_tokens(u.ravel(), L, C, s, tok, qtok, target)
    return chunk


def _chunk_heldout_tokens(streams, C: int, n_batches: int, batch_size: int) -> list:
    """:func:`_chunk_tokens` for held-out runs: the next ``n_batches`` batches of every seed's
    :class:`~slotless.attention.task.TaskStream` (the sequences of one ``draw(batch_size)`` per batch), as
    ``[tok (n, S, B, C), qtok (n, S, B), target (n, S, B)]``."""
    tok, qtok, target = chunk = _token_chunk(n_batches, len(streams), batch_size, C)
    for s, stream in enumerate(streams):
        stream.draw_tokens(s, tok, qtok, target)
    return chunk


def _compiled_batch(cfg: SweepConfig, w_np, tokens, step: _CompiledStep, acc, loss, coll, diagnostics) -> None:
    """One training batch of every seed with the compiled step (the same draws as the readable path);
    ``tokens``: :func:`_token_indices` of the batch.

    ``diagnostics = (cos, cos_mhn, b, tracked)``: if ``tracked`` (the rules of :data:`COSINE_RULES`), the
    cosine diagnostics of batch ``b`` are computed by the same call, from the pre-update weights; they
    never change training."""
    tok, qtok, target = tokens
    if cfg.is_transformer:
        _kernels.transformer_batch_step(*w_np, tok, qtok, target, cfg.paper_time_gradient, step.prm, acc, loss)
    else:
        cos, cos_mhn, b, tracked = diagnostics
        # the kernel draws draw_fast_init's torch.rand numbers itself, seed by seed
        _kernels.mhn_batch_step(*w_np, tok, qtok, target, *step.mt, step.raw, step.items, step.has_items, step.rule,
                                step.via_output, cfg.mask_unrecruited, step.prm, acc, loss, coll, bool(tracked),
                                step.directions)
        if tracked:
            directions = torch.from_numpy(step.directions)
            true_wk, reinstated = directions[:, -1], directions[:, _kernels.DIAGNOSTIC_RULES.index("exact_reinstatement")]
            for r in tracked:
                g = directions[:, _kernels.DIAGNOSTIC_RULES.index(r)]
                cos[r][b] = cosine(g, true_wk).double()
                cos_mhn[r][b] = cosine(g, reinstated).double()
    loss /= step.batch_size


def _run(cfg: SweepConfig, seed_list, batches, batch_size, seed, progress, streams, on_batch) -> SweepResult:
    L, C = cfg.letters, cfg.context
    dt = torch_dtype(cfg.dtype)
    S = len(seed_list)
    task_rngs = [trial_generator(seed, s, streams.task) for s in seed_list]
    weight_gens = torch_generators(seed, seed_list, streams.weights)
    fast_gens = torch_generators(seed, seed_list, streams.fast)
    splits = None
    if cfg.heldout_split is not None:
        splits = [heldout_split(L, C, trial_generator(seed, s, streams.heldout), cfg.heldout_split,
                                cfg.heldout_fraction, cfg.heldout_letters)
                  for s in seed_list]
        # the same sequences as draw_sequences + redraw_excluded per seed and batch, drawn by a compiled loop
        held_out_streams = [TaskStream(L, C, rng, sp.test_ids) for rng, sp in zip(task_rngs, splits)]

    if cfg.is_transformer:
        tc = cfg.transformer_config()
        weights = init_transformer(tc, weight_gens, dt)
        gamma = tc.gamma_value
    else:
        mc = cfg.mhn_config()
        weights = init_mhn(mc, weight_gens, dt)
        W_items = item_projections(mc, dt)
    extra = COSINE_RULES if (cfg.track_cosines and not cfg.is_transformer) else ()
    compiled = _COMPILED_STEP and on_batch is None
    if compiled:  # slow weights live in numpy arrays, updated in place; `weights` are torch views of them
        w_np = [w.numpy().copy() for w in weights]
        weights = SlowWeights(*(torch.from_numpy(w) for w in w_np))
        compiled_step = _compiled_step(cfg, dt, S, batch_size, fast_gens)

    acc = torch.zeros(batches, S, dtype=torch.float64)
    loss = torch.zeros(batches, S, dtype=torch.float64)
    coll = torch.zeros(batches, S, dtype=torch.float64)
    cos = {r: torch.full((batches, S), float("nan"), dtype=torch.float64) for r in extra}
    cos_mhn = {r: torch.full((batches, S), float("nan"), dtype=torch.float64) for r in extra}
    diverged_at = np.zeros(S, dtype=np.int64)  # per seed: 1-based batch of the first non-finite loss; 0: none
    iterator = range(batches)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc=f"{cfg.model} ({S} seeds)", unit="batch")
    chunk = 50  # batches drawn per generator call (fixed, so seeds never depend on S)
    for b in iterator:
        if b % chunk == 0:  # one draw per seed per chunk; the same sequences as batch-by-batch draws
            n_chunk = min(chunk, batches - b)
            if compiled and splits is None:
                tokens_chunk = _chunk_tokens(task_rngs, L, C, n_chunk, batch_size)
            elif compiled:
                tokens_chunk = _chunk_heldout_tokens(held_out_streams, C, n_chunk, batch_size)
            elif splits is None:
                seqs_chunk = stack_sequences([draw_sequences(L, C, n_chunk * batch_size, rng) for rng in task_rngs])
        if not compiled and splits is not None:
            seqs = stack_sequences([stream.draw(batch_size) for stream in held_out_streams])
        elif not compiled:
            rows = slice((b % chunk) * batch_size, (b % chunk + 1) * batch_size)
            seqs = Sequences(seqs_chunk.letters[:, rows], seqs_chunk.cases[:, rows], seqs_chunk.query[:, rows])
        if compiled:
            tracked = extra if b % cfg.cosine_every == 0 else ()
            tokens = [t[b % chunk] for t in tokens_chunk]
            _compiled_batch(cfg, w_np, tokens, compiled_step, acc[b].numpy(), loss[b].numpy(), coll[b].numpy(),
                            diagnostics=(cos, cos_mhn, b, tracked))
            _stop_diverged(weights, loss[b], b, diverged_at, in_place=True)  # `weights` are views of w_np
            continue
        X, xq, y = encode(seqs, L, dt)
        target = y.argmax(-1)
        if cfg.is_transformer:
            grads, out = transformer_grads(weights, X, xq, y, gamma, cfg.paper_time_gradient)
            acc[b] = (out.y_hat.argmax(-1) == target).double().mean(-1)
            loss[b] = ((out.y_hat - y) ** 2).sum((-2, -1)).double() / batch_size
            new = SlowWeights(*(w - cfg.lr * g for w, g in zip(weights, grads)))
            if on_batch is not None:
                on_batch(BatchRecord(b, X, xq, y, weights, new))
            weights = _stop_diverged(new, loss[b], b, diverged_at)
            continue
        # per batch (torch's generators fill sequentially, so chunking would give the same numbers, only slower)
        init = draw_fast_init(mc, batch_size, fast_gens, dt)
        fast = mhn_store(mc, weights.W_K, weights.W_V, X, *init, W_items=W_items)
        tracked = extra if b % cfg.cosine_every == 0 else ()
        if tracked:
            true_wk = transformer_grads(weights, X, xq, y, mc.beta)[0].W_K  # diagnostic only (uses slots)
        step = mhn_update(mc, weights, fast, xq, y, cfg.lr, cfg.key_lr, diagnostic_rules=tracked)
        q = step.query
        acc[b] = (q.y_hat.argmax(-1) == target).double().mean(-1)
        if mc.wk_rule == "fixed":
            loss[b] = (step.grads.e_qv ** 2).sum((-2, -1)).double() / batch_size
        else:
            loss[b] = ((q.y_hat - y) ** 2).sum((-2, -1)).double() / batch_size
        coll[b] = fast.collided.double().mean(-1)
        for r in tracked:
            cos[r][b] = cosine(step.diagnostic_wk_grads[r], true_wk).double()
            cos_mhn[r][b] = cosine(step.diagnostic_wk_grads[r], step.diagnostic_wk_grads["exact_reinstatement"]).double()
        if on_batch is not None:
            on_batch(BatchRecord(b, X, xq, y, weights, step.slow, fast, step))
        weights = _stop_diverged(step.slow, loss[b], b, diverged_at)

    for s_, first in enumerate(diverged_at):  # a stopped seed measured nothing from its first bad batch on
        if first:
            for record in (acc, loss, coll, *cos.values(), *cos_mhn.values()):
                record[first - 1:, s_] = float("nan")

    acc_np, loss_np, coll_np = acc.T.numpy(), loss.T.numpy(), coll.T.numpy()
    w = min(cfg.final_window, batches)
    eval_gens = torch_generators(seed, seed_list, streams.eval)
    heldout = context_acc = None
    if splits is not None:
        # every held-out sequence is scored ceil(eval_size / n_test) times (fresh fast weights each time)
        reps = -(-cfg.eval_size // len(splits[0].test))
        tiled = [sp.test.take(np.tile(np.arange(len(sp.test)), reps)) for sp in splits]
        heldout = evaluate(cfg, weights, tiled, eval_gens)
    if cfg.eval_context is not None:
        eval_rngs = [trial_generator(seed, s, streams.eval_context) for s in seed_list]
        seqs = [draw_sequences(L, cfg.eval_context, cfg.eval_size, r) for r in eval_rngs]
        context_acc = evaluate(cfg, weights, seqs, eval_gens, context=cfg.eval_context)
    for measured in (heldout, context_acc):
        if measured is not None:
            measured[diverged_at > 0] = np.nan
    return SweepResult(
        config=cfg, seeds=list(seed_list), batches=batches, batch_size=batch_size, seed=seed,
        accuracy=acc_np, loss=loss_np, collisions=coll_np,
        final_accuracy=acc_np[:, -w:].mean(1), final_loss=loss_np[:, -w:].mean(1),
        collision_rate=coll_np.mean(1), batches_to_99=batches_to_threshold(acc_np),
        heldout_accuracy=heldout, context_accuracy=context_acc,
        heldout_sequences=None if splits is None else np.array([sequence_strings(sp.test, L) for sp in splits]),
        weights={k: v.detach().double().numpy() for k, v in weights._asdict().items()},
        cosines={r: c.T.numpy() for r, c in cos.items()},
        cosines_mhn={r: c.T.numpy() for r, c in cos_mhn.items()},
        diverged_at=[int(d) if d else None for d in diverged_at],
    )


def _stop_diverged(weights: SlowWeights, batch_loss: torch.Tensor, b: int, diverged_at: np.ndarray,
                   in_place: bool = False) -> SlowWeights:
    """Stop the seeds whose loss on batch ``b`` (0-based) is not finite: record ``b + 1`` in ``diverged_at``
    ``(S,)``, and keep the weights of every stopped seed at zero, so the stack computes only finite numbers
    (the stopped seeds' records are masked afterwards). Returns ``weights`` itself while no seed has stopped;
    ``in_place`` zeroes the stopped seeds' rows of ``weights`` itself (the compiled path's shared buffers)."""
    newly = ~np.isfinite(batch_loss.numpy()) & (diverged_at == 0)
    diverged_at[newly] = b + 1
    if not diverged_at.any():
        return weights
    stopped = torch.from_numpy(diverged_at > 0)
    if in_place:
        for w in weights:
            w[stopped] = 0.0
        return weights
    return SlowWeights(*(w.masked_fill(stopped.view(-1, *[1] * (w.dim() - 1)), 0.0) for w in weights))


def result_arrays(result: SweepResult) -> dict:
    """A :class:`SweepResult` as a flat dict of numpy arrays (``batches_to_99`` and ``diverged_at`` with NaN
    for None).
    Book: ``sec-methods-training``.
    """
    out = {
        "accuracy": result.accuracy, "loss": result.loss, "collisions": result.collisions,
        "final_accuracy": result.final_accuracy, "final_loss": result.final_loss,
        "collision_rate": result.collision_rate,
        "batches_to_99": np.array([np.nan if b is None else b for b in result.batches_to_99], dtype=float),
        "diverged_at": np.array([np.nan if d is None else d for d in result.diverged_at], dtype=float),
        "seconds": np.array(result.seconds),
    }
    if result.heldout_accuracy is not None:
        out["heldout_accuracy"] = result.heldout_accuracy
        out["heldout_sequences"] = result.heldout_sequences
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
    Book: ``sec-methods-training``.
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
    Book: ``tbl-methods-training`` ({ref}`ch-training`).
    """
    from ..io import cached_arrays

    key = {"kind": "case-sequence-sweep", "config": config.to_dict(), "seeds": seeds, "batches": batches,
           "batch_size": batch_size, "seed": seed}
    return cached_arrays(key, lambda: result_arrays(run_sweep(config, seeds, batches, batch_size, seed)), directory)


def cached_sweeps(configs, seeds=10, batches: int = 5000, batch_size: int = 64, seed: int = 0,
                  workers: int | None = None) -> list[tuple[dict, bool]]:
    """:func:`cached_sweep` for several configs, one task each on the project's parallel engine
    (:class:`slotless.sweeps.Engine`: an embedded Dask ``LocalCluster`` of ``workers`` processes, or the
    scheduler named by ``SLOTLESS_SCHEDULER``), as in {ref}`ch-training`.

    ``seeds`` is a number of seeds (seeds ``0 .. n-1``) for every config, or a list with one such
    number per config. Sweeps are independent and each is deterministic given its config and seed,
    so the result does not depend on which process ran it. ``workers`` defaults to the number of
    cores (at most one per config); 1 runs them here, one after another. Returns a list of
    ``(arrays, from_cache)`` in the order of ``configs``; a worker's cache notice is printed here, in
    that order.
    Book: ``tbl-methods-training`` ({ref}`ch-training`).
    """
    import os

    from ..io import cache_dir
    from ..sweeps import SCHEDULER_ENV, Engine, default_workers, map_tasks

    configs = list(configs)
    if isinstance(seeds, (int, np.integer)):
        counts = [check_int("seeds", seeds, 1)] * len(configs)
    else:
        counts = [check_int("seeds", n, 1) for n in seeds]
        if len(counts) != len(configs):
            raise ConfigError(f"seeds has {len(counts)} entries for {len(configs)} configs: give one per config")
    if workers is not None:
        workers = check_int("workers", workers, 1)
    # an explicit worker count means this machine; otherwise an existing scheduler if one is named
    scheduler = (os.environ.get(SCHEDULER_ENV) or None) if workers is None else None
    local = max(1, min(workers or default_workers(), len(configs)))

    priorities = [sweep_cost(c, n) for c, n in zip(configs, counts)]

    # longest first (highest priority), so that the workers finish at about the same time
    arguments = [(configs[i], counts[i], batches, batch_size, seed, cache_dir()) for i in range(len(configs))]
    engine = Engine(scheduler=scheduler) if scheduler else Engine(workers=local)
    with engine:
        results = map_tasks(_cached_sweep_quiet, arguments, engine=engine,
                            priorities=priorities)
    for _, _, notice in results:
        if notice:
            print(notice, end="")
    return [(arrays, hit) for arrays, hit, _ in results]


def sweep_cost(config: SweepConfig, seeds: int) -> float:
    """The rough relative CPU time of training ``seeds`` seeds of ``config``, from the measured cost per seed and
    batch of the paper-scale sweeps of {ref}`ch-training` (one MHN model with projections = 1). Without input
    projections every unit's initial key row enters each storage and query step, so the cost grows with
    ``hidden x key_dim`` (and again with the ``via_mhn`` rule's second query); a held-out split redraws the
    excluded sequences. :func:`cached_sweeps` starts the longest sweeps first, so that the workers finish at
    about the same time (the result never depends on the order)."""
    if config.is_transformer:
        per_seed = 0.3
    elif config.input_projections:
        per_seed = 1.0
    else:
        per_seed = 1 + config.hidden * config.key_dim / 400 * (1.25 if config.wk_rule == "via_mhn" else 1.0)
    per_seed *= 1 + 0.6 * config.track_cosines / config.cosine_every
    return seeds * per_seed * (1.4 if config.heldout_split is not None else 1.0)


def _cached_sweep_quiet(config, seeds, batches, batch_size, seed, directory):
    """:func:`cached_sweep` in a worker: returns its printed cache notice instead of printing it."""
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        arrays, hit = cached_sweep(config, seeds, batches, batch_size, seed, directory)
    return arrays, hit, buffer.getvalue()


#: Settings that never change what a sweep trains (the preset's name, once resolved, and the cosine
#: diagnostics, which are computed beside training and never feed back into it).
NON_TRAINING_SETTINGS = ("preset", "track_cosines", "cosine_every")


def training_key(config: SweepConfig) -> tuple:
    """The settings that determine what ``config`` trains: two configs with the same key train identically
    ({ref}`ch-training` runs each distinct training once).

    The preset's name and the cosine tracking are left out (:data:`NON_TRAINING_SETTINGS`); so, for
    example, QK-MHN under both presets is one training.
    Book: ``tbl-methods-training`` ({ref}`ch-training`).
    """
    return tuple((k, v) for k, v in config.to_dict().items() if k not in NON_TRAINING_SETTINGS)


@dataclass(frozen=True)
class PlanInfo:
    """How :func:`cached_plan` ran a plan: ``trainings`` distinct trainings, ``from_cache`` of them served by the
    cache, ``cpu_seconds`` of training summed over them (as recorded when each ran) ({ref}`ch-training`)."""

    trainings: int
    from_cache: int
    cpu_seconds: float


def cached_plan(plan: dict, batches: int, batch_size: int, seed: int = 0) -> tuple[dict, PlanInfo]:
    """Run a plan of sweeps, each distinct training once, through the keyed cache ({ref}`ch-training`).

    ``plan`` maps a name to ``(SweepConfig, n_seeds)``. Plan entries with the same :func:`training_key` are
    one training: it runs once, with the largest seed count any of them asks for, and with cosines if any
    of them tracks them; each entry then gets the first ``n_seeds`` seeds of it (:func:`first_seeds`).
    Returns ``(arrays, info)``: ``arrays`` maps each name to its :func:`result_arrays`; ``info`` is a
    :class:`PlanInfo`. Book: ``tbl-methods-training`` ({ref}`ch-training`).
    """
    groups: dict = {}
    for name, (config, _) in plan.items():
        groups.setdefault(training_key(config), []).append(name)
    jobs = [plan[max(names, key=lambda n: plan[n][0].track_cosines)][0] for names in groups.values()]
    counts = [max(plan[n][1] for n in names) for names in groups.values()]
    results = dict(zip(groups, cached_sweeps(jobs, counts, batches, batch_size, seed)))
    arrays = {name: first_seeds(results[training_key(config)][0], n) for name, (config, n) in plan.items()}
    info = PlanInfo(trainings=len(groups), from_cache=sum(hit for _, hit in results.values()),
                    cpu_seconds=sum(float(r["seconds"]) for r, _ in results.values()))
    return arrays, info
