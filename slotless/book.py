"""What every chapter of the book shares: its scale, the master seeds, the shared cached runs, and the
figure style.

A chapter starts with a ``parameters`` cell (``quick = None``) and then calls :func:`start`, which
resolves the scale, applies the figure style and says which scale the page runs at. Every size a
chapter uses comes from :func:`scale`, and every run that two chapters share comes from a function
here (:func:`memory_runs`), so chapters that share a run share it by construction: same network,
same protocol, same seed, same stream name, hence the same cache entry.

Two scales: **paper** (the default: the paper's networks and protocol sizes) and **quick** (the small
sizes CI runs; a page built at quick scale says so in its output).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from .checks import ConfigError

__all__ = [
    "COLORS",
    "SEED",
    "CUES",
    "parse_quick",
    "start",
    "setup",
    "band",
    "Scale",
    "scale",
    "memory_protocol",
    "memory_runs",
    "memory_stream",
    "CaseSequenceSizes",
    "MHNTransformerSizes",
    "GeneralisationSizes",
    "TrainingSizes",
    "RunName",
    "TrainingPlan",
    "training_plan",
    "training_config",
    "grid_run",
    "split_run",
    "claim_runs",
    "glue",
    "glue_values",
    "GRID_MODELS",
    "GENERALISATION_MODELS",
    "SLOW_KEY_LR",
    "memory_pairs",
    "tree_protocol",
    "tree_runs",
    "MemoryTheorySizes",
    "AttentionTheorySizes",
    "memory_theory_control_protocol",
    "memory_theory_control",
]

#: Colours of the authors' code: K-winner MHN red / light coral, original (1-winner) MHN grey / light
#: grey; uniform baselines chocolate / light steel blue; the d' standard-error band cyan.
COLORS = {
    "kwinner": "tab:red",
    "kwinner_pseudo": "lightcoral",
    "kwinner_uniform": "chocolate",
    "mhn": "grey",
    "mhn_pseudo": "lightgrey",
    "mhn_uniform": "lightsteelblue",
    "sem": "cyan",
    "kwinner_fit": "orange",
    "mhn_fit": "black",
    "theory": "green",
}

#: The book's one master seed. Every random draw of every chapter comes from
#: ``slotless.rng.trial_generator(SEED, index, stream)``, where the stream names the experiment, so two
#: chapters that name the same stream share the same run (and its cache entry), and different streams are
#: independent.
SEED = 2511_04593 % 2**31
#: The two cue levels of the paper: full and half cues.
CUES = (1.0, 0.5)


# ----------------------------------------------------------------------------------- the scale
_TRUE = ("true", "1")
_FALSE = ("false", "0")


def parse_quick(value) -> bool | None:
    """A chapter's ``quick`` parameter as a bool: True, False, None (not given), the strings
    "true"/"false"/"1"/"0" in any case (papermill's ``-p quick false`` passes the string "false"), or the
    integers 1 and 0 (``-p quick 1`` passes an int). Anything else raises a :class:`ConfigError` that
    names the value: ``bool("false")`` is True, so a string must never be taken for its truth value.
    Book: ``sec-methods-experiments``."""
    if value is None or isinstance(value, (bool, np.bool_)):
        return None if value is None else bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(f"quick={value!r} is not allowed: give True or False (or 'true'/'false'/'1'/'0')")


def resolve_quick(quick) -> bool:
    """The scale of a page: its ``quick`` parameter, or if that is None the ``BOOK_QUICK`` environment
    variable (parsed like ``quick``; unset or empty means paper scale). Book: ``sec-methods-experiments``."""
    quick = parse_quick(quick)
    if quick is None:
        env = os.environ.get("BOOK_QUICK", "")
        try:
            quick = bool(parse_quick(env)) if env else False
        except ConfigError:
            raise ConfigError(f"BOOK_QUICK={env!r} is not allowed: set it to 1 (quick) or 0 (paper scale)") from None
    return quick


def setup(quick: bool) -> None:
    """Apply the book's figure style and say which scale this page runs at. Book: ``sec-methods-experiments``."""
    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.95)
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 110, "figure.figsize": (7.0, 4.0)})
    if quick:
        print("Built at QUICK scale (CI): small runs, not the paper's scale.")
    else:
        print("Built at paper scale.")


