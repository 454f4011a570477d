"""Both sides of the formal results for attention ({ref}`ch-attention-results`).

Every function here computes the two sides of one identity or bound of the chapter (or the pieces it
needs: a batch, fresh storage, a harder weight draw) and returns them, so that the chapter asserts their
agreement with a tolerance stated beside the assert. The results are our reconstructions (tag R) of the
paper's Theorem 4, Proposition 5, Remark 6 and Theorem 7, plus the book's own one-hot proposition (B):
{prf:ref}`lem-transformer-gradients`, {prf:ref}`thm-mhn-transformer-equivalence`,
{prf:ref}`prop-slot-free-gradients`, {prf:ref}`rem-wk-obstruction`, {prf:ref}`prop-onehot-wk-gradient`,
{prf:ref}`thm-qk-alignment`.

Conventions: tensors carry a leading seed dimension ``S`` (a stack of independent weight draws), then a
batch dimension ``B``: ``X (S, B, C, 3L)``, ``xq (S, B, 3L)``, ``y (S, B, 2)``. Seed ``s`` of a check draws
its sequences from ``trial_generator(seed, s, stream)`` and its weights from
``torch_generators(0, S, stream)`` (:mod:`slotless.rng`), so every number is reproducible. The checks run in
float64 unless a ``dtype`` is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from ..checks import ConfigError, check_int
from ..rng import trial_generator
from .diagnostics import key_query_distance
from .mhn import (
    FastWeights,
    MHNConfig,
    MHNQuery,
    draw_fast_init,
    init_mhn,
    item_projections,
    mhn_local_grads,
    mhn_query,
    mhn_store,
)
from .rules import exact_onehot_wk_grad, wk_rule_gradient
from .task import draw_sequences, encode, stack_sequences
from .tensors import outer_sum, torch_generators
from .training import BatchRecord, SweepResult
from .transformer import (
    SlowWeights,
    TransformerConfig,
    init_transformer,
    transformer_forward,
    transformer_grads,
    transformer_loss,
)

__all__ = [
    "case_batch",
    "theory_batch",
    "store_fresh",
    "harder",
    "relative_error",
    "collision_free",
    "MHNSetup",
    "mhn_setup",
    "transformer_gradient_sides",
    "EquivalenceErrors",
    "equivalence_check",
    "RecruitmentCheck",
    "recruitment_check",
    "NullItemErrors",
    "NullItemCheck",
    "null_item_check",
    "DeviationCurve",
    "deviation_curve",
    "qv_gradient_sides",
    "slot_free_gradient_sides",
    "Counterexample",
    "obstruction_counterexample",
    "dictionary_wk_grad",
    "DictionaryCheck",
    "independent_code_check",
    "dependent_code_check",
    "DistributedCodeCheck",
    "distributed_code_check",
    "onehot_identity_sides",
    "mhn_onehot_sides",
    "ContractionCheck",
    "qk_contraction_check",
    "KeyTracking",
    "KeyTrackingRecorder",
    "tracking_bound",
    "KeyTrackingSummary",
    "key_tracking_summary",
    "Margins",
    "attention_margins",
    "RuleCosines",
    "rule_cosines",
    "CompanionCheck",
    "companion_check",
]

F64 = torch.float64
#: The main Case Sequence Task of the chapter: L = C = 4 letters and context items, d_k = 32.
LETTERS, CONTEXT = 4, 4


# ------------------------------------------------------------------------------------------ the pieces
def case_batch(rngs, n: int, letters: int = LETTERS, context: int = CONTEXT, dtype=F64):
    """A stacked Case Sequence batch, ``n`` sequences from each generator of ``rngs``: ``X (S, n, C, 3L)``,
    ``xq (S, n, 3L)``, ``y (S, n, 2)`` (``eq-methods-task``; {ref}`ch-attention-results`)."""
    seqs = [draw_sequences(letters, context, n, r) for r in rngs]
    return encode(stack_sequences(seqs), letters, dtype)


def theory_batch(seed: int, seeds: int, n: int, stream: str, dtype=F64):
    """:func:`case_batch` with seed ``s`` of ``range(seeds)`` drawing from ``trial_generator(seed, s, stream)``
    (the batches of {ref}`ch-attention-results`)."""
    return case_batch([trial_generator(seed, s, stream) for s in range(check_int("seeds", seeds, 1))], n, dtype=dtype)


def store_fresh(config: MHNConfig, slow: SlowWeights, X, stream: str, seed: int = 0) -> FastWeights:
    """Fresh fast weights for every sequence, then one-shot storage of its context (``eq-methods-mhn-store``,
    {eq}`eq-attention-results-storage`); the fast-weight draws of seed ``s`` come from ``stream``."""
    init = draw_fast_init(config, X.shape[-3], torch_generators(seed, X.shape[0], stream), X.dtype)
    return mhn_store(config, slow.W_K, slow.W_V, X, *init, W_items=item_projections(config, X.dtype))


def harder(w: SlowWeights) -> SlowWeights:
    """A harder weight draw for the identities of {ref}`ch-attention-results`: sharper attention (logits
    x4.5), larger keys (more collisions) and O(1) values of both signs."""
    return SlowWeights(3 * w.W_Q, 1.5 * w.W_K, 20 * (w.W_V - 0.05))


def relative_error(a, b) -> float:
    """``max |a - b| / max |b|``: the error measure of every identity in {ref}`ch-attention-results`."""
    return ((a - b).abs().max() / b.abs().max()).item()


def collision_free(fast: FastWeights, *tensors, minimum: int = 5):
    """Keep the first n collision-free sequences of every seed (n: the smallest count over seeds), the
    sequences that {prf:ref}`thm-mhn-transformer-equivalence` covers. Returns the selected fast weights and
    the list of selected ``tensors`` (each with leading dims ``(S, B)``)."""
    ok = ~fast.collided
    n = int(ok.sum(-1).min())
    if n < minimum:
        raise ConfigError(f"only {n} collision-free sequences in some seed: draw more sequences (at least {minimum})")
    idx = [torch.nonzero(o).squeeze(-1)[:n] for o in ok]
    return fast.select(idx), [torch.stack([t[s, i] for s, i in enumerate(idx)]) for t in tensors]


class MHNSetup(NamedTuple):
    """Slow weights, a batch and its storage: the starting point of most checks of {ref}`ch-attention-results`."""

    slow: SlowWeights
    X: torch.Tensor
    xq: torch.Tensor
    y: torch.Tensor
    fast: FastWeights


def mhn_setup(config: MHNConfig, seeds: int, sequences: int, weights: str, data: tuple, fast: str,
              hard: bool = False, dtype=F64) -> MHNSetup:
    """Initial MHN-Transformer weights for ``seeds`` seeds (stream ``weights``; :func:`harder` if ``hard``), a
    batch of ``sequences`` per seed (``data`` = (seed, stream) of :func:`theory_batch`) and its fresh storage
    (stream ``fast``): {prf:ref}`thm-mhn-transformer-equivalence`, {prf:ref}`prop-slot-free-gradients`."""
    slow = init_mhn(config, torch_generators(0, seeds, weights), dtype)
    slow = harder(slow) if hard else slow
    X, xq, y = theory_batch(data[0], seeds, sequences, data[1], dtype)
    return MHNSetup(slow, X, xq, y, store_fresh(config, slow, X, fast))


def _autograd_transformer(w: SlowWeights, X, xq, y, gamma: float) -> SlowWeights:
    leaves = [t.clone().requires_grad_(True) for t in w]
    transformer_loss(SlowWeights(*leaves), X, xq, y, gamma).sum().backward()
    return SlowWeights(*(t.grad for t in leaves))


# ------------------------------------------------------------------------------------------ the lemma
def transformer_gradient_sides(w: SlowWeights, X, xq, y, gamma: float) -> tuple[SlowWeights, SlowWeights]:
    """Both sides of {prf:ref}`lem-transformer-gradients`: the outer-product gradients of
    :func:`~slotless.attention.transformer.transformer_grads` and ``torch.autograd`` on the summed loss."""
    return transformer_grads(w, X, xq, y, gamma)[0], _autograd_transformer(w, X, xq, y, gamma)


# ------------------------------------------------------------------------------------------ Theorem 4
class EquivalenceErrors(NamedTuple):
    """Max errors of {prf:ref}`thm-mhn-transformer-equivalence` (part 1) on collision-free sequences:
    ``a`` (absolute, attention), and relative errors of ``y_hat``, ``x_tilde`` and the QV output ``W_V x~``."""

    a: float
    y_hat: float
    x_tilde: float
    qv: float


def equivalence_check(dtype, projections: bool, hard: bool, stream: str, seeds: int,
                      sequences: int) -> tuple[float, EquivalenceErrors]:
    """Both sides of {prf:ref}`thm-mhn-transformer-equivalence` (part 1), masked, at random weights: the
    MHN-Transformer's attention, output, reinstated item and QV output against the minimal transformer's
    (beta = gamma). Returns the fraction of sequences with distinct recruitment and the errors on them."""
    cfg = MHNConfig(hidden=8 if projections else 16, input_projections=projections, mask_unrecruited=True)
    s = mhn_setup(cfg, seeds, sequences, stream + "/w", (1, stream), stream + "/fast", hard, dtype)
    query, tf = mhn_query(cfg, s.slow.W_Q, s.fast, s.xq), transformer_forward(s.slow, s.X, s.xq, cfg.beta)
    ok = ~s.fast.collided
    qv = torch.einsum("...od,...bd->...bo", s.slow.W_V, query.x_tilde)
    errs = EquivalenceErrors((torch.gather(query.a, -1, s.fast.winners) - tf.a)[ok].abs().max().item(),
                             relative_error(query.y_hat[ok], tf.y_hat[ok]),
                             relative_error(query.x_tilde[ok], tf.x_tilde[ok]), relative_error(qv[ok], tf.y_hat[ok]))
    return ok.double().mean().item(), errs


class RecruitmentCheck(NamedTuple):
    """{prf:ref}`thm-mhn-transformer-equivalence` (part 2), per sequence ``(S, B)``: ``condition`` (rho >
    max(0, max_{s<t} k_s.k_t) for every t), ``own_units`` (every item in its own projected unit) and
    ``collided``."""

    condition: torch.Tensor
    own_units: torch.Tensor
    collided: torch.Tensor


def recruitment_check(hard: bool, seeds: int, sequences: int) -> RecruitmentCheck:
    """Both sides of {prf:ref}`thm-mhn-transformer-equivalence` (part 2): where the key-overlap condition
    holds, recruitment must put every item in its own unit."""
    cfg = MHNConfig(hidden=8, input_projections=True, mask_unrecruited=True)
    s = mhn_setup(cfg, seeds, sequences, "thm4b/w", (2, "thm4b"), "thm4b/fast", hard)
    K = torch.einsum("...kd,...bcd->...bck", s.slow.W_K, s.X)
    C = s.X.shape[-2]
    gram = torch.einsum("...bsk,...btk->...bst", K, K).masked_fill(~torch.ones(C, C, dtype=bool).triu(1), 0.0)
    cond = (cfg.rho > gram.amax(-2)).all(-1)          # rho > max(0, max_{s<t} k_s.k_t) for every t
    own = (s.fast.winners == s.X.argmax(-1)).all(-1)  # every item in its own projected unit
    return RecruitmentCheck(cond, own, s.fast.collided)


class NullItemErrors(NamedTuple):
    """Relative errors of the three identities of {prf:ref}`thm-mhn-transformer-equivalence` (part 3):
    ``attention`` a = (1 - m) a_TF, ``output`` y_MHN - y = m (w_bar - y), ``null_mass`` m's closed form."""

    attention: float
    output: float
    null_mass: float


