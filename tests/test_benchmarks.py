"""Tests of the benchmark machinery (slotless.perf.bench, benchmarks/run.py) at tiny sizes.

No timing is asserted here: timings depend on the machine and on its load, and ``make bench`` checks
the speed targets. These tests check that the runner runs end to end and writes its results, that its
agreement test accepts the engine against the reference and rejects a different model, that ratios
carry their standard errors, and that the target check and the exit status follow the targets (a
deliberately raised target at tiny scale exits 1, a lowered one 0).
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
    assert same.ok, same
    assert same.windows == [(1, 10), (11, 100), (101, 200)]
    # shift the real curve of one side by 10 between-trial SDs: must be detected
    shifted = bench.agreement(a_r - 0.5, a_p, b_r, b_p)
    assert not shifted.ok, shifted
    assert max(abs(z) for z in shifted.z_real) > shifted.threshold


def test_agreement_false_alarm_rate_is_near_nominal():
    """Under the null, |z| exceeds the two-sided 5% t-quantile in about 5% of windows."""
    from scipy import stats

    rng = np.random.default_rng(2)
    exceed, total = 0, 0
    for _ in range(300):
        # no per-trial level (sd=0): windows and curves are then independent tests
        res = bench.agreement(*(_curves(rng, n, m, sd=0.0) for n, m in ((2, 0.5), (2, 0.5), (8, 0.5), (8, 0.5))))
        q = stats.t.ppf(0.975, res.df)
        zs = res.z_real + res.z_pseudo
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


# ------------------------------------------------------------------------- the ratios
def test_ratio_standard_error_adds_relative_errors_in_quadrature():
    r = bench.Ratio.of([10.0, 12.0], [0.1, 0.1, 0.1])
    assert r.value == pytest.approx(110.0)
    assert r.se == pytest.approx(110.0 * (1.0 / 11.0))  # se of [10, 12] is 1, relative 1/11; the other 0
    one = bench.Ratio.of([10.0], [0.1, 0.2])
    assert math.isnan(one.se) and "±" not in str(one)
    assert str(bench.Ratio(150.25, 3.04)) == "150.2x ± 3.0"


# ----------------------------------------------------- reference vs the engine, tiny
def test_engine_agrees_with_reference_and_a_different_cue_is_detected():
    tiny = bench.SCALES["tiny"]
    res = bench.side_by_side("kwinner", 1.0, tiny, seed=3)
    assert res.agreement.ok, res.agreement
    assert len(res.reference.wall) == tiny.n_ref["kwinner"] and len(res.fast.wall) == tiny.fast_batches
    assert res.fast.trials == tiny.fast_batches * tiny.fast_batch_trials
    assert res.reference.seconds > 0 and res.fast.seconds > 0 and math.isfinite(res.ratio.se)
    assert res.curves()[("slotless", "real")].shape == (60,)
    # power check: cue 0.5 is a different retrieval problem; its curves must be told apart
    net = bench.network_preset("kwinner", 10)
    half = bench.time_fast(net, bench.protocol_config(60, 0.5), 3, 4, 3, "other", warmup=False)
    full = bench.time_fast(net, bench.protocol_config(60, 1.0), 3, 4, 3, "fast", warmup=False)
    assert not bench.agreement(full.acc_real, full.acc_pseudo, half.acc_real, half.acc_pseudo).ok


def test_timed_batches_give_the_result_of_one_call():
    from slotless.memory.protocol import run_trials

    net, pro = bench.network_preset("mhn", 10), bench.protocol_config(30, 1.0)
    batches = bench.time_fast(net, pro, 3, 2, 5, "same", warmup=False)
    whole = run_trials(net, pro, 6, 5, "same")
    assert np.array_equal(batches.acc_real, whole.acc_real) and np.array_equal(batches.acc_pseudo, whole.acc_pseudo)


def test_network_preset_shrinks_and_overrides():
    net = bench.network_preset("kwinner", 10)
    assert (net.n_input, net.n_hidden, net.active, net.winners) == (100, 200, 10, 5)
    mhn = bench.network_preset("mhn", 10)
    assert (mhn.n_hidden, mhn.winners, mhn.fan_in) == (10, 1, 1.0)
    assert bench.network_preset("kwinner-alt", n_hidden=500).n_hidden == 500
    with pytest.raises(ConfigError, match="setting"):
        bench.network_preset("nope")


def test_targets_are_one_table_over_the_memory_settings():
    assert set(bench.TARGETS.ratio) == set(bench.SETTINGS)
    assert bench.TARGETS.peak_rss_mib == 4096
    raised = bench.TARGETS.replace_ratio("mhn", bench.SpeedTarget(1e9, 1e9))
    assert raised.ratio["mhn"].wall == 1e9 and bench.TARGETS.ratio["mhn"].wall == 80
    for scale in bench.SCALES.values():
        assert min(scale.n_ref.values()) >= 2, "a ratio's standard error needs two reference trials"


# ------------------------------------------------------------------------ the runner
def _fake_result(ratio_main, ratio_mhn, rss=300.0, n_mem=2000, ok=True):
    agree = bench.Agreement([(1, 10)], 2, 8, 8, [0.0], [0.0], [0.0], [0.0], 4.0, 1.0 if ok else 9.0, ok)
    timing = bench.Timing([1.0, 1.0], [1.0, 1.0], 2, np.zeros((2, 10)), np.zeros((2, 10)))
    rows = []
    for s in bench.SETTINGS:
        ratio = bench.Ratio(ratio_mhn if s == "mhn" else ratio_main, 1.0)
        rows += [bench.SideBySide(s, c, n_mem, 1, timing, timing, ratio, ratio, agree) for c in bench.CUES]
    sizes = bench.dataclasses.replace(bench.SCALES["full"], n_mem=n_mem)
    return bench.BenchmarkResult("full", sizes, bench.machine_info(), 0, rows, {}, bench.PeakMemory("kwinner", 2000, 5, rss, 1),
                                 None, 1.0)


def test_check_targets_names_each_missed_target():
    assert bench.check_targets(_fake_result(200, 100)) == []
    text = "\n".join(bench.check_targets(_fake_result(20, 5, rss=5000)))
    assert "kwinner cue=1.0: wall-clock ratio 20.0x < 150x" in text and "mhn cue=0.5: CPU-time ratio 5.0x < 40x" in text
    assert "kwinner-alt cue=0.5: wall-clock ratio 20.0x < 100x" in text and "peak RSS" in text
    # speed targets do not apply to a short protocol unless asked for; agreement and memory always do
    assert bench.check_targets(_fake_result(2, 1, n_mem=150)) == []
    assert bench.check_targets(_fake_result(2, 1, n_mem=150), speed=True)
    assert any("curves differ" in f for f in bench.check_targets(_fake_result(200, 100, n_mem=150, ok=False)))


def _runner():
    sys.path.insert(0, str(RUNNER.parent))
    try:
        import run as runner
    finally:
        sys.path.remove(str(RUNNER.parent))
    return runner


def test_runner_exit_status_follows_targets(monkeypatch, tmp_path, capsys):
    runner = _runner()
    out = tmp_path / "r.json"
    monkeypatch.setattr(bench, "run_benchmark", lambda *a, **k: _fake_result(200, 100))
    assert runner.main(["--out", str(out), "--quiet"]) == 0
    assert json.loads(out.read_text())["failures"] == []
    assert runner.main(["--out", str(out), "--quiet", "--target", "kwinner=1e4/1e4"]) == 1
    assert "TARGETS MISSED" in capsys.readouterr().out
    monkeypatch.setattr(bench, "run_benchmark", lambda *a, **k: _fake_result(100, 100))
    assert runner.main(["--out", str(out), "--quiet"]) == 1
    assert runner.main(["--out", str(tmp_path / "missing" / "r.json"), "--quiet"]) == 2
    assert runner.main(["--out", str(out), "--quiet", "--target", "kwinner=fast"]) == 2
    assert runner.main(["--out", str(out), "--quiet", "--target", "nope=1/1"]) == 2


@pytest.mark.parametrize(("targets", "status"), [(["kwinner=1e9/1e9"], 1), ([f"{s}=0.001/0.001" for s in bench.SETTINGS], 0)],
                         ids=["raised-target-fails", "lowered-targets-pass"])
def test_runner_at_tiny_scale_exits_1_on_a_raised_target_and_0_otherwise(tmp_path, targets, status):
    out = tmp_path / "results.json"
    command = [sys.executable, str(RUNNER), "--scale", "tiny", "--out", str(out), "--quiet", "--no-sweeps"]
    for t in targets:
        command += ["--target", t]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == status, proc.stdout + proc.stderr
    res = json.loads(out.read_text())
    assert [(r["setting"], r["cue"]) for r in res["side_by_side"]] == [(s, c) for s in bench.SETTINGS for c in bench.CUES]
    for r in res["side_by_side"]:
        assert r["agreement"]["ok"] and math.isfinite(r["ratio"]["value"]) and r["ratio"]["value"] > 0
    assert 0 < res["peak_memory"]["peak_rss_mib"] < 4096
    assert res["targets"]["speed_checked"] and (res["failures"] == []) == (status == 0)
    assert "wall ratio" in proc.stdout and "CPU ratio" in proc.stdout and "target wall/CPU" in proc.stdout


def test_sweep_cost_compares_the_compiled_and_the_readable_step():
    (cost,) = bench.sweep_cost((1, 2), 3, models=["mhn-wk"])
    assert cost.model == "mhn-wk" and len(cost.compiled_s_per_batch) == 2
    assert cost.readable_s_per_batch > 0 and cost.speedup > 0