def start(quick) -> "Scale":
    """A chapter's first call: resolve ``quick`` (:func:`resolve_quick`), apply the figure style, and
    return the page's :class:`Scale`. Book: ``sec-methods-experiments``."""
    quick = resolve_quick(quick)
    setup(quick)
    return scale(quick)


def band(ax, x, mean, half_width, color, label=None, alpha=0.25):
    """Plot ``mean`` with a shaded band ``mean ± half_width`` on ``ax``. Book: ``eq-methods-markers`` (the SEM band)."""
    ax.plot(x, mean, color=color, label=label)
    ax.fill_between(x, mean - half_width, mean + half_width, color=color, alpha=alpha, linewidth=0)


@dataclass(frozen=True)
class MemorySizes:
    """The random-data runs of Part I ({ref}`ch-retention`, {ref}`ch-controls`, {ref}`ch-memory-results`).

    ``nets``: model name -> :class:`~slotless.memory.network.NetworkConfig` ("kwinner", "kwinner-alt",
    "mhn" and the control "kwinner-random"); ``n_mem``: B = E (P = E + 1); ``acc_trials``: trials of
    the accuracy curves; ``samples`` x ``runs``: the d' design; ``max_age``: ages shown;
    ``young``/``old``: the windows of the retention claims; ``fit_ages``: the exponential-fit range.
    """

    nets: dict
    n_mem: int
    acc_trials: int
    samples: int
    runs: int
    max_age: int
    young: tuple
    old: tuple
    fit_ages: tuple


@dataclass(frozen=True)
class CaseSequenceSizes:
    """The training demo of {ref}`ch-case-sequence`: the baseline transformer on an ``letters`` x ``context``
    task, ``seeds`` stacked seeds, ``batches`` batches of ``batch_size`` at learning rate ``lr``."""

    letters: int
    context: int
    seeds: int
    batches: int
    batch_size: int
    lr: float


@dataclass(frozen=True)
class MHNTransformerSizes:
    """{ref}`ch-mhn-transformer`: the number of random sequences behind the measured collision rates."""

    sequences: int


@dataclass(frozen=True)
class GeneralisationSizes:
    """The held-out runs of {ref}`ch-training` (a book addition, ``sec-training-generalisation``): train on an
    ``letters`` x ``context`` task with the sequences of each split of ``splits`` never drawn (the splits' own
    defaults: a quarter of the reordering classes; letter a queried while uppercase), then score ``eval_size``
    held-out sequences and ``eval_size`` sequences at the longer context ``eval_context``."""

    letters: int
    context: int
    eval_context: int
    splits: tuple
    eval_size: int


@dataclass(frozen=True)
class TrainingSizes:
    """The sweeps of {ref}`ch-training` (the runs are :func:`training_plan`).

    The task ``letters`` x ``context`` with ``hidden`` MHN units; ``main_seeds`` seeds per run of the main
    comparison and ``seeds`` per run of the learning-rate grid and the generalisation runs; ``batches`` of
    ``batch_size``; the final accuracy over the last ``window`` batches (``eq-methods-final-accuracy``);
    cosines on every ``cosine_every``-th batch; ``transformer_lr``/``mhn_lr`` replace the presets' learning
    rates when not None (the quick scale learns faster); ``grid_lrs`` the learning rates of the grid.
    """

    letters: int
    context: int
    hidden: int
    seeds: int
    main_seeds: int
    batches: int
    batch_size: int
    window: int
    cosine_every: int
    transformer_lr: float | None
    mhn_lr: float | None
    generalisation: GeneralisationSizes
    grid_lrs: tuple