@dataclass(frozen=True)
class NullItemCheck:
    """{prf:ref}`thm-mhn-transformer-equivalence` (part 3) at initialisation, on collision-free sequences:
    the identity ``errors``; the mean null mass m; the fraction of sequences whose arg-max agrees with the
    transformer's; the mean |y_MHN - y_TF| and the mean of its bound; whether the bound holds everywhere."""

    errors: NullItemErrors
    null_mass: float
    argmax_agreement: float
    deviation: float
    bound: float
    bound_holds: bool


def null_item_check(seeds: int, sequences: int, hidden: int = 8) -> NullItemCheck:
    """Both sides of {prf:ref}`thm-mhn-transformer-equivalence` (part 3): the unmasked MHN-Transformer with
    projections against the transformer plus null items."""
    cfg = MHNConfig(hidden=hidden, input_projections=True, mask_unrecruited=False)
    s = mhn_setup(cfg, seeds, sequences, "thm4c/w", (3, "thm4c"), "thm4c/fast")
    ok = ~s.fast.collided
    tf, un = transformer_forward(s.slow, s.X, s.xq, cfg.beta), mhn_query(cfg, s.slow.W_Q, s.fast, s.xq)
    free = (~s.fast.recruited).to(F64)                                     # unrecruited units
    m = (un.a * free).sum(-1)                                              # attention mass on null items
    mw = torch.einsum("...boh,...bh->...bo", s.fast.W_oh, un.a * free)     # m * w_bar
    n_null = hidden - s.X.shape[-2]
    m_formula = n_null / (n_null + torch.exp(cfg.beta * torch.einsum("...bck,...bk->...bc", tf.K, tf.q)).sum(-1))
    bound = m * ((s.fast.W_oh - tf.y_hat.unsqueeze(-1)).norm(dim=-2) * free).amax(-1)
    dev = (un.y_hat - tf.y_hat).norm(dim=-1)
    errors = NullItemErrors(
        relative_error(torch.gather(un.a, -1, s.fast.winners)[ok], ((1 - m).unsqueeze(-1) * tf.a)[ok]),
        relative_error((un.y_hat - tf.y_hat)[ok], (mw - m.unsqueeze(-1) * tf.y_hat)[ok]),
        relative_error(m[ok], m_formula[ok]))
    agree = (un.y_hat.argmax(-1) == tf.y_hat.argmax(-1))[ok].double().mean().item()
    return NullItemCheck(errors, m[ok].mean().item(), agree, dev[ok].mean().item(), bound[ok].mean().item(),
                         bool((dev[ok] <= bound[ok] + 1e-12).all()))


