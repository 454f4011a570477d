"""Benchmark runner (``make bench``): ``python benchmarks/run.py [--out benchmarks/results.json]``.

Times the straightforward reference (``slotless.perf.reference``) and the engine
(``slotless.memory.protocol.run_trials``) side by side in one run, for every memory setting, checks that
both give the same accuracy curves within statistical noise, measures scaling, peak memory and the
Part II training cost, writes everything atomically to ``--out`` and prints the table of ratios
against the targets of ``slotless.perf.bench.TARGETS``.

Exit status: 0 if every target is met, 1 if one is missed (or the curves disagree), 2 for bad
arguments. The speed targets are defined at the paper's sizes (``--scale full`` or ``chapter``); a
``--target`` given on the command line replaces a setting's target and is checked at any scale.
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


def parse_target(text: str) -> tuple[str, bench.SpeedTarget]:
    """``SETTING=WALL/CPU`` (e.g. ``kwinner=150/80``) as ``(setting, SpeedTarget)``."""
    try:
        setting, ratios = text.split("=", 1)
        wall, cpu = (float(x) for x in ratios.split("/"))
    except ValueError:
        raise ConfigError(f"--target {text!r}: write SETTING=WALL/CPU, e.g. kwinner=150/80") from None
    if setting not in bench.SETTINGS:
        raise ConfigError(f"--target {text!r}: the setting must be one of {', '.join(bench.SETTINGS)}")
    return setting, bench.SpeedTarget(wall, cpu)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Time the reference and slotless side by side and check the speed targets (make bench); "
                    "exit status 1 when a target is missed.",
        epilog="example: benchmarks/run.py --scale tiny --target kwinner=1e9/1e9   (exits 1)")
    parser.add_argument("--out", default="benchmarks/results.json", help="result JSON (written atomically)")
    parser.add_argument("--scale", default="full", choices=tuple(bench.SCALES),
                        help="full (make bench), chapter (as the book's paper scale), quick, tiny (smoke test)")
    parser.add_argument("--seed", type=int, default=0, help="master seed")
    parser.add_argument("--target", action="append", default=[], metavar="SETTING=WALL/CPU",
                        help="replace a setting's minimum ratios (checked at any scale); repeatable")
    parser.add_argument("--no-sweeps", action="store_true", help="skip the Case Sequence training cost")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        out = check_writable(args.out, "--out")
        targets = bench.TARGETS
        for text in args.target:
            targets = targets.replace_ratio(*parse_target(text))
        log = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
        result = bench.run_benchmark(args.scale, seed=args.seed, sweeps=not args.no_sweeps, log=log)
    except ConfigError as error:
        print(f"benchmarks/run.py: error: {error}", file=sys.stderr)
        return 2
    speed = result.sizes.paper_sizes or bool(args.target)
    failures = bench.check_targets(result, targets, speed=speed)
    record = result.to_json()
    record["targets"] = {"ratio": {s: vars(t) for s, t in targets.ratio.items()}, "peak_rss_mib": targets.peak_rss_mib,
                         "speed_checked": speed}
    record["failures"] = failures
    atomic_write_json(out, record)
    print(result.machine.describe())
    print(bench.format_table(result, targets))
    print(f"results: {out}  ({result.seconds:.0f} s)")
    if failures:
        print("TARGETS MISSED:\n  " + "\n  ".join(failures))
        return 1
    print("all targets met" if speed else "curves agree and memory is within its target "
          "(speed targets apply at the paper's sizes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
