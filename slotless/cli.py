"""Command line: ``python -m slotless {memory,case-sequence,cache-clean} ...``.

A thin layer over the package. Every failure is one line on stderr that names what to change: bad
input, and whatever can be found out before the run (the result path, its free space, the memory the run
needs), exits with status 2 before any work; a failure during the run exits with 1; Ctrl-C exits with
130, SIGTERM with 143 and SIGHUP with 129. None of them leaves a result or a temporary file behind.

Result files. ``memory`` and ``case-sequence`` write one layout: ``config`` (the resolved configuration),
``results`` and ``provenance`` (``slotless_version``, ``source_hash``, ``python``, ``numpy``, ``numba``,
``torch``, ``command``, ``created``, ``seconds``, ``from_cache``). JSON is strict: a number that was not
measured (for example after a training seed diverged) is ``null``. ``--format npz`` writes one array per
entry of ``results`` plus ``metadata``, a JSON string holding ``config`` and ``provenance``.

``--out`` must be a new file in an existing directory. Replacing an existing regular file needs
``--force`` (the file is replaced atomically, and one line says so), and so does writing through a
symbolic link (to its target). Directories, devices, FIFOs and sockets are always refused.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import inspect
import io as _io
import os
import shlex
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

import numba
import numpy as np

from . import __version__
from .checks import ConfigError, check_int, check_memory
from .io import (
    ENVIRONMENT,
    check_output,
    os_error_message,
    prune_cache,
    prune_numba_caches,
    save_fallback,
    source_hash,
    strict_json_bytes,
    write_output,
)

__all__ = ["main", "build_parser"]

PROG = "python -m slotless"
FORMATS = ("json", "npz")
#: Bytes of one number in a result file: about 26 characters in indented JSON, 8 in npz.
_NUMBER_BYTES = {"json": 26, "npz": 8}


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit 2 (no usage dump)."""

    def error(self, message):  # noqa: D102 - argparse hook
        self.exit(2, f"{self.prog}: error: {message}\n")