@dataclass(frozen=True)
class DeviationCurve:
    """{numref}`fig-attention-results-deviation`: per n_h of ``hidden``, the relative output deviation
    |y_MHN - y_TF| / |y_TF| ``(S, B)`` and the collision flags ``(S, B)`` at initialisation."""

    projections: bool
    mask: bool
    hidden: tuple
    deviation: list
    collided: list

    @property
    def mean(self) -> np.ndarray:
        """Mean deviation per n_h."""
        return np.array([d.mean() for d in self.deviation])

    @property
    def se(self) -> np.ndarray:
        """Standard error (ddof 0) over sequences of the mean deviation, per n_h."""
        return np.array([d.std() / np.sqrt(d.size) for d in self.deviation])

    @property
    def collision_rate(self) -> np.ndarray:
        """Fraction of sequences with a collision, per n_h."""
        return np.array([c.mean() for c in self.collided])


def deviation_curve(projections: bool, mask: bool, hidden_grid, seeds: int, sequences: int,
                    letters: int = LETTERS) -> DeviationCurve:
    """{prf:ref}`thm-mhn-transformer-equivalence` broken on purpose: the output deviation of the
    MHN-Transformer from the minimal transformer at initialisation, for each n_h of ``hidden_grid`` (those
    below 2L are skipped with projections, which need them)."""
    hidden = tuple(nh for nh in hidden_grid if nh >= 2 * letters or not projections)
    devs, colls = [], []
    for nh in hidden:
        cfg = MHNConfig(hidden=nh, input_projections=projections, mask_unrecruited=mask)
        s = mhn_setup(cfg, seeds, sequences, f"dev/w/{nh}", (4, f"dev/{nh}"), f"dev/fast/{nh}")
        query, tf = mhn_query(cfg, s.slow.W_Q, s.fast, s.xq), transformer_forward(s.slow, s.X, s.xq, cfg.beta)
        devs.append(((query.y_hat - tf.y_hat).norm(dim=-1) / tf.y_hat.norm(dim=-1)).numpy())
        colls.append(s.fast.collided.numpy())
    return DeviationCurve(projections, mask, hidden, devs, colls)


