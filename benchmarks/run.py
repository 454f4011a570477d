"""Benchmark runner: ``python benchmarks/run.py --out benchmarks/results.json``.

Times the straightforward reference (``slotless.perf.reference``) and the fast engine
(``slotless.memory.protocol.run_trials``) in the same run on the same settings, checks that both
give the same accuracy curves within statistical noise, measures scaling and peak memory,
estimates the paper-scale figure set and Case Sequence sweeps, writes everything atomically
to ``--out`` and prints a table of ratios.

Exit status: 0 if every target is met, 1 if a target fails (or the curves disagree),
2 for bad arguments. The measuring code lives in :mod:`slotless.perf.bench`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    from slotless.perf import bench
except ImportError:  # run from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from slotless.perf import bench

from slotless.checks import ConfigError
from slotless.io import atomic_write_json, check_writable


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results.json", help="result JSON (written atomically)")
    parser.add_argument(
        "--scale",
        default="full",
        choices=tuple(bench.SCALES),
        help="full (make bench), chapter (as the book's paper scale), quick, tiny (smoke test)",
    )
    parser.add_argument("--seed", type=int, default=0, help="master seed")
    parser.add_argument("--no-sweeps", action="store_true", help="skip the Case Sequence sweep timings")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        out = check_writable(args.out, "--out")
        log = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
        results = bench.run_benchmark(args.scale, seed=args.seed, sweeps=not args.no_sweeps, log=log)
    except ConfigError as error:
        print(f"benchmarks/run.py: error: {error}", file=sys.stderr)
        return 2
    failures = bench.check_targets(results)
    results["failures"] = failures
    atomic_write_json(out, results)
    m = results["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores; numpy {m['numpy']}, numba {m['numba']}, torch {m['torch']}")
    print(bench.format_table(results))
    print(f"results: {out}  ({results['seconds']:.0f} s)")
    if failures:
        print("TARGETS FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("all targets met" if results["params"]["n_mem"] == 2000 else "curves agree (speed targets apply at paper scale)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
