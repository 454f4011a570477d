"""Smoke tests of the benchmark machinery (slotless.perf.bench, benchmarks/run.py) at tiny sizes.

No timing is asserted here (timings on a shared machine are noisy; ``make bench`` checks the
speed targets). These tests check that the runner runs end to end and writes its results,
that its agreement test accepts the fast engine against the reference and rejects a
different model, and that its target check and exit status work.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from slotless.checks import ConfigError
from slotless.perf import bench

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "benchmarks" / "run.py"


# ------------------------------------------------------------------ the agreement test
def _curves(rng, trials, mean, sd=0.05, n_eval=200):
    """Synthetic (trials, E) accuracies: per-trial level + per-age noise."""
    level = mean + sd * rng.standard_normal((trials, 1))
    return np.clip(level + 0.1 * rng.standard_normal((trials, n_eval)), 0, 1)


def test_agreement_accepts_equal_and_rejects_shifted_synthetic_curves():
    rng = np.random.default_rng(1)
    a_r, a_p, b_r, b_p = (_curves(rng, n, m) for n, m in ((3, 0.8), (3, 0.3), (30, 0.8), (30, 0.3)))
    same = bench.agreement(a_r, a_p, b_r, b_p)
    assert same["ok"], same
    assert same["windows"] == [(1, 10), (11, 100), (101, 200)]
    # shift the real curve of one side by 10 between-trial SDs: must be detected
    shifted = bench.agreement(a_r - 0.5, a_p, b_r, b_p)
    assert not shifted["ok"], shifted
    assert max(abs(z) for z in shifted["z_real"]) > shifted["threshold"]


def test_agreement_false_alarm_rate_is_near_nominal():
    """Under the null, |z| exceeds the two-sided 5% t-quantile in about 5% of windows."""
    from scipy import stats

    rng = np.random.default_rng(2)
    exceed, total = 0, 0
    for _ in range(300):
        # no per-trial level (sd=0): windows and curves are then independent tests
        res = bench.agreement(*(_curves(rng, n, m, sd=0.0) for n, m in ((2, 0.5), (2, 0.5), (8, 0.5), (8, 0.5))))
        q = stats.t.ppf(0.975, res["df"])
        zs = res["z_real"] + res["z_pseudo"]
        exceed += sum(abs(z) > q for z in zs)
        total += len(zs)
    rate = exceed / total
    se = math.sqrt(0.05 * 0.95 / total)  # binomial SE of independent tests
    assert abs(rate - 0.05) < 4 * se, f"false-alarm rate {rate:.3f}, expected 0.05 +- {4 * se:.3f}"


def test_agreement_rejects_bad_input():
    z = np.zeros((1, 10))
    with pytest.raises(ConfigError, match="at least 3 trials"):
        bench.agreement(z, z, z, z)
    with pytest.raises(ConfigError, match="n_eval"):
        bench.agreement(z, z, np.zeros((3, 11)), np.zeros((3, 11)))


def test_age_windows_cover_every_age_once():
    for n_eval in (5, 60, 150, 2000, 2500):
        ages = [a for lo, hi in bench.age_windows(n_eval) for a in range(lo, hi + 1)]
        assert ages == list(range(1, n_eval + 1))


# ----------------------------------------------------- reference vs fast engine, tiny
def test_fast_engine_agrees_with_reference_and_a_different_cue_is_detected():
    res = bench.side_by_side("kwinner", 1.0, 60, 3, 12, seed=3, shrink=10, keep_curves=True)
    assert res["agreement"]["ok"], res["agreement"]
    assert res["reference_s_per_trial"] > 0 and res["fast_s_per_trial"] > 0
    assert res["curve_real_fast"].shape == (60,)
    # power check: cue 0.5 is a different retrieval problem; its fast curves must be told apart
    net = bench.network_preset("kwinner", 10)
    half = bench.time_fast(net, bench.protocol_config(60, 0.5), 12, 3, "other", warmup=False)
    full = bench.time_fast(net, bench.protocol_config(60, 1.0), 12, 3, "fast", warmup=False)
    diff = bench.agreement(full["acc_real"], full["acc_pseudo"], half["acc_real"], half["acc_pseudo"])
    assert not diff["ok"], diff


def test_network_preset_shrinks_and_overrides():
    net = bench.network_preset("kwinner", 10)
    assert (net.n_input, net.n_hidden, net.active, net.winners) == (100, 200, 10, 5)
    mhn = bench.network_preset("mhn", 10)
    assert (mhn.n_hidden, mhn.winners, mhn.fan_in) == (10, 1, 1.0)
    assert bench.network_preset("kwinner-alt", n_hidden=500).n_hidden == 500
    with pytest.raises(ConfigError, match="setting"):
        bench.network_preset("nope")


def test_figure_set_estimate_counts_the_paper_trials():
    est = bench.figure_set_estimate({"kwinner": 0.1, "kwinner-alt": 0.05, "mhn": 0.01})
    # main: random 2x(100+200), tree 5x2x100 + 200, variants 2x2x100, control 2x100
    assert est["trials"] == {"kwinner": 2400, "kwinner-alt": 600, "mhn": 2400}
    assert est["total_s"] == pytest.approx(240 + 30 + 24)


# ------------------------------------------------------------------------ the runner
def _fake_results(ratio_main, ratio_mhn, figure_s=100.0, rss=300.0, n_mem=2000, ok=True):
    agree = {"ok": ok, "max_abs_z": 1.0 if ok else 9.0, "threshold": 4.0}
    rows = [
        {"setting": s, "cue": c, "ratio": ratio_mhn if s == "mhn" else ratio_main, "agreement": agree,
         "reference_s_per_trial": 1.0, "fast_s_per_trial": 0.01}
        for s in bench.SETTINGS for c in bench.CUES
    ]
    return {
        "params": {"n_mem": n_mem, "shrink": 1}, "side_by_side": rows,
        "figure_set": {"total_s": 2 * figure_s, "total_cpu_s": figure_s, "trials": bench.FIGURE_SET_TRIALS},
        "peak_rss": {"peak_rss_mib": rss},
        "sweeps": {"paper_estimate_total_s": 50.0, "paper_estimate_2core_s": 25.0, "paper_estimate_cpu_total_s": 40.0,
                   "paper_estimate_2core_cpu_s": 20.0, "models": {}},
        "machine": {"cpu": "x", "cores": 2, "numpy": "", "numba": "", "torch": ""}, "seconds": 1.0,
    }


def test_makespan_spreads_jobs_longest_first():
    assert bench.makespan([3, 3, 2, 2, 2], 2) == 7
    assert bench.makespan([5, 1], 1) == 6
    assert bench.makespan([5, 1, 1], 4) == 5


def test_check_targets_names_each_failed_target():
    assert bench.check_targets(_fake_results(40, 12)) == []
    fails = bench.check_targets(_fake_results(20, 5, figure_s=900, rss=5000))
    text = "\n".join(fails)
    assert "kwinner cue=1.0: ratio 20.0x < 30x" in text and "mhn cue=0.5: ratio 5.0x < 10x" in text
    assert "figure set" in text and "peak RSS" in text
    # speed targets do not apply to a short protocol, agreement always does
    assert bench.check_targets(_fake_results(2, 1, n_mem=150)) == []
    assert any("curves differ" in f for f in bench.check_targets(_fake_results(40, 12, n_mem=150, ok=False)))


def test_runner_exit_status_follows_targets(monkeypatch, tmp_path, capsys):
    sys.path.insert(0, str(RUNNER.parent))
    try:
        import run as runner
    finally:
        sys.path.remove(str(RUNNER.parent))
    out = tmp_path / "r.json"
    monkeypatch.setattr(bench, "run_benchmark", lambda *a, **k: _fake_results(40, 12))
    assert runner.main(["--out", str(out), "--quiet"]) == 0
    assert json.loads(out.read_text())["failures"] == []
    monkeypatch.setattr(bench, "run_benchmark", lambda *a, **k: _fake_results(10, 12))
    assert runner.main(["--out", str(out), "--quiet"]) == 1
    assert "TARGETS FAILED" in capsys.readouterr().out
    assert runner.main(["--out", str(tmp_path / "missing" / "r.json"), "--quiet"]) == 2


def test_runner_tiny_end_to_end_writes_results(tmp_path):
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(RUNNER), "--scale", "tiny", "--out", str(out), "--quiet"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads(out.read_text())
    assert [(r["setting"], r["cue"]) for r in res["side_by_side"]] == [
        (s, c) for s in bench.SETTINGS for c in bench.CUES]
    for r in res["side_by_side"]:
        assert r["agreement"]["ok"] and math.isfinite(r["ratio"]) and r["ratio"] > 0
    for kind in ("n_h", "n_mem", "batch", "threads"):
        s = res["scaling"][kind]
        assert len(s["s_per_trial"]) == len(s["values"]) and all(t > 0 for t in s["s_per_trial"])
    assert 0 < res["peak_rss"]["peak_rss_mib"] < 4096
    assert res["failures"] == []
    fig = res["figure_set"]
    assert fig["total_s"] > 0 and fig["total_cpu_s"] > 0 and not fig["paper_scale"]
    sweeps = res["sweeps"]
    model = list(sweeps["models"])[0]
    assert len(sweeps["models"][model]["s_per_seed_batch"]) == len(sweeps["seeds"])
    assert sweeps["paper_estimate_2core_cpu_s"] <= sweeps["paper_estimate_cpu_total_s"]
    assert "ratio" in proc.stdout and "reference s/trial" in proc.stdout
