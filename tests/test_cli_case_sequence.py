"""The case-sequence command line."""

import json
import subprocess
import sys

import pytest

from slotless.cli import main


def test_cli_writes_the_documented_json(tmp_path):
    out = tmp_path / "r.json"
    assert main(["case-sequence", "--model", "mhn-wk", "--preset", "paper", "--seeds", "2", "--batches", "120",
                 "--batch-size", "8", "--key-lr", "1e-4", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["config"]["lr"] == 1e-3 and r["config"]["key_lr"] == 1e-4  # the values actually used
    for key in ("final_accuracy", "batches_to_99", "collision_rate"):
        assert len(r[key]) == 2
    assert r["bin_size"] == 1 and len(r["accuracy_curve"][0]) == 120 and len(r["loss_curve"][1]) == 120
    assert r["seconds"] > 0


@pytest.mark.parametrize("args,name", [(["--preset", "bogus"], "preset"), (["--lr", "-0.1"], "lr"),
                                       (["--key-lr", "-1"], "key_lr"), (["--context", "5"], "context")])
def test_bad_arguments_give_one_line_errors(tmp_path, args, name):
    proc = subprocess.run([sys.executable, "-m", "slotless", "case-sequence", "--model", "qk-mhn", *args,
                           "--out", str(tmp_path / "x.json")], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0], proc.stderr
    assert not (tmp_path / "x.json").exists()


def test_exact_wk_model_runs_from_the_cli(tmp_path):
    out = tmp_path / "e.json"
    assert main(["case-sequence", "--model", "mhn-exact-wk", "--mask-unrecruited", "--seeds", "1",
                 "--batches", "5", "--batch-size", "4", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["config"]["wk_rule"] == "exact_onehot" and r["config"]["mask_unrecruited"] is True