@dataclass(frozen=True)
class MemoryTheorySizes:
    """The sizes of {ref}`ch-memory-results` beyond the shared runs of :class:`MemorySizes`.

    ``control_trials``: trials of the random-winner control (:func:`memory_theory_control`);
    ``kwinner_cues``: the cue levels of the K-winner checks; ``windows``: the age windows of the
    window comparisons (inclusive, 1-based); ``check_ages``: the ages of the d' checks;
    ``law_max_age``: the last age drawn in {numref}`fig-memory-results-kwinner-law`.
    """

    control_trials: int
    kwinner_cues: tuple
    windows: tuple
    check_ages: tuple
    law_max_age: int


@dataclass(frozen=True)
class AttentionTheorySizes:
    """The sizes of {ref}`ch-attention-results`.

    ``seeds`` x ``sequences``: the independent weight draws and sequences per draw of the identity
    checks; ``hidden_grid``, ``figure_sequences``: the n_h values and sequences per draw of
    {numref}`fig-attention-results-deviation`; ``train_batches``, ``train_seeds``, ``key_lr``,
    ``cosine_every``: the QK-MHN-Transformer run of {prf:ref}`thm-qk-alignment`; ``sign_sequences``: the
    random sequences of its part 4.
    """

    seeds: int
    sequences: int
    hidden_grid: tuple
    figure_sequences: int
    train_batches: int
    train_seeds: int
    key_lr: float
    cosine_every: int
    sign_sequences: int


@dataclass(frozen=True)
class Scale:
    """Every size a chapter uses, at one scale (:func:`scale`). Sections by chapter; see each field.
    Book: ``sec-methods-experiments``.
    """

    quick: bool
    memory: MemorySizes
    #: {ref}`ch-kwinner`: patterns the step-by-step networks learn (``n_learn``), probe pairs per pattern
    #: overlap (``n_probe``) and the flips of the probes (``probe_flips``, of s = 100), the length of the
    #: usage windows (``usage_window``) and the cue level of the retrieval demo (``cue``).
    kwinner: dict = field(default_factory=dict)
    #: {ref}`ch-structured`: networks (``nets``; their input layer sets n_i and s), memories (``n_mem``), flips
    #: (``flips``; ``flips_dprime`` for the d' design), trials (``curve_trials``; ``samples`` x ``runs``),
    #: the older ages of the d' claim (``older``: ages n_mem/20 + 1 to n_mem/2) and the similarity samples
    #: (``similarity_patterns`` per set, ``similarity_trees`` sets).
    tree: dict = field(default_factory=dict)
    #: {ref}`ch-memory-results`: the random-winner control, the cue levels of the K-winner checks, windows.
    memory_theory: "MemoryTheorySizes | None" = None
    #: {ref}`ch-retention` and {ref}`ch-controls`: bootstrap resamples (``bootstrap``); {ref}`ch-controls`:
    #: relabellings of the permutation tests (``permutations``), draws per synthetic Gaussian data set
    #: (``synthetic``) and ages of the log-spaced grid (``grid_ages``).
    controls: dict = field(default_factory=dict)
    #: {ref}`ch-case-sequence`: the training demo.
    case_sequence: CaseSequenceSizes | None = None
    #: {ref}`ch-mhn-transformer`: random sequences for the measured rates.
    mhn_transformer: MHNTransformerSizes | None = None
    #: {ref}`ch-training`: task size, seeds, batches and the learning-rate grid.
    training: TrainingSizes | None = None
    #: {ref}`ch-attention-results`: seeds and sequences of the identities, the QK-MHN run of Theorem 7.
    attention_theory: "AttentionTheorySizes | None" = None
    #: {ref}`ch-performance`: the benchmark scale (a key of :data:`slotless.perf.bench.SCALES`).
    performance: dict = field(default_factory=dict)
    #: {ref}`ch-design-space`: the grid the page builds ("book") and the full grid ("full"), each a
    #: :class:`~slotless.memory.design_space.DesignGrid`.
    design_space: dict = field(default_factory=dict)


