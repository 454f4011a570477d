"""Helpers shared by the command-line tests: a strict JSON reader, the real entry point in a subprocess,
and a small memory configuration that runs in well under a second."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

#: A small K-winner network and protocol (3 trials of 20 memories).
SMALL_MEMORY = ["--model", "kwinner", "--n-input", "60", "--n-hidden", "40", "--active", "8", "--fan-in", "0.25",
                "--winners", "4", "--burn-in", "30", "--memories", "20", "--trials", "3", "--seed", "5"]
#: A short Case Sequence sweep.
SMALL_SWEEP = ["--seeds", "2", "--batches", "30", "--batch-size", "8"]
#: The keys of a result file's provenance block.
PROVENANCE = {"slotless_version", "source_hash", "python", "numpy", "numba", "torch", "command", "created",
              "seconds", "from_cache"}


def _refuse(token: str):
    raise ValueError(f"not strict JSON: {token}")


def strict_load(path: str | os.PathLike) -> dict:
    """Parse a result file as strict JSON: ``NaN``, ``Infinity`` and ``-Infinity`` are errors."""
    return json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=_refuse)


def run_cli(args, *, env=None, cwd=None, timeout=600) -> subprocess.CompletedProcess:
    """``python -m slotless ARGS`` in a fresh process (``args`` may hold bytes for non-UTF-8 arguments)."""
    environment = dict(os.environ if env is None else env)
    environment.pop("MPLBACKEND", None)
    return subprocess.run([sys.executable, "-m", "slotless", *args], capture_output=True, env=environment, cwd=cwd,
                          timeout=timeout)


def stderr_lines(proc_or_text) -> list[str]:
    """The non-empty lines of a process's stderr (bytes or text)."""
    text = proc_or_text.stderr if hasattr(proc_or_text, "stderr") else proc_or_text
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [line for line in text.splitlines() if line.strip()]


def leftovers(directory: str | os.PathLike) -> list[str]:
    """Temporary files of an interrupted write left in ``directory``."""
    return sorted(p.name for p in Path(directory).iterdir() if p.name.startswith(".slotless-"))
