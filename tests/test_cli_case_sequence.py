"""The case-sequence command line."""

import numpy as np
import pytest
from cli_support import PROVENANCE, SMALL_SWEEP, run_cli, stderr_lines, strict_load

from slotless.cli import main


def test_cli_writes_the_documented_layout(tmp_path):
    out = tmp_path / "r.json"
    assert main(["case-sequence", "--model", "mhn-wk", "--preset", "paper", "--seeds", "2", "--batches", "120",
                 "--batch-size", "8", "--key-lr", "1e-4", "--quiet", "--out", str(out)]) == 0
    r = strict_load(out)
    assert set(r) == {"config", "results", "provenance"} and set(r["provenance"]) == PROVENANCE
    config, results = r["config"], r["results"]
    assert config["lr"] == 1e-3 and config["key_lr"] == 1e-4  # the values actually used
    assert (config["seeds"], config["batches"], config["batch_size"], config["bin_size"]) == (2, 120, 8, 1)
    for key in ("final_accuracy", "batches_to_99", "collision_rate", "diverged", "diverged_at"):
        assert len(results[key]) == 2
    assert results["diverged"] == [False, False] and results["diverged_at"] == [None, None]
    assert len(results["accuracy_curve"][0]) == 120 and len(results["loss_curve"][1]) == 120
    assert r["provenance"]["seconds"] > 0 and r["provenance"]["from_cache"] is False


def test_transformer_config_holds_only_what_applies(tmp_path):
    out = tmp_path / "t.json"
    assert main(["case-sequence", "--model", "transformer", *SMALL_SWEEP, "--quiet", "--out", str(out)]) == 0
    config = strict_load(out)["config"]
    assert not {"hidden", "input_projections", "mask_unrecruited", "wv_mode"} & set(config)
    assert config["letters"] == 4 and config["key_dim"] == 32  # the SweepConfig defaults, resolved


@pytest.mark.parametrize("args,name", [(["--preset", "bogus"], "--preset"), (["--lr", "-0.1"], "lr"),
                                       (["--key-lr", "-1"], "key_lr"), (["--context", "5"], "context")])
def test_bad_arguments_give_one_line_errors(tmp_path, args, name):
    proc = run_cli(["case-sequence", "--model", "qk-mhn", *args, "--out", str(tmp_path / "x.json")])
    assert proc.returncode == 2
    lines = stderr_lines(proc)
    assert len(lines) == 1 and name in lines[0], proc.stderr
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("options", [["--hidden", "4"], ["--key-lr", "1e-3"], ["--mask-unrecruited"],
                                     ["--no-input-projections"], ["--hidden", "4", "--key-lr", "1e-3"]])
def test_mhn_only_options_are_refused_for_the_transformer(tmp_path, capsys, options):
    out = tmp_path / "x.json"
    assert main(["case-sequence", "--model", "transformer", *options, "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    flags = [o for o in options if o.startswith("--")]
    shown = ", ".join("--input-projections" if f == "--no-input-projections" else f for f in flags)
    verb = "applies" if len(flags) == 1 else "apply"
    assert lines == [f"python -m slotless case-sequence: error: {shown} only {verb} to the MHN models, "
                     f"not to --model transformer"]
    assert not out.exists()


def test_exact_wk_model_runs_from_the_cli(tmp_path):
    out = tmp_path / "e.json"
    assert main(["case-sequence", "--model", "mhn-exact-wk", "--mask-unrecruited", "--seeds", "1",
                 "--batches", "5", "--batch-size", "4", "--quiet", "--out", str(out)]) == 0
    r = strict_load(out)
    assert r["config"]["wk_rule"] == "exact_onehot" and r["config"]["mask_unrecruited"] is True


@pytest.mark.parametrize("model", ["transformer", "qk-mhn"])
def test_divergence_is_a_result_in_strict_json_with_one_warning(tmp_path, capsys, model):
    out = tmp_path / "d.json"
    assert main(["case-sequence", "--model", model, "--lr", "1e30", "--seeds", "3", "--batches", "20",
                 "--batch-size", "8", "--quiet", "--out", str(out)]) == 0
    results = strict_load(out)["results"]  # no NaN or Infinity tokens
    assert results["diverged"] == [True, True, True]
    assert all(isinstance(b, int) and 1 <= b <= 20 for b in results["diverged_at"])
    assert results["final_accuracy"] == [None] * 3 and results["final_loss"] == [None] * 3
    for row, first in zip(results["accuracy_curve"], results["diverged_at"]):
        assert all(v is None for v in row[first - 1:]) and all(v is not None for v in row[:first - 1])
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "warning: 3 of 3 seed(s) diverged" in lines[0] and "lower --lr" in lines[0]


def test_divergence_in_the_npz_format(tmp_path):
    out = tmp_path / "d.npz"
    assert main(["case-sequence", "--model", "transformer", "--lr", "1e30", *SMALL_SWEEP, "--quiet",
                 "--out", str(out)]) == 0
    with np.load(out) as stored:
        assert stored["diverged"].dtype == bool and stored["diverged"].all()
        assert np.isnan(stored["final_accuracy"]).all() and (stored["diverged_at"] >= 1).all()
        assert "heldout_accuracy" not in stored.files  # not measured at all: left out