def scale(quick: bool) -> Scale:
    """The book's sizes at quick (CI) or paper scale: the one source of every chapter's sizes.
    Book: ``sec-methods-experiments``, ``tbl-methods-training``.
    """
    from .memory.design_space import DesignGrid
    from .memory.network import PRESETS

    main, alt, mhn = PRESETS["kwinner"], PRESETS["kwinner-alt"], PRESETS["mhn"]
    # ch-kwinner runs the paper's networks at both scales: only the stream length and the probes shrink
    kwinner_common = dict(probe_flips=(0, 5, 10, 20, 30, 40, 50, 70, 90), usage_window=400, cue=0.5)
    controls = dict(bootstrap=2000, permutations=2000, synthetic=20000, grid_ages=16)
    if quick:
        # the input side shrunk by 5 (n_i = 200, s = 20, still 10% active); parameter matching kept
        # (n_h^K f = n_h^MHN, 10^4 connections); eps = 0.3; k/n_h within a factor 2 of the paper's; the MHN
        # halved (n_h = 50, so ages scale by 1/2); a short protocol with 10 samples of 10 runs
        nets = {"kwinner": main.replace(n_input=200, n_hidden=400, active=20, fan_in=0.125, winners=10),
                "kwinner-alt": alt.replace(n_input=200, n_hidden=200, active=20, fan_in=0.25, winners=10),
                "mhn": mhn.replace(n_input=200, n_hidden=50, active=20)}
        memory = dict(n_mem=200, acc_trials=30, samples=10, runs=10, max_age=200, young=(1, 5), old=(41, 200),
                      fit_ages=(1, 100))
        # tree data on the same networks as the random data
        tree = dict(nets={"kwinner": nets["kwinner"], "mhn": nets["mhn"]}, n_mem=200, flips=(2, 4), flips_dprime=4,
                    curve_trials=40, runs=20, similarity_patterns=300, similarity_trees=10, samples=10, older=(11, 100))
        kwinner = dict(n_learn=800, n_probe=20, **kwinner_common)
        memory_theory = MemoryTheorySizes(control_trials=200, kwinner_cues=(1.0,),
                                          windows=((1, 5), (6, 20), (21, 50), (51, 100), (101, 200)),
                                          check_ages=(1, 2, 3, 5, 8, 12, 20, 35, 60, 100, 150), law_max_age=200)
        case_sequence = CaseSequenceSizes(letters=2, context=2, seeds=4, batches=400, batch_size=32, lr=1e-2)
        mhn_transformer = MHNTransformerSizes(sequences=2000)
        # the 2-letter task (n_h = 4) with larger learning rates, so that it is learned in 240 batches
        training = TrainingSizes(letters=2, context=2, hidden=4, seeds=6, main_seeds=8, batches=240, batch_size=32,
                                 window=100, cosine_every=1, transformer_lr=1e-2, mhn_lr=2e-2,
                                 generalisation=GeneralisationSizes(letters=3, context=2, eval_context=3,
                                                                    splits=("classes", "pairs"), eval_size=512),
                                 grid_lrs=(2e-2,))
        attention_theory = AttentionTheorySizes(seeds=4, sequences=128, hidden_grid=(2, 3, 4, 6, 8, 12, 16, 24),
                                                figure_sequences=128, train_batches=300, train_seeds=2, key_lr=1e-3,
                                                cosine_every=10, sign_sequences=2000)
        performance = dict(bench_scale="quick")
        # a fifth of the paper's network (ages scale by 1/5), a 3 x 3 (k, eps) grid, three fan-ins
        design_book = DesignGrid(scale=0.2, winners=(20, 50, 100), epsilons=(0.1, 0.3, 1.0), fan_ins=(0.05, 0.1, 0.5),
                                 scales=(0.2, 0.4), variant_scale=0.2, samples=10, runs=10, seed=SEED)
    else:
        nets = {"kwinner": main, "kwinner-alt": alt, "mhn": mhn}
        memory = dict(n_mem=2000, acc_trials=100, samples=10, runs=20, max_age=1000, young=(1, 5), old=(101, 500),
                      fit_ages=(1, 200))
        tree = dict(nets={"kwinner": main, "mhn": mhn}, n_mem=2000, flips=(5, 10, 15, 20, 30),
                    flips_dprime=20, curve_trials=100, runs=20, similarity_patterns=300, similarity_trees=10,
                    samples=10, older=(101, 1000))
        kwinner = dict(n_learn=2000, n_probe=100, **kwinner_common)
        memory_theory = MemoryTheorySizes(control_trials=100, kwinner_cues=(1.0, 0.5),
                                          windows=((1, 10), (11, 50), (51, 100), (101, 200), (201, 500), (501, 1000)),
                                          check_ages=(1, 2, 3, 5, 8, 12, 20, 35, 60, 100, 150, 250, 400),
                                          law_max_age=800)
        case_sequence = CaseSequenceSizes(letters=4, context=4, seeds=10, batches=5000, batch_size=64, lr=1e-3)
        mhn_transformer = MHNTransformerSizes(sequences=20000)
        # the paper's task and sweep length; cosines on every 5th batch (1000 per seed)
        training = TrainingSizes(letters=4, context=4, hidden=8, seeds=10, main_seeds=50, batches=5000,
                                 batch_size=64, window=500, cosine_every=5, transformer_lr=None, mhn_lr=None,
                                 generalisation=GeneralisationSizes(letters=4, context=3, eval_context=4,
                                                                    splits=("classes", "pairs"), eval_size=1024),
                                 grid_lrs=(1e-3, 5e-3))
        attention_theory = AttentionTheorySizes(seeds=8, sequences=512,
                                                hidden_grid=(2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32),
                                                figure_sequences=1024, train_batches=5000, train_seeds=4, key_lr=1e-4,
                                                cosine_every=25, sign_sequences=20000)
        performance = dict(bench_scale="chapter")
        # two fifths of the paper's network for the grids (about 3 minutes on 2 cores), the paper's size for
        # its own point (both cues) and the authors' k = 65 and eps = 0.35 runs (full cues: they cost most)
        design_book = DesignGrid(scale=0.4, winners=(10, 20, 50, 65, 100), epsilons=(0.1, 0.3, 0.35, 0.5, 1.0),
                                 fan_ins=(0.025, 0.05, 0.1, 0.2, 0.5), scales=(0.2, 0.4, 0.6, 1.0), variant_scale=1.0,
                                 samples=10, runs=10, seed=SEED, variant_cues=(1.0,))
    # the full grid at the paper's size with the authors' 10 x 20 design (a few CPU-hours: send it to a cluster)
    design_full = DesignGrid(scale=1.0, winners=(10, 20, 35, 50, 65, 80, 100, 150, 200),
                             epsilons=(0.05, 0.1, 0.2, 0.3, 0.35, 0.5, 0.7, 1.0),
                             fan_ins=(0.02, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5),
                             scales=(0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.6, 2.0), variant_scale=1.0, samples=10, runs=20,
                             seed=SEED)
    nets["kwinner-random"] = nets["kwinner"].replace(winner_rule="random")
    return Scale(quick, MemorySizes(nets=nets, **memory), kwinner=kwinner, tree=tree, memory_theory=memory_theory,
                 controls=controls, case_sequence=case_sequence, mhn_transformer=mhn_transformer,
                 training=training, attention_theory=attention_theory, performance=performance,
                 design_space={"book": design_book, "full": design_full})