# ------------------------------------------------------------------------------------------ Proposition 5
def qv_gradient_sides(config: MHNConfig, slow: SlowWeights, fast: FastWeights, xq, y):
    """Both sides of {prf:ref}`prop-slot-free-gradients` (part 1): the local W_Q and W_V gradients of
    :func:`~slotless.attention.mhn.mhn_local_grads` and ``torch.autograd`` of the QV loss through the MHN's
    own query (fast weights fixed). Returns ``((dW_Q, dW_V), (autograd W_Q, autograd W_V))``."""
    grads, _ = mhn_local_grads(config, slow, fast, xq, y)
    WQ, WV = slow.W_Q.clone().requires_grad_(True), slow.W_V.clone().requires_grad_(True)
    x_t = mhn_query(config, WQ, fast, xq).x_tilde
    ((torch.einsum("...od,...bd->...bo", WV, x_t) - y) ** 2).sum().backward()
    return (grads.dW_Q, grads.dW_V), (WQ.grad, WV.grad)


def slot_free_gradient_sides(config: MHNConfig, slow: SlowWeights, fast: FastWeights, X, xq, y):
    """Both sides of {prf:ref}`prop-slot-free-gradients` (part 2): the local W_Q and W_V gradients against
    ``torch.autograd`` through the minimal transformer (use collision-free sequences, :func:`collision_free`).
    Returns ``((dW_Q, dW_V), (autograd W_Q, autograd W_V))``."""
    grads, _ = mhn_local_grads(config, slow, fast, xq, y)
    auto = _autograd_transformer(slow, X, xq, y, config.beta)
    return (grads.dW_Q, grads.dW_V), (auto.W_Q, auto.W_V)


# ------------------------------------------------------------------------------------------ Remark 6
class Counterexample(NamedTuple):
    """{prf:ref}`rem-wk-obstruction`: the largest difference between contexts A and B in q, a, x~ and y_hat,
    and the exact W_K gradients of the two contexts."""

    forward_difference: float
    grad_a: torch.Tensor
    grad_b: torch.Tensor


def _counterexample(key_dim: int, letters: int):
    """The weights, the four item codes (mu + d, mu - d, mu + d', mu - d') and the two contexts of the
    counterexample of {prf:ref}`rem-wk-obstruction`, as stacked tensors (2 contexts, 1 sequence each)."""
    g = torch_generators(0, 1, "rem6")[0]
    D = 3 * letters
    W = SlowWeights(torch.randn(key_dim, D, generator=g, dtype=F64) / np.sqrt(key_dim),
                    torch.randn(key_dim, D, generator=g, dtype=F64) / np.sqrt(key_dim),
                    torch.randn(2, D, generator=g, dtype=F64))
    x_q, mu, d1, d2 = torch.randn(4, D, generator=g, dtype=F64)
    w = W.W_K.T @ W.W_Q @ x_q                                  # the logits depend on an item x only through w.x
    d1, d2 = (d - (d @ w) / (w @ w) * w for d in (d1, d2))    # project d, d' onto the orthogonal complement of w
    codes = torch.stack([mu + d1, mu - d1, mu + d2, mu - d2])  # (4, 3L): one code per row
    X2 = torch.stack([codes[:2], codes[2:]]).unsqueeze(1)      # context A = codes 0, 1; context B = codes 2, 3
    W2 = SlowWeights(*(t.expand(2, *t.shape) for t in W))
    return W2, codes, X2, x_q.expand(2, 1, D), torch.tensor([1.0, 0.0], dtype=F64).expand(2, 1, 2)


def obstruction_counterexample(key_dim: int = 32, letters: int = LETTERS) -> Counterexample:
    """The counterexample of {prf:ref}`rem-wk-obstruction`, built as in its proof with Gaussian (distributed)
    item codes of dimension 3L: two contexts (mu + d, mu - d) and (mu + d', mu - d') with d, d' orthogonal to
    W_K^T W_Q x_q, so that q, a, x~, y_hat and e agree while the W_K gradients differ."""
    W2, _, X2, xq2, y2 = _counterexample(key_dim, letters)
    grads, out = transformer_grads(W2, X2, xq2, y2, 1.0)
    same = max((getattr(out, k)[0] - getattr(out, k)[1]).abs().max().item() for k in ("q", "a", "x_tilde", "y_hat"))
    return Counterexample(same, grads.W_K[0], grads.W_K[1])


def dictionary_wk_grad(q, x_tilde, W_V, e, y_hat, gamma: float, codes) -> torch.Tensor:
    """The exact W_K gradient from the first reinstatement alone, for items drawn from a fixed dictionary of
    **linearly independent** codes ({prf:ref}`rem-wk-obstruction`, part 1; {eq}`eq-attention-results-dictionary-wk`).

    ``codes: (m, n)``, one code per row (full row rank). The attention on each code is ``c = x~ D^+`` (the unique
    coefficients of x~ in the codes), the second moment ``M = D^T diag(c) D``, and
    ``G = 2 gamma sum_b q [D^T (c ⊙ D W_V^T e) - (y_hat^T e) x~]^T``, shape ``(..., d_k, n)``. Inputs as for
    :func:`slotless.attention.rules.exact_onehot_wk_grad`; for one-hot codes (``D = I``) the two agree."""
    coeff = x_tilde @ torch.linalg.pinv(codes)        # (..., B, m): attention on each code
    code_error = (e @ W_V) @ codes.T                  # (..., B, m): d_i^T W_V^T e
    r = (coeff * code_error) @ codes - (y_hat * e).sum(-1, keepdim=True) * x_tilde
    return 2 * gamma * outer_sum(q, r)


