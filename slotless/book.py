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

import matplotlib.pyplot as plt
import seaborn as sns

from .checks import ConfigError

__all__ = [
    "COLORS",
    "SEED",
    "STEP_SEED",
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

#: The master seed of the Part I runs shared by {ref}`ch-retention`, {ref}`ch-controls` and
#: {ref}`ch-memory-results`; streams (:mod:`slotless.rng`) name the experiment.
SEED = 2511_04593 % 2**31
#: The seed of the step-by-step networks of {ref}`ch-kwinner` and the trees of {ref}`ch-structured`.
STEP_SEED = 20251106
#: The two cue levels of the paper: full and half cues.
CUES = (1.0, 0.5)


# ----------------------------------------------------------------------------------- the scale
_TRUE = ("true", "1")
_FALSE = ("false", "0")


def parse_quick(value) -> bool | None:
    """A chapter's ``quick`` parameter as a bool: True, False, None (not given), or the strings
    "true"/"false"/"1"/"0" in any case (papermill's ``-p quick false`` passes a string). Anything else
    raises a :class:`ConfigError` that names the value."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(f"quick={value!r} is not allowed: give True or False (or 'true'/'false'/'1'/'0')")


def resolve_quick(quick) -> bool:
    """The scale of a page: its ``quick`` parameter, or if that is None the ``BOOK_QUICK`` environment
    variable (parsed like ``quick``; unset or empty means paper scale)."""
    quick = parse_quick(quick)
    if quick is None:
        env = os.environ.get("BOOK_QUICK", "")
        try:
            quick = bool(parse_quick(env)) if env else False
        except ConfigError:
            raise ConfigError(f"BOOK_QUICK={env!r} is not allowed: set it to 1 (quick) or 0 (paper scale)") from None
    return quick


def setup(quick: bool) -> None:
    """Apply the book's figure style and say which scale this page runs at."""
    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.95)
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 110, "figure.figsize": (7.0, 4.0)})
    if quick:
        print("Built at QUICK scale (CI): small runs, not the paper's scale.")
    else:
        print("Built at paper scale.")


def start(quick) -> "Scale":
    """A chapter's first call: resolve ``quick`` (:func:`resolve_quick`), apply the figure style, and
    return the page's :class:`Scale`."""
    quick = resolve_quick(quick)
    setup(quick)
    return scale(quick)


def band(ax, x, mean, half_width, color, label=None, alpha=0.25):
    """Plot ``mean`` with a shaded band ``mean ± half_width`` on ``ax``."""
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
class Scale:
    """Every size a chapter uses, at one scale (:func:`scale`). Sections by chapter; see each field."""

    quick: bool
    memory: MemorySizes
    #: {ref}`ch-kwinner`: patterns the step-by-step networks learn, probe pairs of the overlap figure.
    kwinner: dict = field(default_factory=dict)
    #: {ref}`ch-structured`: networks, flips, trial counts and similarity samples of the tree-data runs.
    tree: dict = field(default_factory=dict)
    #: {ref}`ch-memory-results`: the random-winner control, the cue levels of the K-winner checks, windows.
    memory_theory: dict = field(default_factory=dict)
    #: {ref}`ch-controls`: bootstrap resamples.
    controls: dict = field(default_factory=dict)
    #: {ref}`ch-case-sequence`: the training demo.
    case_sequence: dict = field(default_factory=dict)
    #: {ref}`ch-mhn-transformer`: random sequences for the measured rates.
    mhn_transformer: dict = field(default_factory=dict)
    #: {ref}`ch-training`: task size, seeds, batches and the learning-rate grid.
    training: dict = field(default_factory=dict)
    #: {ref}`ch-attention-results`: seeds and sequences of the identities, the QK-MHN run of Theorem 7.
    attention_theory: dict = field(default_factory=dict)
    #: {ref}`ch-performance`: the benchmark scale (a key of :data:`slotless.perf.bench.SCALES`).
    performance: dict = field(default_factory=dict)
    #: {ref}`ch-design-space`: the grid the page builds ("book") and the full grid ("full"), each a
    #: :class:`~slotless.memory.design_space.DesignGrid`.
    design_space: dict = field(default_factory=dict)