# ------------------------------------------------------------------------------- shared runs
def memory_protocol(sizes: MemorySizes, cue: float):
    """The paper-time protocol of the random-data runs at these sizes: B = E = n_mem, P = E + 1.
    Book: ``eq-methods-trial``, ``sec-methods-experiments``.
    """
    from .memory.protocol import ProtocolConfig

    return ProtocolConfig(n_burn_in=sizes.n_mem, n_eval=sizes.n_mem, n_pseudo=sizes.n_mem + 1, cue_fraction=cue)


def memory_stream(model: str, cue: float, kind: str) -> str:
    """The stream name of a shared random-data run: ``random/<model>/cue=<cue>/<kind>``, kind "acc" (the
    accuracy curves) or "dprime" (the samples x runs design). Book: ``sec-methods-seeding``."""
    if kind not in ("acc", "dprime"):
        raise ConfigError(f"kind={kind!r} is not allowed: choose one of 'acc', 'dprime'")
    return f"random/{model}/cue={cue}/{kind}"


def memory_runs(sizes: MemorySizes, model: str, cue: float, kind: str):
    """One shared random-data run (cached): a :class:`~slotless.memory.protocol.TrialResult` with
    ``(trials, E)`` arrays, age 1 first. ``kind`` "acc" has ``acc_trials`` trials, "dprime" has
    ``samples * runs``. Returns ``(result, from_cache)``. Book: ``sec-methods-experiments``."""
    from .memory.protocol import run_trials_cached

    if model not in sizes.nets:
        raise ConfigError(f"model={model!r} is not allowed: choose one of {', '.join(map(repr, sizes.nets))}")
    trials = sizes.acc_trials if kind == "acc" else sizes.samples * sizes.runs
    return run_trials_cached(sizes.nets[model], memory_protocol(sizes, cue), trials, SEED,
                             stream=memory_stream(model, cue, kind), progress=False)


