"""``python -m slotless memory``: result layout, preset overrides and one-line errors."""

import numpy as np
import pytest
from cli_support import PROVENANCE, SMALL_MEMORY, run_cli, stderr_lines, strict_load

from slotless.cli import main
from slotless.memory.network import preset
from slotless.memory.protocol import protocol_preset, run_trials


def test_memory_result_layout_matches_run_trials(tmp_path):
    out = tmp_path / "r.json"
    assert main(["--quiet", "memory", *SMALL_MEMORY, "--cue", "0.5", "--out", str(out)]) == 0
    result = strict_load(out)
    assert set(result) == {"config", "results", "provenance"}
    assert set(result["provenance"]) == PROVENANCE and result["provenance"]["seconds"] > 0
    real, pseudo = np.array(result["results"]["acc_real"]), np.array(result["results"]["acc_pseudo"])
    assert real.shape == pseudo.shape == (3, 20)  # T lists of E floats
    cfg = result["config"]
    assert cfg["network"]["n_hidden"] == 40 and cfg["network"]["epsilon"] == 0.3  # preset kept
    assert cfg["protocol"]["n_pseudo"] == 21 and cfg["protocol"]["cue_fraction"] == 0.5
    assert cfg["model"] == "kwinner" and cfg["protocol_preset"] == "paper" and cfg["trials"] == 3
    expected = run_trials(preset("kwinner", n_input=60, n_hidden=40, active=8, fan_in=0.25, winners=4),
                          protocol_preset("paper", n_burn_in=30, n_eval=20, cue_fraction=0.5), 3, 5, "memory")
    np.testing.assert_array_equal(real, expected.acc_real)  # [t][a-1] = trial t, age a
    np.testing.assert_array_equal(pseudo, expected.acc_pseudo)


def test_memory_tree_data_with_uniform_baseline(tmp_path):
    out = tmp_path / "t.json"
    args = ["--quiet", "memory", *SMALL_MEMORY, "--data", "tree", "--flips", "2", "--uniform-baseline", "--out", str(out)]
    assert main(args) == 0
    result = strict_load(out)
    assert np.array(result["results"]["acc_uniform"]).shape == (3, 20)
    assert result["config"]["protocol"]["data"] == "tree" and result["config"]["protocol"]["uniform_baseline"]


@pytest.mark.parametrize("bad, name", [
    (["--cue", "0"], "cue_fraction"),
    (["--fan-in", "0.033"], "fan_in"),
    (["--model", "big"], "--model"),
    (["--data", "tree"], "flips"),
    (["--dtype", "float16"], "--dtype"),
    (["--memories", "20", "--pseudo", "5"], "n_pseudo"),
    (["--flips", "3"], "flips"),
])
def test_bad_memory_input_is_one_line_and_exit_2(tmp_path, capsys, bad, name):
    out = tmp_path / "x.json"
    try:
        status = main(["--quiet", "memory", *SMALL_MEMORY, *bad, "--out", str(out)])
    except SystemExit as exit_:  # argparse: choices
        status = exit_.code
    assert status == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and lines[0].startswith("python -m slotless memory: error:")
    assert not out.exists()


def test_bad_input_through_the_real_entry_point(tmp_path):
    out = tmp_path / "x.json"
    proc = run_cli(["memory", "--model", "mhn", "--cue", "1.5", "--out", str(out)])
    assert proc.returncode == 2
    lines = stderr_lines(proc)
    assert len(lines) == 1 and "cue_fraction" in lines[0], proc.stderr
    assert not out.exists()


def test_npz_format_holds_the_arrays_and_the_same_metadata(tmp_path):
    import json

    as_json, as_npz = tmp_path / "r.json", tmp_path / "r.npz"
    assert main(["memory", *SMALL_MEMORY, "--quiet", "--out", str(as_json)]) == 0
    assert main(["memory", *SMALL_MEMORY, "--quiet", "--out", str(as_npz)]) == 0  # format from the suffix
    written = strict_load(as_json)
    with np.load(as_npz, allow_pickle=False) as stored:
        assert set(stored.files) == {"acc_real", "acc_pseudo", "metadata"}
        np.testing.assert_array_equal(stored["acc_real"], written["results"]["acc_real"])
        meta = json.loads(str(stored["metadata"]))
    assert meta["config"] == written["config"]
    assert set(meta["provenance"]) == PROVENANCE
    assert meta["provenance"]["source_hash"] == written["provenance"]["source_hash"]
    other = tmp_path / "r.data"
    assert main(["memory", *SMALL_MEMORY, "--quiet", "--format", "npz", "--out", str(other)]) == 0
    assert other.read_bytes()[:2] == b"PK"  # a zip archive, whatever the name
