"""The headline claims of Part II: each a function that computes its statistic, its interval and its verdict.

Book: {ref}`sec-training-claims` lists them; {ref}`ch-training` asserts each on its paper-scale runs, and
``tests/test_claims.py`` asserts each at CI scale (:func:`ci_plan`: the real task, L = C = 4, 5000 batches,
:data:`CI_SEEDS` seeds) and checks that a deliberate mutation of its input (:data:`CLAIMS`) makes it fail: a
claim that no mutation can fail is not a claim.

Every function takes the arrays of runs (:func:`slotless.attention.training.result_arrays`), paired by seed where
it compares two configurations (seed ``s`` has the same initial weights, batches and fast-weight draws in every
configuration), and returns a :class:`ClaimResult`.
"""

from __future__ import annotations

import math

import numpy as np

from ..checks import ConfigError
from ..claim_types import ClaimResult, HeadlineClaim
from ..rng import trial_generator
from . import stats
from .diagnostics import case_invariance, score_sequences
from .task import (
    HELDOUT_FRACTION,
    HELDOUT_LETTERS,
    enumerate_sequences,
    hand_built_weights,
    heldout_split,
    memorising_control,
)
from .training import SweepConfig, SweepStreams, resolve_config

__all__ = [
    "ALPHA",
    "GENERALISES_ABOVE",
    "CASE_INVARIANT_ABOVE",
    "learns",
    "fails",
    "key_rate_effect",
    "collisions_explain_failures",
    "exact_rule_faster_masked",
    "generalises",
    "fails_to_generalise",
    "case_invariant_keys",
    "common_seeds",
    "memorising_control_arrays",
    "hand_built_arrays",
    "CI_SEEDS",
    "CI_BATCHES",
    "CI_BATCH_SIZE",
    "GENERALISATION_MODELS",
    "generalisation_config",
    "ci_plan",
    "ci_runs",
    "CLAIMS",
]

#: The significance level of every test of a claim (two-sided unless the claim names a direction).
ALPHA = 0.05
#: A model generalises to held-out sequences when the lower 95% bound of its mean held-out accuracy over seeds
#: exceeds this (chance is 1/2; the memorising control scores about 1/2 on a split that can fail).
GENERALISES_ABOVE = 0.9
#: Keys are case-invariant when the lower 95% bound of the mean case-invariance index
#: (:func:`slotless.attention.diagnostics.case_invariance`) over perfect seeds exceeds this (random keys: about 0).
CASE_INVARIANT_ABOVE = 0.5


def common_seeds(a: dict, b: dict) -> tuple[dict, dict]:
    """Two runs restricted to the seeds they share: seeds ``0 .. n-1`` with ``n`` the smaller seed count (every run
    trains seeds ``0, 1, ...``, and seed ``s`` is the same draw in both), so that they pair seed by seed
    ({ref}`sec-training-claims`)."""
    n = min(len(a["final_accuracy"]), len(b["final_accuracy"]))
    return tuple({k: (v[:n] if k != "seconds" else v) for k, v in run.items()} for run in (a, b))


def _count(run: dict) -> tuple[stats.SuccessCount, tuple]:
    k, n = stats.success_count(run["final_accuracy"])
    return stats.SuccessCount(k, n), stats.clopper_pearson(k, n)


def learns(run: dict, name: str = "model") -> ClaimResult:
    """The model reaches perfect accuracy (final accuracy >= 0.99) in a clear majority of seeds: the exact 95%
    lower bound of its per-seed success probability exceeds 1/2 ({ref}`ch-training`, ``eq-methods-final-accuracy``)."""
    (k, n), ci = _count(run)
    return ClaimResult(f"{name} learns", k / n, ci, ci[0] > 0.5, f"{k}/{n} seeds >= 0.99, 95% CI [{ci[0]:.2f}, {ci[1]:.2f}]")


def fails(run: dict, name: str = "model") -> ClaimResult:
    """The model fails in a clear majority of seeds: the exact 95% upper bound of its per-seed success probability
    is below 1/2 ({ref}`ch-training`)."""
    (k, n), ci = _count(run)
    return ClaimResult(f"{name} fails", k / n, ci, ci[1] < 0.5, f"{k}/{n} seeds >= 0.99, 95% CI [{ci[0]:.2f}, {ci[1]:.2f}]")