# ------------------------------------------------------------------------- the Part II sweeps
class RunName(NamedTuple):
    """A run of {ref}`ch-training`: the model (a key of ``slotless.attention.training.MODELS``, or
    "mhn-exact-wk masked") and the setting it was trained under ("default", "paper", "key_lr=1e-4",
    "no projections", a cell of the learning-rate grid, or a held-out split: "classes split", "pairs split")."""

    model: str
    setting: str


#: The models of the learning-rate grid of {ref}`ch-training`.
GRID_MODELS = ("mhn-wk", "qk-mhn")
#: The models of the held-out runs of {ref}`ch-training` (the same as the CI claims').
GENERALISATION_MODELS = ("transformer", "mhn-fixed-wk", "mhn-wk", "qk-mhn", "mhn-exact-wk masked")
#: The slower key rate of the grid and of the MHN-W_K contrast of {ref}`ch-training`.
SLOW_KEY_LR = 1e-4


def split_run(model: str, split: str) -> RunName:
    """The name of the held-out run of ``model`` on ``split`` in {ref}`ch-training` (``sec-training-generalisation``)."""
    return RunName(model, f"{split} split")


def grid_run(model: str, lr: float, key_lr: float) -> RunName:
    """The name of one cell of the learning-rate grid of {ref}`ch-training` (``fig-training-lr-grid``)."""
    return RunName(model, f"lr={lr:g}, key_lr={key_lr:g}")


@dataclass(frozen=True)
class TrainingPlan:
    """Every sweep of {ref}`ch-training`: ``runs`` maps a :class:`RunName` to ``(SweepConfig, n_seeds)`` (the
    input of ``slotless.attention.training.cached_plan``), in the order the chapter reports them; ``main``
    names the runs of the main comparison (``main_seeds`` seeds each; the others have ``seeds``)."""

    runs: dict
    main: tuple

    def config(self, name):
        """The :class:`~slotless.attention.training.SweepConfig` of run ``name``."""
        return self.runs[RunName(*name)][0]

    def learned_keys(self) -> list:
        """The runs whose W_K learns (every MHN rule but ``fixed``; not the baseline), without the held-out runs:
        the runs in which {ref}`ch-training` checks that clearly failing seeds had key collisions."""
        return [name for name, (cfg, _) in self.runs.items()
                if cfg.wk_rule not in (None, "fixed") and cfg.heldout_split is None]

    def held_out(self, split: str) -> dict:
        """The held-out runs on ``split``: model -> :class:`RunName` (``sec-training-generalisation``)."""
        return {name.model: name for name, (cfg, _) in self.runs.items() if cfg.heldout_split == split}


def training_config(sizes: TrainingSizes, model: str, preset: str = "default", **extra):
    """The sweep config of ``model`` under ``preset`` at the sizes of {ref}`ch-training` (``tbl-methods-attention``).

    The task size and final window come from ``sizes``; the scale's learning rate replaces the preset's unless
    ``extra`` gives ``lr``; ``extra`` is applied last (the transformer has no ``hidden``).
    """
    from .attention.training import resolve_config

    over = dict(letters=sizes.letters, context=sizes.context, hidden=sizes.hidden, final_window=sizes.window)
    lr = sizes.transformer_lr if model == "transformer" else sizes.mhn_lr
    if lr is not None and "lr" not in extra:
        over["lr"] = lr
    over.update(extra)
    if model == "transformer":  # the MHN-only setting n_h does not apply to the transformer
        over.pop("hidden")
    return resolve_config(model, preset, **over)