@dataclass(frozen=True)
class DictionaryCheck:
    """{prf:ref}`rem-wk-obstruction` on a dictionary of item codes: its ``rank`` and number of ``codes``, the
    largest ``|cosine|`` between two different codes (0 for an orthonormal dictionary), and relative errors
    against the true W_K gradient of :func:`dictionary_wk_grad` (``dictionary``) and of the one-hot formula
    (``onehot``). For a dependent dictionary, ``gradient_difference``: how much the true gradients of two contexts
    with the same query-step quantities differ (relative); else NaN."""

    rank: int
    codes: int
    max_code_cosine: float
    dictionary: float
    onehot: float
    gradient_difference: float


def _max_cosine(codes: torch.Tensor) -> float:
    unit = codes / codes.norm(dim=-1, keepdim=True)
    cos = unit @ unit.T
    return (cos - torch.eye(len(codes), dtype=cos.dtype)).abs().max().item()


def independent_code_check(seeds: int, sequences: int, key_dim: int = 32, letters: int = LETTERS) -> DictionaryCheck:
    """Both sides of {prf:ref}`rem-wk-obstruction` (part 1) for a linearly independent, non-orthogonal code: every
    token of the Case Sequence Task is encoded as a row of a random Gaussian ``(3L, 3L)`` matrix (full rank), the
    context items use the 2L letter codes; :func:`dictionary_wk_grad` against ``torch.autograd`` (harder weights)."""
    L = check_int("letters", letters, 1)
    g = torch_generators(11, 1, "rem6/independent")[0]
    embed = torch.randn(3 * L, 3 * L, generator=g, dtype=F64) / np.sqrt(3 * L)   # row t: the code of token t
    X1, xq1, y = theory_batch(11, seeds, sequences, "rem6/independent")
    X, xq = X1 @ embed, xq1 @ embed                                             # one-hot rows -> codes
    slow = harder(init_transformer(TransformerConfig(L, CONTEXT, key_dim), torch_generators(11, seeds, "rem6/iw"), F64))
    true = _autograd_transformer(slow, X, xq, y, 1.0).W_K
    tf = transformer_forward(slow, X, xq, 1.0)
    e = tf.y_hat - y
    codes = embed[:2 * L]
    formula = dictionary_wk_grad(tf.q, tf.x_tilde, slow.W_V, e, tf.y_hat, 1.0, codes)
    onehot = exact_onehot_wk_grad(tf.q, tf.x_tilde, slow.W_V, e, tf.y_hat, 1.0)
    return DictionaryCheck(int(torch.linalg.matrix_rank(codes)), len(codes), _max_cosine(codes),
                           relative_error(formula, true), relative_error(onehot, true), float("nan"))


def dependent_code_check(key_dim: int = 32, letters: int = LETTERS) -> DictionaryCheck:
    """{prf:ref}`rem-wk-obstruction` (part 2) for a linearly dependent code: the four codes of the counterexample
    (``mu ± d``, ``mu ± d'``: rank 3). Its two contexts have the same x~ (and q, a, y_hat, e), so
    :func:`dictionary_wk_grad` (or any function of them) gives one value for both, while their true gradients
    differ: ``dictionary`` is the larger of its two relative errors."""
    W2, codes, X2, xq2, y2 = _counterexample(key_dim, letters)
    grads, out = transformer_grads(W2, X2, xq2, y2, 1.0)
    e = out.y_hat - y2
    formula = dictionary_wk_grad(out.q, out.x_tilde, W2.W_V, e, out.y_hat, 1.0, codes)
    onehot = exact_onehot_wk_grad(out.q, out.x_tilde, W2.W_V, e, out.y_hat, 1.0)
    errors = [relative_error(formula[i], grads.W_K[i]) for i in range(2)]
    return DictionaryCheck(int(torch.linalg.matrix_rank(codes)), len(codes), _max_cosine(codes), max(errors),
                           max(relative_error(onehot[i], grads.W_K[i]) for i in range(2)),
                           relative_error(grads.W_K[0], grads.W_K[1]))


@dataclass(frozen=True)
class DistributedCodeCheck:
    """{prf:ref}`rem-wk-obstruction` on random distributed items: relative errors against autograd of the
    second-moment form {eq}`eq-attention-results-second-moment`, of the one-hot shortcut (which should fail),
    and of the MHN's second, error-weighted reinstatement (on ``collision_free`` sequences per seed)."""

    second_moment: float
    onehot: float
    second_reinstatement: float
    collision_free: int


def distributed_code_check(seeds: int, sequences: int, hidden: int = 32) -> DistributedCodeCheck:
    """Both sides of {eq}`eq-attention-results-second-moment` and of the second reinstatement of
    {prf:ref}`rem-wk-obstruction` for Gaussian item codes (no projections, masked, harder weights)."""
    cfg = MHNConfig(hidden=hidden, input_projections=False, mask_unrecruited=True)
    slow = harder(init_mhn(cfg, torch_generators(0, seeds, "rem6b/w"), F64))
    _, xq, y = theory_batch(7, seeds, sequences, "rem6b")
    D, C = xq.shape[-1], cfg.context
    X = torch.randn(seeds, sequences, C, D, generator=torch_generators(7, 1, "rem6b/items")[0], dtype=F64) / np.sqrt(D)
    true = _autograd_transformer(slow, X, xq, y, 1.0).W_K
    tf = transformer_forward(slow, X, xq, 1.0)
    e = tf.y_hat - y
    moment = torch.einsum("...bc,...bci,...bcj->...bij", tf.a, X, X)                       # sum_j a_j x_j x_j^T
    bracket = torch.einsum("...bij,...oj,...bo->...bi", moment, slow.W_V, e) - (tf.y_hat * e).sum(-1, keepdim=True) * tf.x_tilde
    second_moment = 2 * torch.einsum("...bk,...bi->...ki", tf.q, bracket)
    onehot = exact_onehot_wk_grad(tf.q, tf.x_tilde, slow.W_V, e, tf.y_hat, 1.0)
    fast, (Xd, xqd, yd) = collision_free(store_fresh(cfg, slow, X, "rem6b/fast"), X, xq, y)
    g_loc, qry = mhn_local_grads(cfg, slow, fast, xqd, yd)
    second = wk_rule_gradient("exact_reinstatement", cfg, slow, fast, xqd, yd, qry, g_loc)
    return DistributedCodeCheck(relative_error(second_moment, true), relative_error(onehot, true),
                                relative_error(second, _autograd_transformer(slow, Xd, xqd, yd, 1.0).W_K), Xd.shape[1])