def key_rate_effect(same_rate: dict, slow_keys: dict) -> ClaimResult:
    """MHN-trained W_K fails under the paper preset and learns with key rate 1e-4 ({ref}`ch-training`): under the
    paper preset (key rate = lr = 1e-3) it fails in a clear majority of seeds (:func:`fails`), with key rate 1e-4 and nothing else changed it learns
    (:func:`learns`), and the same seeds succeed significantly more often with the slower key rate (exact one-sided
    McNemar test at :data:`ALPHA`; the statistic is the paired difference in success probability with Newcombe's
    interval)."""
    same_rate, slow_keys = common_seeds(same_rate, slow_keys)
    lost, won = fails(same_rate), learns(slow_keys)
    m = stats.paired_success(slow_keys, same_rate, alternative="greater")
    holds = lost.holds and won.holds and m.p < ALPHA
    return ClaimResult("MHN-W_K: paper preset fails, key rate 1e-4 learns", m.difference, m.difference_ci, holds,
                       f"key rate = lr {_count_text(lost)}; key rate 1e-4 {_count_text(won)}; discordant seeds "
                       f"{m.a_only} for 1e-4, {m.b_only} for = lr, one-sided McNemar p = {m.p:.2g}")


def _count_text(result: ClaimResult) -> str:
    """The count part of a :func:`learns`/:func:`fails` summary, e.g. ``'9/10 seeds >= 0.99'``."""
    return result.summary.split(",")[0]


def collisions_explain_failures(failing: dict, succeeding: dict) -> ClaimResult:
    """Failing seeds had key collisions ({ref}`ch-training`): over the seeds that fail (final accuracy < 0.99) in
    configuration ``failing`` and succeed in ``succeeding`` (the same seed, so the same initial weights and
    batches), the collision rate is higher where the seed fails: exact one-sided sign test at :data:`ALPHA`, with
    the median paired difference of collision rates and its sign-test interval (lower end > 0)."""
    failing, succeeding = common_seeds(failing, succeeding)
    fail = np.asarray(failing["final_accuracy"]) < stats.SUCCESS_THRESHOLD
    win = np.asarray(succeeding["final_accuracy"]) >= stats.SUCCESS_THRESHOLD
    pair = fail & win
    if not pair.any():
        return ClaimResult("failing seeds collide", math.nan, (math.nan, math.nan), False,
                           "no seed fails in one configuration and succeeds in the other")
    t = stats.sign_test(np.asarray(failing["collision_rate"])[pair], np.asarray(succeeding["collision_rate"])[pair],
                        alternative="greater")
    holds = t.p < ALPHA and t.difference_ci[0] > 0
    return ClaimResult("failing seeds collide", t.median_difference, t.difference_ci, holds,
                       f"{t.n} seeds fail in one configuration and succeed in the other; collision rate higher where "
                       f"the seed fails in {t.a_larger}, lower in {t.b_larger}, tied in {t.ties}; median difference "
                       f"{t.median_difference:.3f}, one-sided sign test p = {t.p:.2g}")


def exact_rule_faster_masked(exact_masked: dict, qk: dict) -> ClaimResult:
    """With masking, the exact one-hot W_K rule reaches 99% sooner than QK alignment on the same seeds
    ({ref}`ch-training`, ``eq-methods-batches-to-99``): exact two-sided sign test at :data:`ALPHA` with seeds that never
    reach 99% censored (:func:`slotless.attention.stats.paired_speed`), the exact rule faster, and the interval of
    the median paired difference (exact - QK, batches) below 0."""
    exact_masked, qk = common_seeds(exact_masked, qk)
    s = stats.paired_speed(exact_masked["batches_to_99"], qk["batches_to_99"])
    holds = s.p < ALPHA and s.a_faster > s.b_faster and s.difference_ci[1] < 0
    return ClaimResult("masked exact rule faster than QK", s.median_difference, s.difference_ci, holds,
                       f"exact faster in {s.a_faster}, QK in {s.b_faster}, tied {s.ties} of {s.n} seeds (censored: "
                       f"exact {s.censored_a}, QK {s.censored_b}); median difference {s.median_difference:.0f} "
                       f"batches; sign test p = {s.p:.2g}")