class _Help(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples of the epilogue as written."""


def _utf8(value: str) -> str:
    """An argparse type: text that is valid UTF-8 (a name that goes into seeds and result files)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(f"{os.fsencode(value)!r} is not valid UTF-8 text; use a UTF-8 name") from None
    return value


def _g(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass
class _Job:
    """What one experiment subcommand runs, planned and checked before any work.

    ``config``: the resolved configuration (written as ``config``; complete once ``compute()`` ran);
    ``compute()`` returns ``(results, from_cache)``; ``result_numbers``: how many numbers the result file holds (for the
    free-space check); ``memory``: ``(bytes, options)`` estimates of the run's parts; ``kernels()``: the
    compiled functions the run calls; ``warnings(results)``: warning lines; ``summary(results)``: one line.
    """

    config: dict
    compute: Callable[[], tuple[dict, bool]]
    result_numbers: int
    memory: list
    kernels: Callable[[], tuple]
    warnings: Callable[[dict], list]
    summary: Callable[[dict], str]


def _output_options(parser, example: str) -> None:
    parser.add_argument("--out", required=True, help="result file: a new file in an existing directory")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing --out file, or write through a symbolic link to its target")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="json, or npz (one array per result, plus 'metadata': the config and provenance "
                             "as JSON) (default: npz if --out ends in .npz, else json)")
    parser.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress bar, compile note or summary (errors and warnings still print)")
    parser.epilog = f"example:\n  {example}"


# --------------------------------------------------------------------------- memory
def _add_memory(sub) -> None:
    from .memory.network import DTYPES, PRESETS, TIE_BREAKS, WINNER_RULES, NetworkConfig
    from .memory.protocol import DATA_KINDS, PROTOCOL_PRESETS, ProtocolConfig, protocol_preset, run_trials

    parser = sub.add_parser("memory", help="continual-learning retention experiment (Part I)", formatter_class=_Help,
                            description="Run independent continual-learning trials of one network and record the "
                                        "retrieval accuracy of every memory and of its pseudo-pattern, by age.")
    network_default = {f.name: f.default for f in fields(NetworkConfig)}
    protocol_default = {f.name: f.default for f in fields(ProtocolConfig)}
    parser.add_argument("--model", choices=tuple(PRESETS), default="kwinner", help="network preset (default: kwinner)")
    for flag, name, kind, symbol in (("--n-input", "n_input", int, "n_i"), ("--n-hidden", "n_hidden", int, "n_h"),
                                     ("--active", "active", int, "s"), ("--fan-in", "fan_in", float, "f"),
                                     ("--winners", "winners", int, "k"), ("--epsilon", "epsilon", float, "eps")):
        values = ", ".join(f"{model} {_g(getattr(cfg, name))}" for model, cfg in PRESETS.items())
        parser.add_argument(flag, type=kind, default=None, help=f"{symbol} (default: the preset's: {values})")
    parser.add_argument("--winner-rule", choices=WINNER_RULES, default=None,
                        help=f"random: the random-winner control (default: {network_default['winner_rule']})")
    parser.add_argument("--tie-break", choices=TIE_BREAKS, default=None,
                        help=f"(default: {network_default['tie_break']})")
    parser.add_argument("--data", choices=DATA_KINDS, default=None, help=f"(default: {protocol_default['data']})")
    parser.add_argument("--flips", type=int, default=None, help="bit flips b per tree edge (tree data only)")
    parser.add_argument("--uniform-baseline", action="store_true", default=None,
                        help="also score never-learned unstructured patterns")
    sizes = {name: protocol_preset(name) for name in PROTOCOL_PRESETS}
    shown = "; ".join(f"{name}: B={p.n_burn_in}, E={p.n_eval}, P={p.n_pseudo}" for name, p in sizes.items())
    default_protocol = inspect.signature(protocol_preset).parameters["name"].default
    parser.add_argument("--protocol", choices=PROTOCOL_PRESETS, default=None,
                        help=f"protocol sizes ({shown}) (default: {default_protocol})")
    parser.add_argument("--burn-in", type=int, default=None, help="burn-in patterns B (default: the protocol's)")
    parser.add_argument("--memories", type=int, default=None, help="evaluated memories E (default: the protocol's)")
    parser.add_argument("--pseudo", type=int, default=None, help="pseudo-patterns P >= E (default: the protocol's)")
    parser.add_argument("--cue", type=float, default=None,
                        help=f"cue level c in (0, 1] (default: {_g(protocol_default['cue_fraction'])})")
    parser.add_argument("--trials", type=int, default=1, help="independent trials T (default: 1)")
    parser.add_argument("--seed", type=int, default=0, help="master seed (default: 0)")
    parser.add_argument("--stream", type=_utf8, default="memory",
                        help="stream name of the per-trial generators (default: memory)")
    dtype_default = inspect.signature(run_trials).parameters["dtype"].default
    parser.add_argument("--dtype", choices=DTYPES, default=dtype_default, help=f"(default: {dtype_default})")
    _output_options(parser, f"{PROG} memory --model mhn --cue 0.5 --trials 20 --out mhn.json")
    parser.set_defaults(plan=_plan_memory)


def _plan_memory(args, progress: bool) -> _Job:
    from .memory import kernels
    from .memory.network import preset
    from .memory.patterns import cue_size
    from .memory.protocol import protocol_preset, run_trials_cached

    network = preset(args.model, n_input=args.n_input, n_hidden=args.n_hidden, active=args.active,
                     fan_in=args.fan_in, winners=args.winners, epsilon=args.epsilon,
                     winner_rule=args.winner_rule, tie_break=args.tie_break)
    protocol_name = args.protocol or inspect.signature(protocol_preset).parameters["name"].default
    protocol = protocol_preset(protocol_name, n_burn_in=args.burn_in, n_eval=args.memories, n_pseudo=args.pseudo,
                               cue_fraction=args.cue, data=args.data, flips=args.flips,
                               uniform_baseline=args.uniform_baseline)
    trials = check_int("trials", args.trials, 1)
    seed = check_int("seed", args.seed, 0)
    E = protocol.n_eval
    retrieved = (3 if protocol.uniform_baseline else 2) * E  # memories, pseudo-patterns (and uniform) per trial
    threads = max(1, numba.get_num_threads())
    phi, n_h, s = network.fan_in_count, network.n_hidden, network.active
    item = 4 if args.dtype == "float32" else 8
    tree = 8 * s * protocol.tree_size if protocol.data == "tree" else 0
    memory = [
        # outputs (acc, trace, usage and their age-ordered copies), then the result as Python floats and text
        (trials * (2 * (retrieved + E + n_h) * 8 + retrieved * (32 + 2 * 26)), "--trials, --memories"),
        # each thread's trial: the network in two layouts, the trial's data, cues and winners
        (threads * n_h * phi * (32 + 2 * item), "--n-hidden, --fan-in, --n-input"),
        (threads * (4 * s * (protocol.n_pool + 2 * retrieved) + 8 * cue_size(protocol.cue_fraction, s) * retrieved
                    + 16 * E * network.winners + tree), "--memories, --burn-in, --pseudo"),
    ]

    config = {}

    def compute():
        result, from_cache = run_trials_cached(network, protocol, trials, seed, args.stream, dtype=args.dtype,
                                               progress=progress)
        config.update(result.config, model=args.model, protocol_preset=protocol_name)
        results = {"acc_real": result.acc_real, "acc_pseudo": result.acc_pseudo}
        if result.acc_uniform is not None:
            results["acc_uniform"] = result.acc_uniform
        return results, from_cache

    def summary(results):
        real, pseudo = np.asarray(results["acc_real"]), np.asarray(results["acc_pseudo"])
        return (f"{args.model}, {trials} trial(s) x {E} memories: mean accuracy {real[:, 0].mean():.3f} at age 1, "
                f"{real[:, -1].mean():.3f} at age {E} (pseudo-patterns {pseudo.mean():.3f})")

    return _Job(config=config, compute=compute, result_numbers=trials * retrieved, memory=memory,
                kernels=lambda: (kernels.run_trial_batch,), warnings=lambda results: [], summary=summary)


# --------------------------------------------------------------------- case-sequence
#: Options that only the MHN models have, by SweepConfig field.
_MHN_ONLY = {"hidden": "--hidden", "key_lr": "--key-lr", "input_projections": "--input-projections",
             "mask_unrecruited": "--mask-unrecruited"}
#: SweepConfig fields that mean nothing for the transformer (left out of its written config).
_TRANSFORMER_OMITS = ("hidden", "input_projections", "mask_unrecruited", "wv_mode")


def _rates_text(preset: str) -> str:
    from .attention.training import LEARNING_RATES, MODELS

    rates = {model: LEARNING_RATES[(model, preset)] for model in MODELS}
    common = max(set(rates.values()), key=list(rates.values()).count)
    special = ", ".join(f"{model} {_g(rate)}" for model, rate in rates.items() if rate != common)
    return f"under {preset}: {special + ', ' if special else ''}others {_g(common)}"


def _add_case_sequence(sub) -> None:
    from .attention.task import HELDOUT_FRACTION, HELDOUT_LETTERS, HELDOUT_SPLITS
    from .attention.training import MODELS, PRESETS, RULE_KEY_LR, SweepConfig, resolve_config, run_sweep

    parser = sub.add_parser("case-sequence", help="Case Sequence Task training sweep (Part II)", formatter_class=_Help,
                            description="Train a stack of seeds of one model on the Case Sequence Task and record "
                                        "their accuracy and loss curves and final measures.")
    sweep_default = {f.name: f.default for f in fields(SweepConfig)}
    run_default = {name: p.default for name, p in inspect.signature(run_sweep).parameters.items()}
    preset_default = inspect.signature(resolve_config).parameters["preset"].default
    parser.add_argument("--model", required=True, choices=tuple(MODELS), help="which model to train")
    parser.add_argument("--preset", choices=PRESETS, default=None,
                        help=f"default: the book's (exact gradients, gamma = 1); paper: the settings of the authors' "
                             f"saved sweep (default: {preset_default})")
    parser.add_argument("--letters", type=int, default=None, help=f"L, number of letters (default: "
                                                                      f"{sweep_default['letters']})")
    parser.add_argument("--context", type=int, default=None,
                        help=f"C <= L, context length (default: {sweep_default['context']})")
    parser.add_argument("--key-dim", type=int, default=None, help=f"d_k (default: {sweep_default['key_dim']})")
    parser.add_argument("--hidden", type=int, default=None,
                        help=f"n_h fast units (MHN models only; default: {sweep_default['hidden']})")
    parser.add_argument("--lr", type=float, default=None,
                        help=f"learning rate (default: the preset's, {_rates_text('default')}; "
                             f"{_rates_text('paper')})")
    slow_keys = ", ".join(m for m, rule in MODELS.items() if rule in RULE_KEY_LR)
    parser.add_argument("--key-lr", type=float, default=None,
                        help=f"W_K learning rate (MHN models only; default: "
                             f"{_g(sorted(set(RULE_KEY_LR.values()))[0])} for {slow_keys}, else --lr)")
    parser.add_argument("--input-projections", action=argparse.BooleanOptionalAction, default=None,
                        help=f"fixed input projections W_items; needs hidden >= 2L (MHN models only; default: "
                             f"{'on' if sweep_default['input_projections'] else 'off'})")
    parser.add_argument("--mask-unrecruited", action="store_true", default=None,
                        help="give units that hold no item logit -inf (book addition; MHN models only)")
    parser.add_argument("--heldout-split", choices=HELDOUT_SPLITS, default=None,
                        help="hold sequences out of training and report accuracy on them: classes (a fraction of the "
                             "reordering classes: no held-out sequence is a reordering of a training one), pairs "
                             "(every sequence that queries one of the first --heldout-letters letters while it is "
                             "uppercase) or random (a fraction of all sequences; almost every one is a reordering of "
                             "a training sequence) (default: none)")
    parser.add_argument("--heldout-fraction", type=float, default=None,
                        help=f"the fraction held out by --heldout-split classes or random "
                             f"(default: {_g(HELDOUT_FRACTION)})")
    parser.add_argument("--heldout-letters", type=int, default=None,
                        help=f"how many letters (a, b, ...) --heldout-split pairs holds out (default: "
                             f"{HELDOUT_LETTERS})")
    parser.add_argument("--eval-context", type=int, default=None,
                        help="also report accuracy at this longer context (> --context)")
    parser.add_argument("--seeds", type=int, default=None, help=f"number of seeds, trained as one stack (default: "
                                                                 f"{run_default['seeds']})")
    parser.add_argument("--batches", type=int, default=None, help=f"training batches (default: {run_default['batches']})")
    parser.add_argument("--batch-size", type=int, default=None,
                        help=f"sequences per batch (default: {run_default['batch_size']})")
    parser.add_argument("--seed", type=int, default=None, help=f"master seed (default: {run_default['seed']})")
    parser.add_argument("--bin-size", type=int, default=None, help="batches per curve bin (default: batches/100)")
    _output_options(parser, f"{PROG} case-sequence --model qk-mhn --seeds 4 --batches 2000 --out qk.json")
    parser.set_defaults(plan=_plan_case_sequence)


def _plan_case_sequence(args, progress: bool) -> _Job:
    from .attention import mhn
    from .attention.diagnostics import binned
    from .attention.task import n_sequences
    from .attention.training import resolve_config, run_sweep

    if args.model == "transformer":
        given = [flag for name, flag in _MHN_ONLY.items() if getattr(args, name) is not None]
        if given:
            verb = "applies" if len(given) == 1 else "apply"
            raise ConfigError(f"{', '.join(given)} only {verb} to the MHN models, not to --model transformer")
    preset = args.preset or inspect.signature(resolve_config).parameters["preset"].default
    config = resolve_config(
        args.model, preset, letters=args.letters, context=args.context, key_dim=args.key_dim,
        hidden=args.hidden, lr=args.lr, key_lr=args.key_lr, input_projections=args.input_projections,
        mask_unrecruited=args.mask_unrecruited, heldout_split=args.heldout_split,
        heldout_fraction=args.heldout_fraction, heldout_letters=args.heldout_letters, eval_context=args.eval_context)
    default = {name: p.default for name, p in inspect.signature(run_sweep).parameters.items()}
    pick = lambda name: getattr(args, name) if getattr(args, name) is not None else default[name]  # noqa: E731
    seeds = check_int("--seeds", pick("seeds"), 1)
    batches = check_int("--batches", pick("batches"), 1)
    batch_size = check_int("--batch-size", pick("batch_size"), 1)
    seed = check_int("--seed", pick("seed"), 0)
    bin_size = check_int("--bin-size", args.bin_size if args.bin_size is not None else max(1, batches // 100), 1)
    n_bins = -(-batches // bin_size)

    L, C, d_k, H = config.letters, config.context, config.key_dim, config.hidden
    tokens = 3 * L
    evaluated = config.eval_size if (config.heldout_split or config.eval_context) else 0
    memory = [
        (seeds * batches * 8 * 3 * 3, "--batches, --seeds"),  # per-batch accuracy, loss and collision records
        (seeds * (50 + 1) * batch_size * (2 * C + 1) * 8 * 2, "--batch-size, --seeds"),  # 50 batches of draws
        # one batch's tensors and their temporaries (and the evaluation chunks)
        (seeds * (batch_size + min(evaluated, 1024)) * (C + 1) * (tokens + d_k + H + 2) * 4 * 24,
         "--batch-size, --seeds, --key-dim, --hidden"),
        (seeds * (2 * d_k + 2 + H) * tokens * 4 * 12, "--key-dim, --letters, --seeds"),  # weights, gradients, copies
        (seeds * 2 * n_bins * (32 + 2 * 26), "--batches, --bin-size, --seeds"),  # the curves as floats and text
    ]
    if config.heldout_split:  # the held-out split enumerates every sequence, and the result lists the held-out ones
        memory.append((3 * 8 * (2 * C + 1) * n_sequences(L, C) + seeds * n_sequences(L, C) * (C + 2) * 64,
                       "--letters, --context (with --heldout-split)"))

    written = config.to_dict()
    if config.is_transformer:
        for name in _TRANSFORMER_OMITS:
            written.pop(name)
    written.update(seeds=seeds, batches=batches, batch_size=batch_size, seed=seed, bin_size=bin_size)

    def compute():
        result = run_sweep(config, seeds, batches, batch_size, seed, progress=progress)
        with warnings.catch_warnings():  # a bin with no measurement (after a divergence) is NaN, i.e. null
            warnings.simplefilter("ignore", RuntimeWarning)
            curves = binned(result.accuracy, bin_size), binned(result.loss, bin_size)
        results = {
            "final_window": min(config.final_window, batches),
            "final_accuracy": result.final_accuracy,
            "final_loss": result.final_loss,
            "heldout_split": config.heldout_split,
            "heldout_sequences": None if result.heldout_sequences is None else result.heldout_sequences.tolist(),
            "heldout_accuracy": result.heldout_accuracy,
            "context_accuracy": result.context_accuracy,
            "batches_to_99": result.batches_to_99,
            "collision_rate": result.collision_rate,
            "diverged": [d is not None for d in result.diverged_at],
            "diverged_at": result.diverged_at,
            "accuracy_curve": curves[0],
            "loss_curve": curves[1],
        }
        return results, False

    def warn(results):
        stopped = [d for d in results["diverged_at"] if d is not None]
        if not stopped:
            return []
        return [f"{len(stopped)} of {seeds} seed(s) diverged (non-finite loss, first at batch {min(stopped)}); "
                f"they stopped there and their later results are null; lower --lr (now {_g(config.lr)})"]

    def summary(results):
        final = np.asarray(results["final_accuracy"], dtype=float)
        reached = sum(b is not None for b in results["batches_to_99"])
        if np.isnan(final).all():
            return f"{args.model}, {seeds} seed(s) x {batches} batches: every seed diverged"
        return (f"{args.model}, {seeds} seed(s) x {batches} batches: final accuracy {np.nanmean(final):.3f} "
                f"(mean over seeds that did not diverge), {reached} of {seeds} reached 99%")

    return _Job(config=written, compute=compute, result_numbers=seeds * (2 * n_bins + 10), memory=memory,
                kernels=lambda: () if config.is_transformer else (mhn._store_sequences,), warnings=warn,
                summary=summary)


# ------------------------------------------------------------------------------ cache-clean
def _add_cache_clean(sub) -> None:
    parser = sub.add_parser(
        "cache-clean", help="remove result-cache entries that can never be used again", formatter_class=_Help,
        description="Remove, from each directory and its subdirectories, the result-cache entries made by another "
                    "version of the slotless source or under other versions of Python, NumPy, Numba or PyTorch, "
                    "damaged entries, and temporary files left by interrupted writes; and the package's compiled-kernel "
                    "caches of older source versions (unless NUMBA_CACHE_DIR is set). Other files are left alone.")
    parser.add_argument("directories", nargs="*", metavar="DIR",
                        help="cache directories (default: $SLOTLESS_CACHE)")
    parser.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    parser.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help="print nothing on success")
    parser.epilog = f"example:\n  {PROG} cache-clean .cache"
    parser.set_defaults(plan=None)


def _cache_clean(args, say) -> int:
    directories = args.directories or ([os.environ["SLOTLESS_CACHE"]] if os.environ.get("SLOTLESS_CACHE") else [])
    if not directories:
        say("error: give a cache directory (or set SLOTLESS_CACHE)")
        return 2
    for directory in directories:
        if not Path(directory).is_dir():
            say(f"error: DIR={directory!r} is not a directory")
            return 2
    for directory in directories:
        kept = removed = 0
        for folder, _, _ in os.walk(directory):
            report = prune_cache(folder, dry_run=args.dry_run)
            kept += report.kept
            removed += len(report.removed)
            if args.dry_run:
                for name, reason in report.removed:
                    print(f"would remove {os.path.join(folder, name)}: {reason}")
        if not args.quiet:
            verb = "would remove" if args.dry_run else "removed"
            say(f"{directory}: {verb} {removed} file(s), kept {kept} current entr{'y' if kept == 1 else 'ies'}")
    if not os.environ.get("NUMBA_CACHE_DIR"):  # the compiled kernels of older source versions, too
        stale = prune_numba_caches(dry_run=args.dry_run)
        if stale and not args.quiet:
            verb = "would remove" if args.dry_run else "removed"
            say(f"{verb} {len(stale)} compiled-kernel cache(s) of older source versions")
    return 0


# ----------------------------------------------------------------------------- sweep
class _TableOut(argparse.Action):
    """``--out TABLE``: the table goes to TABLE; the run record that main() writes goes next to it."""

    def __call__(self, parser, namespace, values, option_string=None):
        namespace.table = values
        namespace.out = f"{values}.json"


def _add_sweep(sub) -> None:
    parser = sub.add_parser(
        "sweep", help="run a grid of memory experiments on Dask and write a table (Part I)",
        description="Run a TOML grid of memory experiments and write a tidy CSV table, one row per "
                    "configuration and cue, each K-winner design against its parameter-matched 1-winner MHN. "
                    "Keys are the memory subcommand's options with underscores (model, winners, epsilon, "
                    "fan_in, n_hidden, cue, data, flips, burn_in, memories, trials, seed, ...) plus samples; "
                    "a list is an axis, a scalar is fixed. Example: winners = [10, 20, 50, 65, 100]. "
                    "Tasks run on an embedded LocalCluster (--workers), an existing scheduler (--scheduler or "
                    "SLOTLESS_SCHEDULER) or a Slurm/PBS cluster (--cluster); every task is cached, so a "
                    "killed sweep resumes and a re-run recomputes nothing.")
    parser.add_argument("grid", help="the grid, a TOML file")
    parser.add_argument("--out", required=True, action=_TableOut,
                        help="the table (CSV, written atomically); a run record goes to OUT.json")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes of the embedded LocalCluster (default: the machine's cores; 1: "
                             "run here)")
    parser.add_argument("--scheduler", default=None,
                        help="address of an existing Dask scheduler, tcp://HOST:PORT (default: $SLOTLESS_SCHEDULER)")
    parser.add_argument("--chunk", type=int, default=None, help="trials per task (default 20)")
    parser.add_argument("--cache", default=None,
                        help="result cache directory, shared by all workers (default: $SLOTLESS_CACHE, else "
                             ".slotless-cache)")
    parser.add_argument("--cluster", choices=("slurm", "pbs"), default=None,
                        help="submit the workers as Slurm or PBS jobs (dask-jobqueue)")
    parser.add_argument("--jobs", type=int, default=1, help="batch jobs to submit (--cluster)")
    parser.add_argument("--cores", type=int, default=None, help="worker processes per job (--cluster)")
    parser.add_argument("--memory", default=None, help="memory per job, e.g. 32GB (--cluster)")
    parser.add_argument("--walltime", default="01:00:00", help="walltime per job, HH:MM:SS (--cluster)")
    parser.add_argument("--queue", default=None, help="queue or partition (--cluster)")
    parser.add_argument("--account", default=None, help="account or project to charge (--cluster)")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing table (and its run record), or write through a symbolic link")
    parser.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress bar or summary (errors and warnings still print)")
    parser.epilog = "example:\n  python -m slotless sweep grid.toml --out table.csv --workers 2"
    parser.set_defaults(plan=_plan_sweep, format="json")


def _plan_sweep(args, progress: bool) -> _Job:
    import os

    from .io import cache_dir, check_output, write_output
    from .sweeps import Engine, batch_cluster, load_grid, sweep_table

    table_target = check_output(args.table, "--out", force=args.force)
    axes = load_grid(args.grid)
    directory = args.cache or cache_dir() or ".slotless-cache"
    if args.cluster is not None:
        if args.scheduler is not None or args.workers is not None:
            raise ConfigError("--cluster starts its own workers: drop --scheduler and --workers")
        if args.cores is None or args.memory is None:
            raise ConfigError(f"--cluster {args.cluster} needs --cores and --memory (per job)")

    def compute():
        os.makedirs(directory, exist_ok=True)
        cluster = None
        if args.cluster is not None:
            cluster = batch_cluster(args.cluster, args.jobs, cores=args.cores, memory=args.memory,
                                    walltime=args.walltime, queue=args.queue, account=args.account,
                                    cache=os.path.abspath(directory))
            engine = Engine(cluster=cluster)
        else:
            engine = Engine(workers=args.workers, scheduler=args.scheduler)
        try:
            with engine:
                table, info = sweep_table(axes, engine=engine, chunk=args.chunk, directory=directory,
                                          progress=progress)
        finally:
            if cluster is not None:
                cluster.close()
        write_output(table_target, table.to_csv(index=False).encode("utf-8"), "--out", force=args.force,
                     log=lambda line: print(f"{PROG} sweep: {line}", file=sys.stderr))
        record = {"table": str(table_target.given), "rows": len(table), "tasks": info.tasks,
                  "computed": info.computed, "from_cache": info.from_cache, "runs": info.runs, "engine": info.engine,
                  "cache": os.path.abspath(directory)}
        return record, info.computed == 0

    return _Job(config={"grid": dict(axes), "workers": args.workers, "scheduler": args.scheduler,
                        "cluster": args.cluster, "chunk": args.chunk},
                compute=compute, result_numbers=64, memory=[], kernels=lambda: (), warnings=lambda results: [],
                summary=lambda r: f"{r['rows']} rows; {r['computed']} of {r['tasks']} tasks computed, "
                                  f"{r['from_cache']} read from the cache; table {r['table']}")


# ----------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m slotless``."""
    parser = _Parser(prog=PROG, formatter_class=_Help,
                     description="Run the experiments of the book from the command line; each writes one result "
                                 "file (config, results, provenance).",
                     epilog=f"examples:\n  {PROG} memory --model kwinner --cue 0.5 --trials 20 --out kw.json\n"
                            f"  {PROG} case-sequence --model qk-mhn --seeds 10 --out qk.json\n"
                            f"  {PROG} cache-clean .cache\n"
                            f"Run '{PROG} COMMAND --help' for the options of a command.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__} (source {source_hash()[:12]})")
    parser.add_argument("--quiet", action="store_true", default=False,
                        help="no progress bar, compile note or summary (errors and warnings still print)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    _add_memory(sub)
    _add_case_sequence(sub)
    _add_cache_clean(sub)
    _add_sweep(sub)
    return parser


class _Terminated(BaseException):
    """SIGTERM or SIGHUP, raised like Ctrl-C's KeyboardInterrupt so that every clean-up runs."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def _signals_raise():
    """Turn SIGTERM and SIGHUP into :class:`_Terminated` while the command runs (main thread only), unless
    the process was started with that signal ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])

    def handler(signum, frame):
        for s in caught:  # a second signal must not interrupt the clean-up of the first
            signal.signal(s, signal.SIG_IGN)
        raise _Terminated(signum)

    # a signal the caller ignores stays ignored (nohup ignores SIGHUP so that a run survives its terminal)
    previous = {s: signal.signal(s, handler) for s in caught if signal.getsignal(s) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _needs_compiling(dispatchers) -> bool:
    """Whether Numba's on-disk cache lacks any of ``dispatchers`` (so this run compiles them first)."""
    for dispatcher in dispatchers:
        try:
            index = dispatcher._cache._cache_file._index_path  # numba 0.68: one index file per function
        except AttributeError:
            continue
        if not os.path.exists(index):
            return True
    return False


def _command(argv) -> str:
    printable = [os.fsencode(a).decode("utf-8", "backslashreplace") for a in argv]
    return shlex.join(["python", "-m", "slotless", *printable])


def _provenance(argv, seconds: float, from_cache: bool) -> dict:
    return {
        "slotless_version": __version__,
        "source_hash": source_hash(),
        **ENVIRONMENT,
        "command": _command(argv),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seconds": seconds,
        "from_cache": from_cache,
    }


def _as_array(value) -> np.ndarray:
    array = np.asarray(value)
    return np.asarray(value, dtype=float) if array.dtype == object else array  # None (not measured) -> NaN


def _encode(document: dict, fmt: str) -> bytes:
    if fmt == "json":
        return strict_json_bytes(document)
    arrays = {name: _as_array(value) for name, value in document["results"].items() if value is not None}
    meta = {"config": document["config"], "provenance": document["provenance"]}
    arrays["metadata"] = np.array(strict_json_bytes(meta).decode("utf-8"))
    buffer = _io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _out_of_memory(error: BaseException) -> bool:
    return isinstance(error, MemoryError) or (
        isinstance(error, RuntimeError) and "can't allocate memory" in str(error))


def main(argv=None) -> int:
    """Entry point. Returns the process exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = f"{PROG} {args.command}"

    def say(line: str) -> None:
        print(f"{prog}: {line}", file=sys.stderr, flush=True)

    if args.plan is None:
        return _cache_clean(args, say)
    fmt = args.format or ("npz" if args.out.endswith(".npz") else "json")
    stage = "check"
    job = None
    with _signals_raise():
        try:
            job = args.plan(args, not args.quiet and sys.stderr.isatty())
            check_memory(job.memory)
            target = check_output(args.out, "--out", force=args.force,
                                  expected_bytes=job.result_numbers * _NUMBER_BYTES[fmt] + 16384)
            if not args.quiet and _needs_compiling(job.kernels()):
                say("compiling kernels (first run only)…")
            stage = "run"
            start = time.perf_counter()
            # stdout stays clean: the package's notes (a cache hit) go to stderr, or nowhere under --quiet
            with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull if args.quiet else sys.stderr):
                results, from_cache = job.compute()
            seconds = time.perf_counter() - start
            document = {"config": job.config, "results": results,
                        "provenance": _provenance(argv, seconds, from_cache)}
            data = _encode(document, fmt)
            stage = "write"
            try:
                write_output(target, data, "--out", force=args.force, log=say)
            except (OSError, ConfigError) as error:
                reason = os_error_message(error, target.path.parent, "--out", args.out) \
                    if isinstance(error, OSError) else str(error)
                saved = save_fallback(data, f".{fmt}")
                kept = f"; the result was saved to {saved} instead" if saved else "; the result was lost"
                say(f"error: could not write the result: {reason}{kept}")
                return 1
            stage = "done"
            for line in job.warnings(results):
                say(f"warning: {line}")
            if not args.quiet:
                say(f"{job.summary(results)}; wrote {args.out} ({seconds:.1f} s)")
            return 0
        except ConfigError as error:
            say(f"error: {error}")
            return 2
        except KeyboardInterrupt:
            say("interrupted; " + ("the result was written" if stage == "done" else "no result written"))
            return 130
        except _Terminated as signal_:
            say(f"stopped by {signal_}; " + ("the result was written" if stage == "done" else "no result written"))
            return 128 + signal_.signum
        except (MemoryError, RuntimeError) as error:
            if not _out_of_memory(error):
                raise
            largest = max(job.memory, key=lambda e: e[0])[1] if job else "the sizes"
            say(f"error: ran out of memory {'during the run' if stage != 'check' else 'while planning'}; "
                f"reduce {largest}")
            return 1 if stage != "check" else 2
        except OSError as error:
            detail = f" ({error.filename})" if error.filename else ""
            say(f"error: {error.strerror or error}{detail}; no result written")
            return 1 if stage != "check" else 2
