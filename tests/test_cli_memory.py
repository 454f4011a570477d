"""``python -m slotless memory``: JSON layout, preset overrides and one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from slotless.cli import main
from slotless.memory.network import preset
from slotless.memory.protocol import protocol_preset, run_trials

SMALL = ["--model", "kwinner", "--n-input", "60", "--n-hidden", "40", "--active", "8", "--fan-in", "0.25",
         "--winners", "4", "--burn-in", "30", "--memories", "20", "--trials", "3", "--seed", "5"]


def test_memory_json_layout_matches_run_trials(tmp_path):
    out = tmp_path / "r.json"
    assert main(["--quiet", "memory", *SMALL, "--cue", "0.5", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert {"config", "acc_real", "acc_pseudo", "seconds"} <= set(result)
    assert result["seconds"] > 0
    real, pseudo = np.array(result["acc_real"]), np.array(result["acc_pseudo"])
    assert real.shape == pseudo.shape == (3, 20)  # T lists of N floats
    cfg = result["config"]
    assert cfg["network"]["n_hidden"] == 40 and cfg["network"]["epsilon"] == 0.3  # preset kept
    assert cfg["protocol"]["n_pseudo"] == 21 and cfg["protocol"]["cue_fraction"] == 0.5
    expected = run_trials(preset("kwinner", n_input=60, n_hidden=40, active=8, fan_in=0.25, winners=4),
                          protocol_preset("paper", n_burn_in=30, n_eval=20, cue_fraction=0.5), 3, 5, "memory")
    np.testing.assert_array_equal(real, expected.acc_real)  # [t][a-1] = trial t, age a
    np.testing.assert_array_equal(pseudo, expected.acc_pseudo)


def test_memory_tree_data_with_uniform_baseline(tmp_path):
    out = tmp_path / "t.json"
    args = ["--quiet", "memory", *SMALL, "--data", "tree", "--flips", "2", "--uniform-baseline", "--out", str(out)]
    assert main(args) == 0
    result = json.loads(out.read_text())
    assert np.array(result["acc_uniform"]).shape == (3, 20)
    assert result["config"]["protocol"]["data"] == "tree"


@pytest.mark.parametrize("bad, name", [
    (["--cue", "0"], "cue_fraction"),
    (["--fan-in", "0.033"], "fan_in"),
    (["--model", "big"], "model"),
    (["--data", "tree"], "flips"),
    (["--dtype", "float16"], "dtype"),
    (["--memories", "20", "--pseudo", "5"], "n_pseudo"),
])
def test_bad_memory_input_is_one_line_and_exit_2(tmp_path, capsys, bad, name):
    out = tmp_path / "x.json"
    assert main(["--quiet", "memory", *SMALL, *bad, "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and lines[0].startswith("python -m slotless memory: error:")
    assert not out.exists()


def test_bad_input_through_the_real_entry_point(tmp_path):
    out = tmp_path / "x.json"
    proc = subprocess.run([sys.executable, "-m", "slotless", "memory", "--model", "mhn", "--cue", "1.5",
                           "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cue_fraction" in lines[0], proc.stderr
    assert not out.exists()