# ------------------------------------------------------------------------------------------ the one-hot proposition
def onehot_identity_sides(w: SlowWeights, X, xq, y, gamma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sides of {prf:ref}`prop-onehot-wk-gradient` with the transformer's own x~: the formula
    {eq}`eq-attention-results-onehot-wk` and ``torch.autograd``'s W_K gradient."""
    tf = transformer_forward(w, X, xq, gamma)
    formula = exact_onehot_wk_grad(tf.q, tf.x_tilde, w.W_V, tf.y_hat - y, tf.y_hat, gamma)
    return formula, _autograd_transformer(w, X, xq, y, gamma).W_K


def mhn_onehot_sides(mask: bool, X, xq, y, seeds: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sides of {prf:ref}`prop-onehot-wk-gradient` with the MHN's own reinstated x~ (projections, harder
    weights, collision-free sequences of ``X, xq, y``): the rule ``exact_onehot`` and the true (slot-based)
    W_K gradient. Exact when the unrecruited units are masked."""
    cfg = MHNConfig(hidden=8, input_projections=True, mask_unrecruited=mask, wk_rule="exact_onehot")
    w = harder(init_mhn(cfg, torch_generators(0, seeds, "prop-onehot2/w"), F64))
    fast, (Xd, xqd, yd) = collision_free(store_fresh(cfg, w, X, "prop-onehot2/fast"), X, xq, y)
    g_loc, qry = mhn_local_grads(cfg, w, fast, xqd, yd)
    rule = wk_rule_gradient("exact_onehot", cfg, w, fast, xqd, yd, qry, g_loc)
    return rule, transformer_grads(w, Xd, xqd, yd, cfg.beta)[0].W_K


# ------------------------------------------------------------------------------------------ Theorem 7
@dataclass(frozen=True)
class ContractionCheck:
    """{prf:ref}`thm-qk-alignment` (part 2) for one ``qk_align`` step under correct reinstatement: the new key
    residuals, their prediction (1 - 2 eta n_i)(r_i - dq), the largest 2 eta n_i, and whether the query-token
    columns of W_K stayed unchanged."""

    residual: torch.Tensor
    predicted: torch.Tensor
    max_rate: float
    query_columns_unchanged: bool


def qk_contraction_check(seeds: int, sequences: int, eta: float = 1e-3, letters: int = LETTERS) -> ContractionCheck:
    """Both sides of {prf:ref}`thm-qk-alignment` (part 2): one ``qk_align`` step with x~ = the queried item and
    an arbitrary change of W_Q, against the exact contraction of every key residual."""
    L = letters
    cfg = MHNConfig(hidden=8, wk_rule="qk_align")
    slow = init_mhn(cfg, torch_generators(0, seeds, "thm7a/w"), F64)
    X, xq, y = theory_batch(9, seeds, sequences, "thm7a")
    item = xq[..., 2 * L:].argmax(-1) + L * y.argmax(-1)                 # index of the queried item, (S, B)
    x_star = torch.nn.functional.one_hot(item, 3 * L).to(F64)            # correct reinstatement
    n = x_star.sum(-2)[..., : 2 * L]                                     # n_i per key column, (S, 2L)
    W_Q_new = slow.W_Q + 0.01 * torch.randn(slow.W_Q.shape, generator=torch_generators(9, 1, "thm7a/dq")[0], dtype=F64)
    G = wk_rule_gradient("qk_align", cfg, slow, None, xq, y, MHNQuery(None, None, None, x_star), None, W_Q_new=W_Q_new)
    W_K_new = slow.W_K - eta * G

    def q_cols(WQ):  # q_{l(i)} for the 2L letter columns
        return WQ[..., 2 * L:].repeat(1, 1, 2)

    r_old, r_new = slow.W_K[..., : 2 * L] - q_cols(slow.W_Q), W_K_new[..., : 2 * L] - q_cols(W_Q_new)
    pred = (1 - 2 * eta * n).unsqueeze(-2) * (r_old - (q_cols(W_Q_new) - q_cols(slow.W_Q)))
    return ContractionCheck(r_new, pred, (2 * eta * n).max().item(), torch.equal(W_K_new[..., 2 * L:], slow.W_K[..., 2 * L:]))


@dataclass(frozen=True)
class KeyTracking:
    """What {prf:ref}`thm-qk-alignment` needs from a training run, per batch ``t`` (before its update):
    ``residual (T, S, 2L)`` = ||W_K x_i - q_l(i)|| per letter column i; ``query_norm (T, S, L)`` = ||q_l||;
    ``query_drift (T, S, L)`` = ||dq_l|| made by the batch's W_Q update; ``counts (T, S, 2L)`` = n_i, the
    sequences whose queried item is x_i; ``attention_on_item (T, S)`` = the mean attention on the queried
    item's own unit."""

    residual: np.ndarray
    query_norm: np.ndarray
    query_drift: np.ndarray
    counts: np.ndarray
    attention_on_item: np.ndarray

    @property
    def relative_residual(self) -> np.ndarray:
        """||W_K x_i - q_l(i)|| / ||q_l(i)||, ``(T, S, 2L)``."""
        return self.residual / np.concatenate([self.query_norm, self.query_norm], -1)


class KeyTrackingRecorder:
    """The ``on_batch`` hook of :func:`~slotless.attention.training.run_sweep` that records
    :class:`KeyTracking` for {prf:ref}`thm-qk-alignment` (MHN models with input projections, so that the
    queried item sits in its own unit under distinct recruitment). Call :meth:`tracking` after the run."""

    def __init__(self, letters: int = LETTERS):
        self.letters = check_int("letters", letters, 1)
        self._rows = {k: [] for k in ("residual", "query_norm", "query_drift", "counts", "attention_on_item")}

    def __call__(self, record: BatchRecord) -> None:
        L, before, after = self.letters, record.before, record.after
        if record.step is None:
            raise ConfigError("KeyTrackingRecorder records MHN models only, not model='transformer'")
        item = record.xq[..., 2 * L:].argmax(-1) + L * record.y.argmax(-1)  # the queried item = its own unit
        q_before = before.W_Q[..., 2 * L:]
        rows = {"residual": (before.W_K[..., :2 * L] - q_before.repeat(1, 1, 2)).norm(dim=-2),
                "query_norm": q_before.norm(dim=-2),
                "query_drift": (after.W_Q - before.W_Q)[..., 2 * L:].norm(dim=-2),
                "counts": torch.nn.functional.one_hot(item, 2 * L).sum(-2),
                "attention_on_item": torch.gather(record.step.query.a, -1, item.unsqueeze(-1)).squeeze(-1).mean(-1)}
        for key, value in rows.items():
            self._rows[key].append(value.numpy())

    def tracking(self) -> KeyTracking:
        return KeyTracking(**{k: np.array(v) for k, v in self._rows.items()})


def tracking_bound(tracking: KeyTracking, key_lr: float) -> np.ndarray:
    """The tracking bound of {prf:ref}`thm-qk-alignment` (part 2) along a run, per seed and key column,
    ``(T + 1, S, 2L)``: b^(0) = ||r_i^(0)||, b^(t+1) = (1 - 2 eta_K n_i^(t)) (b^(t) + ||dq_l(i)^(t)||)."""
    b, dq = [tracking.residual[0]], np.concatenate([tracking.query_drift, tracking.query_drift], -1)
    for t in range(len(tracking.counts)):
        b.append((1 - 2 * key_lr * tracking.counts[t]) * (b[-1] + dq[t]))
    return np.array(b)


@dataclass(frozen=True)
class KeyTrackingSummary:
    """{prf:ref}`thm-qk-alignment` at the end of a run, per seed ``(S,)``: the mean relative key residual at
    the start and at the end, the part-2 bound at the end (relative), and the allowance 2 (1 - a_j*) for the
    blended x~ (a_j*: the mean attention on the correct unit over the last tenth of the run)."""

    initial: np.ndarray
    final: np.ndarray
    bound: np.ndarray
    blend_allowance: np.ndarray


def key_tracking_summary(result: SweepResult, tracking: KeyTracking, key_lr: float,
                         letters: int = LETTERS) -> KeyTrackingSummary:
    """Both sides of {prf:ref}`thm-qk-alignment` (part 2) after training: the final relative key residual
    (:func:`~slotless.attention.diagnostics.key_query_distance` of the final weights) against the tracking
    bound (:func:`tracking_bound`) plus the blend allowance."""
    L = letters
    W_Q, W_K = result.weights["W_Q"], result.weights["W_K"]
    final = key_query_distance(W_Q, W_K, L).reshape(len(W_Q), -1)
    q_norm = torch.from_numpy(W_Q)[..., 2 * L:].norm(dim=-2).numpy()
    bound = (tracking_bound(tracking, key_lr)[-1] / np.concatenate([q_norm] * 2, -1)).mean(-1)
    allowance = 2 * (1 - tracking.attention_on_item[-len(tracking.counts) // 10:].mean(0))
    return KeyTrackingSummary(tracking.relative_residual[0].mean(-1), final.mean(-1), bound, allowance)


@dataclass(frozen=True)
class Margins:
    """{prf:ref}`thm-qk-alignment` (part 3) for every query letter l, case c, distractor letter l' != l and
    case c' (flattened): the actual margin q_l.(k_l^c - k_l'^c'), the fixed-point margin ||q_l||^2 - q_l.q_l',
    and its Cauchy-Schwarz slack ||q_l|| (||r_l,c|| + ||r_l',c'||); ``identity_error``: the max error of the
    margin identity."""

    actual: np.ndarray
    fixed_point: np.ndarray
    slack: np.ndarray
    identity_error: float


def attention_margins(W_Q: np.ndarray, W_K: np.ndarray, letters: int = LETTERS) -> Margins:
    """Both sides of {prf:ref}`thm-qk-alignment` (part 3) for stacked weights ``W_Q, W_K (S, d_k, 3L)``."""
    L = letters
    S, dk = W_Q.shape[0], W_Q.shape[-2]
    Q, K = W_Q[..., 2 * L:], W_K[..., : 2 * L].reshape(S, dk, 2, L)
    real = np.einsum("skl,skcl->slc", Q, K)[..., :, :, None, None] - np.einsum("skl,skcm->slcm", Q, K)[:, :, None]  # (S, l, c, c', l')
    ideal = np.einsum("skl,skl->sl", Q, Q)[:, :, None] - np.einsum("skl,skm->slm", Q, Q)                       # (S, l, l')
    norms = np.linalg.norm(Q, axis=1)
    half = 0.5 * np.linalg.norm(Q[..., :, None] - Q[..., None, :], axis=1) ** 2 + 0.5 * (
        norms[:, :, None] ** 2 - norms[:, None, :] ** 2)
    res = np.linalg.norm(K - Q[:, :, None, :], axis=1)                                                          # (S, c, l)
    slack = norms[:, :, None, None, None] * (res.transpose(0, 2, 1)[:, :, :, None, None] + res[:, None, None])
    off = ~np.eye(L, dtype=bool)                                                                                # l' != l
    real_o = real.transpose(0, 1, 4, 2, 3)[:, off]
    ideal_o = np.broadcast_to(ideal[:, off][..., None, None], real_o.shape)
    return Margins(real_o, ideal_o, slack.transpose(0, 1, 4, 2, 3)[:, off], float(np.abs(ideal - half).max()))


@dataclass(frozen=True)
class RuleCosines:
    """Cosines between each W_K rule's direction and the true (slot-based) W_K gradient on the checkpoint
    batches of a run ({numref}`fig-attention-results-cosines`): ``cosines (checkpoints, rules, S)``,
    ``clean (checkpoints, S)`` = the batch had no collision, ``batches``: the 1-based batch of each checkpoint."""

    rules: tuple
    cosines: np.ndarray
    clean: np.ndarray
    batches: np.ndarray

    def of(self, rule: str) -> np.ndarray:
        """The cosines of one rule, ``(checkpoints, S)``."""
        return self.cosines[:, self.rules.index(rule)]

    def second_half(self, rule: str) -> tuple[float, float]:
        """Mean over the second half of the checkpoints (and seeds), and its SE treating them as independent."""
        half = self.of(rule)[len(self.cosines) // 2:]
        return half.mean(), half.std() / np.sqrt(half.size)


def rule_cosines(result: SweepResult, rules) -> RuleCosines:
    """The cosine diagnostics of a run with ``track_cosines`` (:func:`~slotless.attention.training.run_sweep`)
    on its checkpoint batches, for {prf:ref}`prop-onehot-wk-gradient` and {prf:ref}`thm-qk-alignment`."""
    every = result.config.cosine_every
    rules = tuple(rules)
    cos = np.stack([result.cosines[r][:, ::every].T for r in rules], axis=1)
    return RuleCosines(rules, cos, result.collisions[:, ::every].T == 0, np.arange(cos.shape[0]) * every + 1)


@dataclass(frozen=True)
class CompanionCheck:
    """{prf:ref}`thm-qk-alignment` (part 4) at one alpha: the relative error of the closed form of g_j; the
    fraction of agreeing items with a non-Hebbian true gradient; the fraction of sequences with
    p > (1 + alpha) / (2 alpha); whether every disagreeing item's gradient is anti-Hebbian."""

    closed_form_error: float
    non_hebbian_agreeing: float
    above_threshold: float
    anti_hebbian_disagreeing: bool


def companion_check(alpha: float, sequences: int, letters: int = LETTERS) -> CompanionCheck:
    """Both sides of {prf:ref}`thm-qk-alignment` (part 4): ``sequences`` random sequences with W_V = alpha
    times the exact case map and attention of random sharpness (keys and queries scaled by a per-sequence
    factor in [0.5, 4]); the exact per-item coefficient g_j, read off the true gradient as
    q^T (dL/dW_K) e_{i_j} / (2 ||q||^2), against its closed form."""
    L = letters
    X, xq, y = (t.transpose(0, 1) for t in theory_batch(10, 1, sequences, "companion"))  # (n, 1, ...)
    w0 = init_transformer(TransformerConfig(), torch_generators(10, 1, "companion/w"), F64)
    scale = torch.empty(sequences, 1, 1, dtype=F64).uniform_(0.5, 4.0, generator=torch_generators(10, 1, "companion/s")[0])
    agree = (X[..., :, :L].sum(-1) == y[..., :1]).to(F64)               # (n, 1, C): item's case equals the target's
    W_V = torch.zeros(2, 3 * L, dtype=F64)
    W_V[0, :L], W_V[1, L:2 * L] = alpha, alpha
    W = SlowWeights(w0.W_Q * scale, w0.W_K * scale, W_V.expand(sequences, 2, 3 * L))
    G, out = transformer_grads(W, X, xq, y, 1.0)
    g = torch.einsum("nbk,nkd,nbcd->nbc", out.q, G.W_K, X) / (2 * out.q.pow(2).sum(-1, keepdim=True))
    p = (out.a * agree).sum(-1, keepdim=True)
    pred = torch.where(agree > 0, out.a * alpha * (1 - p) * (2 * alpha * p - alpha - 1),
                       out.a * alpha * p * (1 + alpha - 2 * alpha * p))
    tol = 1e-12 * g.abs().max()                                          # g_j = 0 exactly when p = 1 (all items agree)
    return CompanionCheck(relative_error(g, pred), ((g > tol) & (agree > 0)).sum().item() / agree.sum().item(),
                          (p > (1 + alpha) / (2 * alpha) + 1e-12).double().mean().item(),
                          bool((g[agree == 0] >= -tol).all()))