def scale(quick: bool) -> Scale:
    """The book's sizes at quick (CI) or paper scale: the one source of every chapter's sizes."""
    from .memory.design_space import DesignGrid
    from .memory.network import PRESETS, NetworkConfig

    main, alt, mhn = PRESETS["kwinner"], PRESETS["kwinner-alt"], PRESETS["mhn"]
    if quick:
        # the input side shrunk by 5 (n_i = 200, s = 20, still 10% active); parameter matching kept
        # (n_h^K f = n_h^MHN, 10^4 connections); eps = 0.3; k/n_h within a factor 2 of the paper's; the MHN
        # halved (n_h = 50, so ages scale by 1/2); a short protocol with 10 samples of 10 runs
        nets = {"kwinner": main.replace(n_input=200, n_hidden=400, active=20, fan_in=0.125, winners=10),
                "kwinner-alt": alt.replace(n_input=200, n_hidden=200, active=20, fan_in=0.25, winners=10),
                "mhn": mhn.replace(n_input=200, n_hidden=50, active=20)}
        memory = dict(n_mem=200, acc_trials=30, samples=10, runs=10, max_age=200, young=(1, 5), old=(41, 200),
                      fit_ages=(1, 100))
        tree_nets = {"kwinner": NetworkConfig(200, 400, 20, 0.1, 10, 0.3), "mhn": NetworkConfig(200, 40, 20, 1.0, 1, 1.0)}
        tree = dict(nets=tree_nets, n_input=200, active=20, n_mem=200, flips=(2, 4), flips_dprime=4, curve_trials=40,
                    runs=20, similarity_patterns=300, similarity_trees=10, samples=10)
        kwinner = dict(n_learn=800, n_probe=20)
        memory_theory = dict(control_trials=200, kwinner_cues=(1.0,),
                             windows=((1, 5), (6, 20), (21, 50), (51, 100), (101, 200)))
        case_sequence = dict(letters=2, context=2, seeds=4, batches=400, batch_size=32, lr=1e-2)
        mhn_transformer = dict(sequences=2000)
        training = dict(size=dict(letters=2, context=2, hidden=4), seeds=6, main_seeds=8, batches=240, batch_size=32,
                        window=100, cosine_every=1, lr_override={"transformer": 1e-2, "mhn": 2e-2},
                        generalisation=dict(letters=3, context=2, eval_context=3, heldout_fraction=0.25,
                                            eval_size=512),
                        grid_lrs=(2e-2,))
        attention_theory = dict(seeds=4, sequences=128, hidden_grid=(2, 3, 4, 6, 8, 12, 16, 24), figure_sequences=128,
                                train_batches=300, train_seeds=2, key_lr=1e-3, cosine_every=10, sign_sequences=2000)
        performance = dict(bench_scale="quick")
        # a fifth of the paper's network (ages scale by 1/5), a 3 x 3 (k, eps) grid, three fan-ins
        design_book = DesignGrid(scale=0.2, winners=(20, 50, 100), epsilons=(0.1, 0.3, 1.0), fan_ins=(0.05, 0.1, 0.5),
                                 scales=(0.2, 0.4), variant_scale=0.2, samples=10, runs=10, seed=SEED)
    else:
        nets = {"kwinner": main, "kwinner-alt": alt, "mhn": mhn}
        memory = dict(n_mem=2000, acc_trials=100, samples=10, runs=20, max_age=1000, young=(1, 5), old=(101, 500),
                      fit_ages=(1, 200))
        tree = dict(nets={"kwinner": main, "mhn": mhn}, n_input=1000, active=100, n_mem=2000, flips=(5, 10, 15, 20, 30),
                    flips_dprime=20, curve_trials=100, runs=20, similarity_patterns=300, similarity_trees=10,
                    samples=10)
        kwinner = dict(n_learn=2000, n_probe=100)
        memory_theory = dict(control_trials=100, kwinner_cues=(1.0, 0.5),
                             windows=((1, 10), (11, 50), (51, 100), (101, 200), (201, 500), (501, 1000)))
        case_sequence = dict(letters=4, context=4, seeds=10, batches=5000, batch_size=64, lr=1e-3)
        mhn_transformer = dict(sequences=20000)
        training = dict(size=dict(letters=4, context=4, hidden=8), seeds=10, main_seeds=50, batches=5000,
                        batch_size=64, window=500, cosine_every=5, lr_override={},
                        generalisation=dict(letters=4, context=3, eval_context=4, heldout_fraction=0.25,
                                            eval_size=1024),
                        grid_lrs=(1e-3, 5e-3))
        attention_theory = dict(seeds=8, sequences=512, hidden_grid=(2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32),
                                figure_sequences=1024, train_batches=5000, train_seeds=4, key_lr=1e-4, cosine_every=25,
                                sign_sequences=20000)
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
                 controls=dict(bootstrap=2000), case_sequence=case_sequence, mhn_transformer=mhn_transformer,
                 training=training, attention_theory=attention_theory, performance=performance,
                 design_space={"book": design_book, "full": design_full})


# ------------------------------------------------------------------------------- shared runs
def memory_protocol(sizes: MemorySizes, cue: float):
    """The paper-time protocol of the random-data runs at these sizes: B = E = n_mem, P = E + 1."""
    from .memory.protocol import ProtocolConfig

    return ProtocolConfig(n_burn_in=sizes.n_mem, n_eval=sizes.n_mem, n_pseudo=sizes.n_mem + 1, cue_fraction=cue)


def memory_stream(model: str, cue: float, kind: str) -> str:
    """The stream name of a shared random-data run: ``random/<model>/cue=<cue>/<kind>``, kind "acc" (the
    accuracy curves) or "dprime" (the samples x runs design)."""
    if kind not in ("acc", "dprime"):
        raise ConfigError(f"kind={kind!r} is not allowed: choose one of 'acc', 'dprime'")
    return f"random/{model}/cue={cue}/{kind}"


def memory_runs(sizes: MemorySizes, model: str, cue: float, kind: str):
    """One shared random-data run (cached): a :class:`~slotless.memory.protocol.TrialResult` with
    ``(trials, E)`` arrays, age 1 first. ``kind`` "acc" has ``acc_trials`` trials, "dprime" has
    ``samples * runs``. Returns ``(result, from_cache)``."""
    from .memory.protocol import run_trials_cached

    if model not in sizes.nets:
        raise ConfigError(f"model={model!r} is not allowed: choose one of {', '.join(map(repr, sizes.nets))}")
    trials = sizes.acc_trials if kind == "acc" else sizes.samples * sizes.runs
    return run_trials_cached(sizes.nets[model], memory_protocol(sizes, cue), trials, SEED,
                             stream=memory_stream(model, cue, kind), progress=False)