def claim_runs(res: dict) -> dict:
    """The runs of {ref}`ch-training` under the names the Part II claims use (``slotless.attention.claims.CLAIMS``,
    ``sec-training-claims``): the default-preset runs by model name, "mhn-wk paper", "mhn-wk key_lr=1e-4", and
    "<split>: <model>" for the held-out runs. ``res`` maps :class:`RunName` to run arrays."""
    names = {model: RunName(model, "default") for model in ("transformer", "mhn-fixed-wk", "qk-mhn", "mhn-exact-wk",
                                                            "mhn-exact-wk masked")}
    names |= {"mhn-wk paper": RunName("mhn-wk", "paper"), "mhn-wk key_lr=1e-4": RunName("mhn-wk", "key_lr=1e-4")}
    out = {claim_name: res[run] for claim_name, run in names.items()}
    for run, arrays in res.items():
        if run.setting.endswith(" split"):
            out[f"{run.setting.removesuffix(' split')}: {run.model}"] = arrays
    return out


def glue(name: str, value, display: bool = False) -> None:
    """myst-nb's ``glue`` for the page's prose, with the value as a plain Python number or string, so that
    ``{glue:text}`name:.2f``` can format it (a numpy scalar's text is ``np.float64(...)``, which the book
    build cannot format). Booleans become "yes"/"no". Book: ``sec-methods-experiments``."""
    from myst_nb import glue as myst_glue

    if isinstance(value, (bool, np.bool_)):
        value = "yes" if value else "no"
    elif isinstance(value, (np.integer, int)):
        value = int(value)
    elif isinstance(value, (np.floating, float)):
        value = float(value)
    myst_glue(name, value, display=display)


def glue_values(**values) -> None:
    """:func:`glue` each keyword's value under its name. Book: ``sec-methods-experiments``."""
    for key, value in values.items():
        glue(key, value)


def training_plan(sizes: TrainingSizes) -> TrainingPlan:
    """The runs of {ref}`ch-training` at these sizes.

    The main comparison (``main_seeds`` seeds each): every model under the default preset (QK-MHN with the
    cosine diagnostics), the exact one-hot rule with masking (with cosines), the baseline, Fixed-W_K, MHN-W_K
    and QK-MHN under the paper preset, MHN-W_K of the paper preset with key rate 1e-4, and the authors'
    variants without input projections (``slotless.attention.training.NO_PROJECTION_VARIANTS``, paper preset).
    Then (``seeds`` each) the learning-rate grid of MHN-W_K and QK-MHN, key rate 1e-4 or = lr
    (``fig-training-lr-grid``), and the held-out runs of every model of :data:`GENERALISATION_MODELS` on every
    split (``slotless.attention.claims.generalisation_config``; ``sec-training-generalisation``).
    """
    from .attention.claims import generalisation_config
    from .attention.training import MODELS, NO_PROJECTION_VARIANTS

    def config(model, preset="default", **extra):
        return training_config(sizes, model, preset, **extra)

    cosines = dict(track_cosines=True, cosine_every=sizes.cosine_every)
    configs = {}
    for model in MODELS:
        configs[RunName(model, "default")] = config(model, track_cosines=(model == "qk-mhn"),
                                                    cosine_every=sizes.cosine_every)
    configs[RunName("mhn-exact-wk masked", "default")] = config("mhn-exact-wk", mask_unrecruited=True, **cosines)
    for model in ("transformer", "mhn-fixed-wk", "mhn-wk", "qk-mhn"):
        configs[RunName(model, "paper")] = config(model, "paper")
    configs[RunName("mhn-wk", "key_lr=1e-4")] = config("mhn-wk", "paper", key_lr=SLOW_KEY_LR)
    for model, (key_dim, hidden) in NO_PROJECTION_VARIANTS.items():
        configs[RunName(model, "no projections")] = config(model, "paper", key_dim=key_dim, hidden=hidden,
                                                           input_projections=False)
    main = tuple(configs)
    for model in GRID_MODELS:
        for lr in sizes.grid_lrs:
            for key_lr in (SLOW_KEY_LR, lr):
                configs[grid_run(model, lr, key_lr)] = config(model, lr=lr, key_lr=key_lr)
    gen = sizes.generalisation
    for split in gen.splits:
        for model in GENERALISATION_MODELS:
            lr = sizes.transformer_lr if model == "transformer" else sizes.mhn_lr
            configs[split_run(model, split)] = generalisation_config(
                model, split, letters=gen.letters, context=gen.context, eval_context=gen.eval_context,
                eval_size=gen.eval_size, final_window=sizes.window, **({} if lr is None else {"lr": lr}))
    runs = {name: (cfg, sizes.main_seeds if name in main else sizes.seeds) for name, cfg in configs.items()}
    return TrainingPlan(runs, main)