def generalises(run: dict, name: str = "model", key: str = "heldout_accuracy") -> ClaimResult:
    """The model generalises ({ref}`sec-training-generalisation`): the lower 95% (Student-t, over independent seeds,
    each with its own split) bound of its mean accuracy on held-out sequences (``key``: ``heldout_accuracy``, or
    ``context_accuracy`` for the longer context) exceeds :data:`GENERALISES_ABOVE`."""
    mean, lo, hi = stats.mean_interval(run[key])
    return ClaimResult(f"{name} generalises ({key})", mean, (lo, hi), lo > GENERALISES_ABOVE,
                       f"mean {mean:.3f} over {len(run[key])} seeds, 95% CI [{lo:.3f}, {hi:.3f}]")


def fails_to_generalise(run: dict, name: str = "model", key: str = "heldout_accuracy") -> ClaimResult:
    """The model does not generalise ({ref}`sec-training-generalisation`): the upper 95% bound of its mean held-out
    accuracy over seeds is below chance (1/2)."""
    mean, lo, hi = stats.mean_interval(run[key])
    return ClaimResult(f"{name} fails to generalise ({key})", mean, (lo, hi), hi < 0.5,
                       f"mean {mean:.3f} over {len(run[key])} seeds, 95% CI [{lo:.3f}, {hi:.3f}]")


