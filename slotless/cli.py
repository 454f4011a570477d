"""Command line: ``python -m slotless {memory,case-sequence} ...``.

A thin layer over the package's functions. Bad input exits with status 2 and one
line naming the parameter; results are written atomically as JSON.
"""

from __future__ import annotations

import argparse
import sys
import time

from .checks import ConfigError
from .io import atomic_write_json, check_writable

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit 2 (no usage dump)."""

    def error(self, message):  # noqa: D102 - argparse hook
        self.exit(2, f"{self.prog}: error: {message}\n")


# --------------------------------------------------------------------------- memory
def _add_memory(sub) -> None:
    parser = sub.add_parser("memory", help="continual-learning retention experiment (Part I)")
    parser.add_argument("--model", default="kwinner", help="network preset: kwinner, kwinner-alt or mhn")
    for flag, kind in (("--n-input", int), ("--n-hidden", int), ("--active", int), ("--fan-in", float),
                       ("--winners", int), ("--epsilon", float)):
        parser.add_argument(flag, type=kind, default=None, help="override the preset")
    parser.add_argument("--winner-rule", default=None, help="topk (default) or random (control)")
    parser.add_argument("--tie-break", default=None, help="random (default) or lowest_index")
    parser.add_argument("--data", default="random", help="random or tree")
    parser.add_argument("--flips", type=int, default=None, help="bit flips b per tree edge (tree data)")
    parser.add_argument("--uniform-baseline", action="store_true", help="also score unstructured patterns")
    parser.add_argument("--protocol", default="paper", help="size preset: paper (default) or later")
    parser.add_argument("--burn-in", type=int, default=None, help="burn-in patterns B (preset default)")
    parser.add_argument("--memories", type=int, default=None, help="evaluated memories N (preset default)")
    parser.add_argument("--pseudo", type=int, default=None, help="pseudo-patterns P >= N (preset default)")
    parser.add_argument("--cue", type=float, default=1.0, help="cue level c in (0, 1]")
    parser.add_argument("--trials", type=int, default=1, help="independent trials T")
    parser.add_argument("--seed", type=int, default=0, help="master seed")
    parser.add_argument("--stream", default="memory", help="stream name of the per-trial generators")
    parser.add_argument("--dtype", default="float32", help="float32 (default) or float64")
    parser.add_argument("--out", required=True, help="result JSON path (written atomically)")
    parser.set_defaults(run=_run_memory)


def _run_memory(args) -> dict:
    from .memory.network import preset
    from .memory.protocol import protocol_preset, run_trials

    network = preset(args.model, n_input=args.n_input, n_hidden=args.n_hidden, active=args.active,
                     fan_in=args.fan_in, winners=args.winners, epsilon=args.epsilon,
                     winner_rule=args.winner_rule, tie_break=args.tie_break)
    protocol = protocol_preset(args.protocol, n_burn_in=args.burn_in, n_eval=args.memories,
                               n_pseudo=args.pseudo, cue_fraction=args.cue, data=args.data, flips=args.flips,
                               uniform_baseline=args.uniform_baseline)
    result = run_trials(network, protocol, args.trials, args.seed, args.stream, dtype=args.dtype,
                        progress=args.progress)
    out = {"config": dict(result.config, model=args.model, protocol_preset=args.protocol),
           "acc_real": result.acc_real.tolist(), "acc_pseudo": result.acc_pseudo.tolist()}
    if result.acc_uniform is not None:
        out["acc_uniform"] = result.acc_uniform.tolist()
    return out


# --------------------------------------------------------------------- case-sequence
def _add_case_sequence(sub) -> None:
    from .attention.training import MODELS

    parser = sub.add_parser("case-sequence", help="Case Sequence Task training sweep (Part II)")
    parser.add_argument("--model", required=True, choices=tuple(MODELS), help="which model to train")
    parser.add_argument("--preset", default="default",
                        help="default (book: exact gradients, gamma=1) or paper (the authors' saved sweep)")
    parser.add_argument("--letters", type=int, default=4, help="L, number of letters")
    parser.add_argument("--context", type=int, default=4, help="C <= L, context length")
    parser.add_argument("--key-dim", type=int, default=None, help="d_k (default 32)")
    parser.add_argument("--hidden", type=int, default=None, help="n_h fast units (MHN models; default 8)")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (overrides the preset)")
    parser.add_argument("--key-lr", type=float, default=None, help="W_K learning rate (overrides the preset)")
    parser.add_argument("--input-projections", action=argparse.BooleanOptionalAction, default=None,
                        help="fixed input projections W_items (default on; needs hidden >= 2L)")
    parser.add_argument("--mask-unrecruited", action="store_true", default=None,
                        help="give units that hold no item logit -inf (book addition)")
    parser.add_argument("--heldout-fraction", type=float, default=None,
                        help="hold out this fraction of all sequences from training and report accuracy on them")
    parser.add_argument("--eval-context", type=int, default=None,
                        help="also report accuracy at this longer context (> --context)")
    parser.add_argument("--seeds", type=int, default=10, help="number of seeds (stacked)")
    parser.add_argument("--batches", type=int, default=5000, help="training batches")
    parser.add_argument("--batch-size", type=int, default=64, help="sequences per batch")
    parser.add_argument("--seed", type=int, default=0, help="master seed")
    parser.add_argument("--bin-size", type=int, default=None, help="batches per curve bin (default batches/100)")
    parser.add_argument("--out", required=True, help="result JSON path (written atomically)")
    parser.set_defaults(run=_run_case_sequence)


def _run_case_sequence(args) -> dict:
    from .attention.diagnostics import binned
    from .attention.training import resolve_config, run_sweep
    from .checks import check_int

    config = resolve_config(
        args.model, args.preset, letters=args.letters, context=args.context, key_dim=args.key_dim,
        hidden=args.hidden, lr=args.lr, key_lr=args.key_lr, input_projections=args.input_projections,
        mask_unrecruited=args.mask_unrecruited, heldout_fraction=args.heldout_fraction,
        eval_context=args.eval_context)
    batches = check_int("--batches", args.batches, 1)
    bin_size = check_int("--bin-size", args.bin_size if args.bin_size is not None else max(1, batches // 100), 1)
    result = run_sweep(config, check_int("--seeds", args.seeds, 1), batches,
                       check_int("--batch-size", args.batch_size, 1), check_int("--seed", args.seed, 0),
                       progress=args.progress)
    return {
        "config": config.to_dict(),
        "seeds": result.seeds,
        "batches": batches,
        "batch_size": result.batch_size,
        "seed": result.seed,
        "final_window": min(config.final_window, batches),
        "final_accuracy": result.final_accuracy,
        "final_loss": result.final_loss,
        "heldout_accuracy": result.heldout_accuracy,
        "context_accuracy": result.context_accuracy,
        "batches_to_99": result.batches_to_99,
        "collision_rate": result.collision_rate,
        "bin_size": bin_size,
        "accuracy_curve": binned(result.accuracy, bin_size),
        "loss_curve": binned(result.loss, bin_size),
    }


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
    parser.set_defaults(run=_run_sweep)


def _run_sweep(args) -> dict:
    import os

    from .io import cache_dir
    from .sweeps import Engine, batch_cluster, load_grid, sweep_table, write_table

    table_path = check_writable(args.table, "--out")
    axes = load_grid(args.grid)
    directory = args.cache or cache_dir() or ".slotless-cache"
    os.makedirs(directory, exist_ok=True)
    if args.cluster is not None:
        if args.scheduler is not None or args.workers is not None:
            raise ConfigError("--cluster starts its own workers: drop --scheduler and --workers")
        if args.cores is None or args.memory is None:
            raise ConfigError(f"--cluster {args.cluster} needs --cores and --memory (per job)")
        cluster = batch_cluster(args.cluster, args.jobs, cores=args.cores, memory=args.memory,
                                walltime=args.walltime, queue=args.queue, account=args.account,
                                cache=os.path.abspath(directory))
        engine = Engine(cluster=cluster)
    else:
        cluster = None
        engine = Engine(workers=args.workers, scheduler=args.scheduler)
    try:
        with engine:
            table, info = sweep_table(axes, engine=engine, chunk=args.chunk, directory=directory,
                                      progress=args.progress)
    finally:
        if cluster is not None:
            cluster.close()
    write_table(table, table_path)
    print(f"{info}; table: {table_path} ({len(table)} rows)", file=sys.stderr)
    return {"grid": {k: v for k, v in axes.items()}, "table": str(table_path), "rows": len(table),
            "tasks": info.tasks, "computed": info.computed, "from_cache": info.from_cache, "runs": info.runs,
            "engine": info.engine, "cache": os.path.abspath(directory)}


# ----------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m slotless", description=__doc__.splitlines()[0])
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_memory(sub)
    _add_case_sequence(sub)
    _add_sweep(sub)
    return parser


def main(argv=None) -> int:
    """Entry point. Returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.progress = not args.quiet and sys.stderr.isatty()
    try:
        check_writable(args.out, "--out")
        start = time.perf_counter()
        result = args.run(args)
        result["seconds"] = time.perf_counter() - start
        atomic_write_json(args.out, result)
    except ConfigError as error:
        print(f"{parser.prog} {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.command}: interrupted; no result written", file=sys.stderr)
        return 130
    return 0