def memory_pairs(sizes: MemorySizes, model: str, cue: float, kind: str):
    """The accuracies of one shared random-data run (:func:`memory_runs`) as a
    :class:`~slotless.memory.metrics.PairedAccuracy`: ``real`` and its paired ``pseudo``, ``(trials, E)``."""
    from .memory.metrics import PairedAccuracy

    result, _ = memory_runs(sizes, model, cue, kind)
    return PairedAccuracy(result.acc_real, result.acc_pseudo[:, : result.acc_real.shape[1]])


def tree_protocol(tree: dict, flips: int, cue: float):
    """The paper-time protocol on tree data of {ref}`ch-structured` (``tree`` is :attr:`Scale.tree`):
    B = E = n_mem, P = E + 1, leaves of a tree with ``flips`` flips, and the uniform baseline."""
    from .memory.protocol import protocol_preset

    return protocol_preset("paper", n_burn_in=tree["n_mem"], n_eval=tree["n_mem"]).replace(
        cue_fraction=cue, data="tree", flips=flips, uniform_baseline=True)


def tree_runs(tree: dict, model: str, flips: int, cue: float):
    """One tree-data run of {ref}`ch-structured` (cached): ``samples * runs`` trials for the d' design
    (``flips == flips_dprime`` at cue 1), else ``curve_trials``; stream ``tree/b=<flips>/<model>/cue=<cue>/acc``.
    Returns ``(TrialResult, from_cache)``."""
    from .memory.protocol import run_trials_cached

    if model not in tree["nets"]:
        raise ConfigError(f"model={model!r} is not allowed: choose one of {', '.join(map(repr, tree['nets']))}")
    dprime_design = flips == tree["flips_dprime"] and cue == 1.0
    trials = tree["samples"] * tree["runs"] if dprime_design else tree["curve_trials"]
    return run_trials_cached(tree["nets"][model], tree_protocol(tree, flips, cue), trials, SEED,
                             stream=f"tree/b={flips}/{model}/cue={cue}/acc", progress=False)


def memory_theory_control_protocol(sizes: MemorySizes):
    """The protocol of the random-winner control of {ref}`ch-memory-results`: the shared protocol at cue 0.5
    with a burn-in of 20 n_h of the 1-winner MHN, so that every unit has been overwritten."""
    return memory_protocol(sizes, 0.5).replace(n_burn_in=20 * sizes.nets["mhn"].n_hidden)


def memory_theory_control(sizes: MemorySizes, theory: MemoryTheorySizes):
    """The random-winner control of {ref}`ch-memory-results` (cached): the 1-winner MHN with random learning
    winners (``eq-methods-random-winners``) under :func:`memory_theory_control_protocol`, with
    ``theory.control_trials`` trials. Returns ``(result, from_cache)`` like :func:`memory_runs`."""
    from .memory.protocol import run_trials_cached

    return run_trials_cached(sizes.nets["mhn"].replace(winner_rule="random"), memory_theory_control_protocol(sizes),
                             theory.control_trials, SEED, stream="theory/mhn-random-winners/cue=0.5", progress=False)