def case_invariant_keys(run: dict, name: str = "model") -> ClaimResult:
    """The two cases of a letter get the same key direction ({ref}`ch-training`, {prf:ref}`thm-qk-alignment`): over
    the seeds that reach perfect accuracy, the lower 95% bound of the mean case-invariance index
    (:func:`slotless.attention.diagnostics.case_invariance`) exceeds :data:`CASE_INVARIANT_ABOVE`."""
    ok = np.asarray(run["final_accuracy"]) >= stats.SUCCESS_THRESHOLD
    if ok.sum() < 2:
        return ClaimResult(f"{name} keys case-invariant", math.nan, (math.nan, math.nan), False,
                           f"{int(ok.sum())} perfect seeds: too few for an interval")
    W_K = np.asarray(run["W_K"])
    mean, lo, hi = stats.mean_interval(case_invariance(W_K[ok], W_K.shape[-1] // 3))  # 3L input tokens
    return ClaimResult(f"{name} keys case-invariant", mean, (lo, hi), lo > CASE_INVARIANT_ABOVE,
                       f"case-invariance index {mean:.3f} over {int(ok.sum())} perfect seeds, 95% CI "
                       f"[{lo:.3f}, {hi:.3f}]")


# ---------------------------------------------------------------------------------- controls and mutations
def _splits(config: SweepConfig, seeds: int, seed: int, streams: SweepStreams, split: str | None = None):
    split = split or config.heldout_split
    if split is None:
        raise ConfigError("config.heldout_split=None: the control needs a held-out split")
    fraction = config.heldout_fraction or HELDOUT_FRACTION
    letters = config.heldout_letters or HELDOUT_LETTERS
    return [heldout_split(config.letters, config.context, trial_generator(seed, s, streams.heldout), split,
                          fraction, letters) for s in range(seeds)]


def memorising_control_arrays(config: SweepConfig, seeds: int, seed: int = 0,
                              streams: SweepStreams = SweepStreams(), split: str | None = None) -> dict:
    """What the memorising control (:func:`slotless.attention.task.memorising_control`) scores on the held-out
    sequences of each seed of a run with ``config`` (the same splits as training: same master ``seed`` and
    ``streams``; ``split`` replaces the config's split, with the split's default setting where the config has none),
    as run arrays: ``heldout_accuracy (S,)`` and ``context_accuracy (S,)`` (at a longer context every class is new
    to it, so it guesses: ``eval_size`` fair coin flips) ({ref}`sec-training-generalisation`)."""
    held = np.array([memorising_control(sp, config.letters, config.context, trial_generator(seed, s, "control"))
                     for s, sp in enumerate(_splits(config, seeds, seed, streams, split))])
    ctx = np.array([trial_generator(seed, s, "control/context").integers(0, 2, config.eval_size).mean()
                    for s in range(seeds)])
    return {"heldout_accuracy": held, "context_accuracy": ctx}


def hand_built_arrays(config: SweepConfig, seeds: int, seed: int = 0, streams: SweepStreams = SweepStreams(),
                      scale: float = 3.0) -> dict:
    """What the hand-built one-layer solution (:func:`slotless.attention.task.hand_built_weights`: both cases of a
    letter share its key, the query matches it, W_V maps each case to its output) scores on the held-out sequences
    of each seed and at the longer context, as run arrays (``(S,)``; {ref}`sec-training-generalisation`). It has
    the structure a generalising model would need."""
    weights = hand_built_weights(config.letters, config.key_dim, scale, seed)
    held = np.array([score_sequences(weights, sp.test, config.letters).accuracy
                     for sp in _splits(config, seeds, seed, streams)])
    ctx = score_sequences(weights, enumerate_sequences(config.letters, config.eval_context or config.context),
                          config.letters).accuracy
    return {"heldout_accuracy": held, "context_accuracy": np.full(seeds, ctx)}


# ---------------------------------------------------------------------------------------------- CI scale
#: CI scale ({ref}`sec-training-claims`): the real task and sweep length, fewer seeds than the paper scale (the
#: default; :func:`ci_plan` gives some runs more).
CI_SEEDS = 10
CI_BATCHES = 5000
CI_BATCH_SIZE = 64
#: The models of the generalisation runs, each under the default preset (MHN-W_K with key rate 1e-4).
GENERALISATION_MODELS = ("transformer", "mhn-fixed-wk", "mhn-wk", "qk-mhn", "mhn-exact-wk masked")


def generalisation_config(model: str, split: str, letters: int = 4, context: int = 3, eval_context: int | None = 4,
                          eval_size: int = 1024, **extra) -> SweepConfig:
    """The held-out run of ``model`` (one of :data:`GENERALISATION_MODELS`) on ``split`` ("classes" or "pairs"):
    trained at ``context`` < ``letters`` so that ``eval_context`` can test a longer context; n_h = max(8, 2L) for the
    MHN models; ``extra`` (e.g. ``lr``) applied last ({ref}`sec-training-generalisation`)."""
    base, masked = model.removesuffix(" masked"), model.endswith(" masked")
    over = dict(letters=letters, context=context, eval_context=eval_context, heldout_split=split, eval_size=eval_size)
    if base != "transformer":
        over["hidden"] = max(8, 2 * letters)
        if masked:
            over["mask_unrecruited"] = True
        if base == "mhn-wk":
            over["key_lr"] = 1e-4
    return resolve_config(base, "default", **{**over, **extra})


def ci_plan() -> dict:
    """Every run the Part II claims need at CI scale: name -> ``(SweepConfig, seeds)``, each trained on seeds
    ``0 .. seeds-1`` for :data:`CI_BATCHES` batches of :data:`CI_BATCH_SIZE` (master seed 0). :data:`CI_SEEDS`
    seeds by default; more where a claim needs them to be decided: 20 for the runs whose success rate is near 0.9 or
    that pair with them, and 50 for QK-MHN, whose case-invariance interval is taken over its perfect seeds.
    ``"frozen"`` (Fixed-W_K at learning rate 0) is a mutation: a model that fails without any key collision
    ({ref}`sec-training-claims`)."""
    plan = {
        "transformer": (resolve_config("transformer"), CI_SEEDS),
        "mhn-fixed-wk": (resolve_config("mhn-fixed-wk"), 20),
        "qk-mhn": (resolve_config("qk-mhn"), 50),
        "mhn-exact-wk masked": (resolve_config("mhn-exact-wk", mask_unrecruited=True), CI_SEEDS),
        "mhn-wk paper": (resolve_config("mhn-wk", "paper"), 20),
        "mhn-wk key_lr=1e-4": (resolve_config("mhn-wk", "paper", key_lr=1e-4), 20),
        "frozen": (resolve_config("mhn-fixed-wk", lr=0.0), CI_SEEDS),
    }
    for split in ("classes", "pairs"):
        for model in GENERALISATION_MODELS:
            plan[f"{split}: {model}"] = (generalisation_config(model, split), CI_SEEDS)
    return plan


def ci_runs(workers: int | None = 1) -> dict:
    """The arrays of every run of :func:`ci_plan`, plus the controls of the generalisation claims
    (``"<split>: memorising control"``, ``"<split>: hand-built"``, on the QK-MHN run's splits): name -> arrays.
    Cached on disk like every sweep when ``SLOTLESS_CACHE`` is set ({ref}`sec-training-claims`)."""
    from .training import cached_sweeps

    plan = ci_plan()
    done = cached_sweeps([c for c, _ in plan.values()], [n for _, n in plan.values()], CI_BATCHES, CI_BATCH_SIZE,
                         seed=0, workers=workers)
    runs = {name: arrays for name, (arrays, _) in zip(plan, done)}
    for split in ("classes", "pairs"):
        config, seeds = plan[f"{split}: qk-mhn"]
        runs[f"{split}: memorising control"] = memorising_control_arrays(config, seeds)
        runs[f"{split}: hand-built"] = hand_built_arrays(config, seeds)
    return runs


# ------------------------------------------------------------------------------------------- the registry
#: The part of the book these claims belong to (``slotless.claim_types.HeadlineClaim.part``).
PART = "II"


def _learns_claim(model: str) -> HeadlineClaim:
    return HeadlineClaim(f"learns: {model}", f"{model} reaches perfect accuracy in a clear majority of seeds",
                         lambda r: learns(r[model], model), "a model frozen at learning rate 0 in its place",
                         lambda r: learns(r["frozen"], model), PART)


def _generalisation_claims(model: str) -> list:
    classes, pairs = f"classes: {model}", f"pairs: {model}"
    return [
        HeadlineClaim(f"generalises to held-out classes: {model}",
                      f"{model} answers sequences of reordering classes never trained",
                      lambda r: generalises(r[classes], model),
                      "the memorising control in its place",
                      lambda r: generalises(r["classes: memorising control"], model), PART),
        HeadlineClaim(f"generalises to a longer context: {model}",
                      f"{model}, trained at context 3, answers sequences of context 4",
                      lambda r: generalises(r[classes], model, "context_accuracy"),
                      "the memorising control in its place",
                      lambda r: generalises(r["classes: memorising control"], model, "context_accuracy"), PART),
        HeadlineClaim(f"fails on a never-trained query-key pairing: {model}",
                      f"{model} scores below chance when a letter is queried while uppercase, never trained",
                      lambda r: fails_to_generalise(r[pairs], model),
                      "the hand-built solution (case-invariant keys and values) in its place",
                      lambda r: fails_to_generalise(r["pairs: hand-built"], model), PART),
    ]


CLAIMS: tuple = (
    *(_learns_claim(m) for m in ("transformer", "mhn-fixed-wk", "qk-mhn", "mhn-exact-wk masked",
                                 "mhn-wk key_lr=1e-4")),
    HeadlineClaim("MHN-W_K: paper preset fails, key rate 1e-4 learns",
                  "MHN-trained W_K fails under the paper preset and succeeds with key rate 1e-4, on the same seeds",
                  lambda r: key_rate_effect(r["mhn-wk paper"], r["mhn-wk key_lr=1e-4"]),
                  "MHN-W_K at key rate 1e-4 in place of the paper preset",
                  lambda r: key_rate_effect(r["mhn-wk key_lr=1e-4"], r["mhn-wk key_lr=1e-4"]), PART),
    HeadlineClaim("failing seeds collide",
                  "a seed that fails where the same seed succeeds in another configuration had more key collisions",
                  lambda r: collisions_explain_failures(r["mhn-wk paper"], r["mhn-wk key_lr=1e-4"]),
                  "a model that fails without learning its keys (frozen) as the failing configuration",
                  lambda r: collisions_explain_failures(r["frozen"], r["mhn-wk key_lr=1e-4"]), PART),
    HeadlineClaim("masked exact rule faster than QK",
                  "with masking, the exact one-hot W_K rule reaches 99% sooner than QK alignment",
                  lambda r: exact_rule_faster_masked(r["mhn-exact-wk masked"], r["qk-mhn"]),
                  "the slow MHN-W_K rule (key rate 1e-4) in place of the exact rule",
                  lambda r: exact_rule_faster_masked(r["mhn-wk key_lr=1e-4"], r["qk-mhn"]), PART),
    HeadlineClaim("case-invariant keys under QK alignment",
                  "QK alignment gives the two cases of a letter the same key direction",
                  lambda r: case_invariant_keys(r["qk-mhn"], "QK-MHN"),
                  "Fixed-W_K (keys never trained) in place of QK-MHN",
                  lambda r: case_invariant_keys(r["mhn-fixed-wk"], "QK-MHN"), PART),
    *(c for m in GENERALISATION_MODELS for c in _generalisation_claims(m)),
)

