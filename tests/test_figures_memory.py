"""The Part I figure functions (slotless.figures): each draws its figure from the data it is given."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from slotless.figures import controls, kwinner, retention, structured
from slotless.memory import metrics
from slotless.memory import network as nw
from slotless.memory.network import NetworkConfig, init_network
from slotless.memory.patterns import crp_tree, partial_cue, random_patterns, similarity_sample
from slotless.memory.protocol import ProtocolConfig, run_trials

SMALL = NetworkConfig(n_input=60, n_hidden=40, active=8, fan_in=0.25, winners=5, epsilon=0.3)
MHN = NetworkConfig(n_input=60, n_hidden=10, active=8, fan_in=1.0, winners=1, epsilon=1.0)
CUES = (1.0, 0.5)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def rng(i=0):
    return np.random.default_rng(i)


def _axes_with_labels(fig, n_axes):
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(axes) >= n_axes
    assert all(ax.get_xlabel() or ax.get_title() for ax in axes[:n_axes])
    return axes


def test_kwinner_figures():
    net, net_h = init_network(SMALL, rng(1)), init_network(MHN, rng(2))
    w0_xy, w0_yx = net.w_xy.copy(), net.w_yx.copy()
    x = random_patterns(60, 60, 8, rng(3))
    _axes_with_labels(kwinner.mask_figure(net, nw.mask_counts(net), n_rows=10), 2)
    _axes_with_labels(kwinner.drive_figure(nw.ensemble_of(net, x[0]), rng(4)), 2)
    step = nw.learn_step(net, x[0])
    _axes_with_labels(kwinner.update_figure(step, net.mask, x[0], 0.3), 2)
    history = np.vstack([step.winners, nw.learn_sequence(net, x[1:])])
    history_h = nw.learn_sequence(net_h, x)[:, 0]
    probes = nw.ensemble_sharing([net, net_h], [0, 2, 4], 3, rng(5))
    fig = kwinner.overlap_figure(*probes, 5 / 40, 1 / 10)
    assert fig.axes[0].get_legend() is not None
    usage = [(nw.usage_window(history, 40, 0, 30), "red", "a"), (nw.usage_window(history_h, 10, 0, 60), "grey", "b")]
    assert len(kwinner.usage_figure(usage).axes) == 2
    sym, avg = nw.symmetry_check(net, w0_xy, w0_yx), nw.exponential_average(net, w0_xy, history, x)
    pick = rng(6).choice(int(net.mask.sum()), 50, replace=False)
    _axes_with_labels(kwinner.expavg_figure(sym, net.mask, pick, avg, net.wins, history_h), 2)
    acc = nw.retrieval_accuracy(net, partial_cue(x, 0.5, rng(7)), x)[::-1]
    _axes_with_labels(kwinner.retrieval_figure([(acc, acc, "red", "pink", "K"), (acc, acc, "grey", "k", "M")],
                                               width=20), 1)


def _random_runs():
    proto = ProtocolConfig(n_burn_in=20, n_eval=20, n_pseudo=21)
    runs = {}
    for m, cfg in (("kwinner", SMALL), ("kwinner-alt", SMALL), ("mhn", MHN), ("kwinner-random", SMALL.replace(
            winner_rule="random"))):
        for c in CUES:
            r = run_trials(cfg, proto.replace(cue_fraction=c), 20, 1, stream=f"{m}/{c}")
            runs[(m, c)] = metrics.PairedAccuracy(r.acc_real, r.acc_pseudo)
    return runs


def test_retention_and_controls_figures():
    runs = _random_runs()
    curves = {k: metrics.accuracy_curves(*v) for k, v in runs.items()}
    dp = {k: metrics.paired_dprime(*v, n_samples=2) for k, v in runs.items()}
    marks = {(m, c): metrics.age_markers(dp[(m, c)], dp[("mhn", c)]) for m in ("kwinner", "kwinner-alt") for c in CUES}
    _axes_with_labels(retention.accuracy_figure(curves, CUES, 20), 2)
    fig = retention.dprime_figure(dp, marks, CUES, 20)
    _axes_with_labels(fig, 2)
    rows = {round(float(line.get_ydata()[0]), 1) for line in fig.axes[0].get_lines() if len(line.get_ydata())
            and np.all(line.get_ydata() == line.get_ydata()[0]) and line.get_ydata()[0] < 0}
    assert rows <= set(retention.MARKER_ROWS), rows  # the three marker rows: ddof 0, ddof 1, BH
    fits = {k: metrics.decay_fit(*runs[k], n_samples=2, age_range=(1, 10), n_boot=10) for k in runs}
    _axes_with_labels(retention.rd_figure(fits, MHN, CUES, 20), 2)
    assert len(retention.alternative_figure(curves, dp, marks, CUES, 20).axes) == 4
    mark_r = {c: metrics.age_markers(dp[("kwinner", c)], dp[("kwinner-random", c)]) for c in CUES}
    assert len(controls.random_winners_figure(runs, dp, mark_r, CUES).axes) == 4
    grid = metrics.log_age_grid(20, 5)
    meas = {(m, c): metrics.dprime_measures(*runs[(m, c)], n_samples=2) for m in ("kwinner", "mhn") for c in CUES}
    boots = {k: metrics.bootstrap_measures(runs[k].real[:, grid - 1], runs[k].pseudo[:, grid - 1], n_boot=20,
                                           threshold=meas[k].threshold) for k in meas}
    fig = controls.measures_figure(meas, boots, grid, CUES)
    assert len(fig.axes) == 4 and len(fig.axes[1].get_legend().get_texts()) == 4


def test_structured_figures():
    sims = {b: similarity_sample(2, 20, 60, 8, b, 1, f"s/{b}", 200) for b in (None, 1, 2)}
    tree = crp_tree(200, 60, 8, 1, rng(8))
    heat = {None: sims[None].matrices[0], 1: tree.patterns[:20] @ tree.patterns[:20].T / 8}
    fig = structured.similarity_heatmaps(heat)
    assert [ax.get_title() for ax in fig.axes[:2]] == ["Unstructured data", "Structured, b=1"]
    fig = structured.similarity_densities(sims, 8, 8 / 60)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["unstructured", "b=1", "b=2"]
    proto = ProtocolConfig(n_burn_in=15, n_eval=15, n_pseudo=16, data="tree", flips=1, uniform_baseline=True)
    runs = {(1, c, m): run_trials(cfg, proto.replace(cue_fraction=c), 4, 1, stream=f"t/{m}/{c}")
            for c in CUES for m, cfg in (("kwinner", SMALL), ("mhn", MHN))}
    assert len(structured.accuracy_figure(runs, [1], CUES, n_ages=12, n_trials=4, smooth=3).axes) == 2
    d_k = metrics.paired_dprime(runs[1, 1.0, "kwinner"].acc_real, runs[1, 1.0, "kwinner"].acc_pseudo, 2)
    d_h = metrics.paired_dprime(runs[1, 1.0, "mhn"].acc_real, runs[1, 1.0, "mhn"].acc_pseudo, 2)
    fig = structured.dprime_figure(d_k, d_h, metrics.age_markers(d_k, d_h), 12)
    assert fig.axes[0].get_xscale() == "log"
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("ddof 0" in t for t in labels) and any("ddof 1" in t for t in labels) and any("BH" in t for t in labels)
