"""The parallel engine (slotless.sweeps): the same sweep on a 2-worker LocalCluster, on separately started
`dask scheduler` / `dask worker` processes and in this process gives bit-identical results; a killed worker
changes nothing; a killed client resumes from the cache and recomputes only the missing tasks; the
dask-jobqueue job script; the `sweep` command line and its one-line grid errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from slotless import cli, sweeps
from slotless.checks import ConfigError
from slotless.memory.network import NetworkConfig
from slotless.memory.protocol import ProtocolConfig, run_trials

ROOT = Path(__file__).resolve().parents[1]
DASK = Path(sys.executable).parent / "dask"

NET = NetworkConfig(60, 40, 6, 0.5, 4, 0.3)
PROTOCOL = ProtocolConfig(30, 30, 31)
RUNS = [sweeps.MemoryRun(NET, PROTOCOL, 13, 5, "test"),
        sweeps.MemoryRun(NET.replace(winners=2, epsilon=0.5), PROTOCOL.replace(cue_fraction=0.5), 7, 5, "test"),
        sweeps.MemoryRun(NetworkConfig(60, 20, 6, 1.0, 1, 1.0), PROTOCOL, 13, 5, "test")]
GRID = """
model = "kwinner"
n_input = 60
active = 6
fan_in = 0.5
n_hidden = 40
winners = [2, 4]
epsilon = [0.3, 1.0]
burn_in = 30
memories = 30
trials = 12
samples = 4
cue = [1.0, 0.5]
"""


def assert_same_results(got, runs):
    """Each result equals run_trials of its run in this process, array for array and bit for bit."""
    assert len(got) == len(runs)
    for result, run in zip(got, runs):
        here = run_trials(run.network, run.protocol, run.trials, run.seed, run.stream, dtype=run.dtype)
        for name, array in here.to_arrays().items():
            np.testing.assert_array_equal(getattr(result, name), array, err_msg=name)
            assert getattr(result, name).dtype == array.dtype, name
        assert result.config == here.config


def test_chunks_cover_the_trials_in_order():
    chunks = RUNS[0].chunks(5)
    assert [(c.first_trial, c.trials) for c in chunks] == [(0, 5), (5, 5), (10, 3)]
    assert len({json.dumps(c.cache_config(), sort_keys=True) for c in chunks}) == 3
    with pytest.raises(ConfigError, match="chunk=0"):
        RUNS[0].chunks(0)


def test_in_process_sweep_equals_run_trials_whatever_the_chunking(tmp_path):
    for chunk in (1, 4, 13):
        results, info = sweeps.run_memory_sweep(RUNS, chunk=chunk, workers=1, directory=None)
        assert_same_results(results, RUNS)
        assert info.from_cache == 0 and info.engine == "in this process"


def test_a_2_worker_local_cluster_equals_the_in_process_result(tmp_path):
    with sweeps.Engine(workers=2) as engine:
        assert len(engine.worker_pids()) == 2
        results, info = sweeps.run_memory_sweep(RUNS, chunk=4, engine=engine, directory=tmp_path)
    assert_same_results(results, RUNS)
    assert (info.tasks, info.computed, info.from_cache) == (10, 10, 0)
    # a re-run recomputes nothing
    again, info = sweeps.run_memory_sweep(RUNS, chunk=4, workers=1, directory=tmp_path)
    assert (info.computed, info.from_cache) == (0, 10)
    assert_same_results(again, RUNS)


def test_reduce_runs_per_configuration_and_duplicates_run_once():
    seen = []
    out, info = sweeps.run_memory_sweep(RUNS + RUNS[:1], chunk=5, workers=1, directory=None,
                                        reduce=lambda run, result: seen.append(run) or result.acc_real.sum())
    assert info.runs == 3 and len(seen) == 3 and out[0] == out[3]


def test_separate_scheduler_and_worker_processes_give_the_in_process_result(tmp_path):
    """`dask scheduler` and `dask worker` started by hand on 127.0.0.1; the sweep goes there through
    --scheduler (the command line) and scheduler= (the API)."""
    file = tmp_path / "scheduler.json"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    scheduler = subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                  "--scheduler-file", str(file)], env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
    worker = None
    try:
        for _ in range(600):
            if file.exists() and file.stat().st_size:
                break
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        worker = subprocess.Popen([str(DASK), "worker", address, "--nworkers", "2", "--nthreads", "1",
                                   "--no-dashboard", "--host", "127.0.0.1"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        with sweeps.Engine(scheduler=address) as engine:
            engine.client.wait_for_workers(2, timeout=120)
            results, info = sweeps.run_memory_sweep(RUNS, chunk=3, engine=engine, directory=None)
        assert_same_results(results, RUNS)
        assert "127.0.0.1" in info.engine
        grid = tmp_path / "grid.toml"
        grid.write_text(GRID)
        assert cli.main(["--quiet", "sweep", str(grid), "--out", str(tmp_path / "remote.csv"), "--scheduler", address,
                         "--cache", str(tmp_path / "cache")]) == 0
    finally:
        for process in (worker, scheduler):
            if process is not None:
                process.terminate()
        for process in (worker, scheduler):
            if process is not None:
                process.wait(timeout=60)
    here, _ = sweeps.sweep_table(sweeps.parse_grid(_toml(GRID)), workers=1, directory=None)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "remote.csv"), _csv_round_trip(here), check_exact=True)
    record = json.loads((tmp_path / "remote.csv.json").read_text())["results"]
    assert record["engine"] == f"the Dask scheduler at {address}" and record["computed"] == record["tasks"]


def _toml(text):
    import tomllib

    return tomllib.loads(text)


def _csv_round_trip(table):
    import io

    return pd.read_csv(io.StringIO(table.to_csv(index=False)))


def test_killing_a_worker_mid_sweep_gives_the_identical_result(tmp_path):
    """SIGKILL one worker process once a few tasks are in the cache: its nanny restarts it, the scheduler
    reruns its tasks, and the result is still bit for bit the in-process one."""
    runs = [sweeps.MemoryRun(NetworkConfig(200, 400, 20, 0.125, 10, 0.3), ProtocolConfig(300, 300, 301), 160, 1,
                             "kill")]
    killed = {}
    with sweeps.Engine(workers=2) as engine:
        victim_address, victim = sorted(engine.worker_pids().items())[0]

        def kill_when_started():
            while len(list(tmp_path.glob("*.npz"))) < 2:
                time.sleep(0.01)
            killed["cached"] = len(list(tmp_path.glob("*.npz")))
            os.kill(victim, signal.SIGKILL)

        thread = threading.Thread(target=kill_when_started, daemon=True)
        thread.start()
        results, info = sweeps.run_memory_sweep(runs, chunk=8, engine=engine, directory=tmp_path)
        thread.join(timeout=5)
        after = engine.worker_pids()
    assert "cached" in killed and killed["cached"] < info.tasks, "the worker was not killed mid-sweep"
    assert victim not in after.values(), "the killed worker is still there"
    assert_same_results(results, runs)
    print(f"worker {victim} killed after {killed['cached']} of {info.tasks} tasks; result identical")


CLIENT = """
import sys
from slotless import sweeps
from slotless.memory.network import NetworkConfig
from slotless.memory.protocol import ProtocolConfig

RUNS = [sweeps.MemoryRun(NetworkConfig(200, 400, 20, 0.125, 10, 0.3), ProtocolConfig(300, 300, 301), 200, 2, "resume")]

if __name__ == "__main__":
    results, info = sweeps.run_memory_sweep(RUNS, chunk=8, workers=int(sys.argv[2]), directory=sys.argv[1])
    print(info.computed, info.from_cache)
"""


def test_killing_the_client_mid_sweep_and_rerunning_recomputes_only_the_missing_tasks(tmp_path):
    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    cache = tmp_path / "cache"
    cache.mkdir()
    # the client in its own session, so that its embedded cluster can be cleaned up as a group afterwards
    client = subprocess.Popen([sys.executable, str(script), str(cache), "2"], cwd=tmp_path, start_new_session=True,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while len(list(cache.glob("*.npz"))) < 5 and client.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert client.poll() is None, "the sweep finished before it could be killed"
        os.kill(client.pid, signal.SIGKILL)
        client.wait(timeout=60)
        # the workers of its embedded cluster lose their parent and scheduler, and exit by themselves
        for _ in range(300):
            if not _group_alive(client.pid):
                break
            time.sleep(0.1)
        assert not _group_alive(client.pid), "the killed client's workers are still running after 30 s"
    finally:
        if _group_alive(client.pid):
            os.killpg(client.pid, signal.SIGKILL)
    cached = len(list(cache.glob("*.npz")))
    total = 25
    assert 5 <= cached < total
    rerun = subprocess.run([sys.executable, str(script), str(cache), "1"], cwd=tmp_path, capture_output=True,
                           text=True, check=True)
    computed, from_cache = map(int, rerun.stdout.split())
    print(f"client killed with {cached} of {total} tasks cached; the re-run computed {computed} and read "
          f"{from_cache} from the cache")
    assert (computed, from_cache) == (total - cached, cached)
    sys.path.insert(0, str(tmp_path))
    try:
        import client as module
    finally:
        sys.path.remove(str(tmp_path))
    results, info = sweeps.run_memory_sweep(module.RUNS, chunk=8, workers=1, directory=cache)
    assert (info.computed, info.from_cache) == (0, total)
    assert_same_results(results, module.RUNS)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def test_the_jobqueue_job_scripts_are_generated_as_documented():
    slurm = sweeps.job_script("slurm", cores=16, memory="32GB", walltime="02:00:00", queue="compute",
                              account="proj", cache="/shared/slotless-cache", python="/opt/venv/bin/python")
    for line in ("#SBATCH -p compute", "#SBATCH -A proj", "#SBATCH --cpus-per-task=16", "#SBATCH -t 02:00:00",
                 "export SLOTLESS_CACHE=/shared/slotless-cache", "export OMP_NUM_THREADS=1"):
        assert line in slurm.splitlines(), line
    command = [line for line in slurm.splitlines() if "dask_worker" in line][0]
    assert command.startswith("/opt/venv/bin/python -m distributed.cli.dask_worker tcp://SCHEDULER:8786")
    assert "--nthreads 1" in command and "--nworkers 16" in command
    pbs = sweeps.job_script("pbs", cores=8, memory="16GB", walltime="01:00:00", queue="workq", account="proj")
    assert "#PBS -q workq" in pbs and "#PBS -A proj" in pbs and "#PBS -l walltime=01:00:00" in pbs
    assert "ncpus=8" in pbs and "--nworkers 8" in pbs and f"{sys.executable} -m distributed.cli.dask_worker" in pbs
    with pytest.raises(ConfigError, match="cluster='lsf'"):
        sweeps.job_script("lsf", cores=1, memory="1GB", walltime="00:10:00")
    with pytest.raises(ConfigError, match="walltime"):
        sweeps.job_script("slurm", cores=1, memory="1GB", walltime="10")


def test_a_batch_cluster_object_submits_nothing_until_scaled():
    cluster = sweeps.batch_cluster("slurm", jobs=0, cores=4, memory="8GB", walltime="00:30:00", queue="q")
    try:
        script = cluster.job_script()
        assert "#SBATCH --cpus-per-task=4" in script and "--nworkers 4" in script and "--nthreads 1" in script
        assert len(cluster.workers) == 0
        assert sweeps.Engine(cluster=cluster).describe() == "SLURMCluster"
    finally:
        cluster.close()


def test_the_sweep_command_writes_a_tidy_table_and_resumes(tmp_path, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID)
    out = tmp_path / "table.csv"
    args = ["--quiet", "sweep", str(grid), "--out", str(out), "--workers", "1", "--cache", str(tmp_path / "c")]
    assert cli.main(args) == 0
    table = pd.read_csv(out)
    assert len(table) == 2 * 2 * 2  # winners x epsilon x cue
    assert {"pseudo_baseline", "acc_1_20", "dprime_1_20", "dprime_1_20_se", "mhn_dprime_1_20", "rd_decay_rate",
            "rd_decay_rate_law", "crossover_age", "ages_kwinner_better", "ages_mhn_better"} <= set(table.columns)
    assert (table.mhn_hidden == 20).all() and (table.connections == 40 * 30).all()
    record = json.loads((tmp_path / "table.csv.json").read_text())["results"]
    assert record["computed"] == record["tasks"] == 2 * 4 + 2  # 8 K-winner runs + the 2 MHNs, one task each
    assert cli.main(args) == 2, "an existing table is replaced only with --force"
    assert cli.main(args + ["--force"]) == 0
    record = json.loads((tmp_path / "table.csv.json").read_text())["results"]
    assert (record["computed"], record["from_cache"]) == (0, record["tasks"])
    pd.testing.assert_frame_equal(pd.read_csv(out), table, check_exact=True)


def test_connections_are_matched_to_the_1_winner_mhn_unless_the_grid_says_otherwise():
    points = sweeps.grid_points(sweeps.parse_grid({"fan_in": [0.05, 0.1, 0.2], "trials": 20}))
    assert [(p.network.n_hidden, p.mhn.n_hidden) for p in points[::2]] == [(2000, 100), (1000, 100), (500, 100)]
    points = sweeps.grid_points(sweeps.parse_grid({"fan_in": 0.1, "n_hidden": 2000, "trials": 20}))
    assert (points[0].network.n_hidden, points[0].mhn.n_hidden) == (2000, 200)
    assert points[0].stream == "sweep/cue=1.0" and points[1].stream == "sweep/cue=0.5"


@pytest.mark.parametrize("grid, message", [
    ("foo = [1, 2]", "grid: unknown axis 'foo': allowed keys are model, n_input,"),
    ("winners = []", "grid: axis 'winners' is empty: give at least one value"),
    ("winners = [50, 3000]", "grid: axis 'winners' has 3000 > n_hidden = 2000: k cannot exceed the number"),
    ("epsilon = ['a']", "grid: axis 'epsilon' has 'a': expected a number"),
    ("fan_in = 0.03", "grid: axis 'fan_in' has 0.03: the matched n_hidden = 100/0.03 is not a whole number"),
    ("trials = 15", "grid: axis 'trials' has 15: it must be a multiple of samples=10"),
    ("epsilon = [0.3, 1.5]", "grid: axis 'epsilon' has 1.5: epsilon=1.5 is out of range"),
    ("memories = 10\nburn_in = 5\npseudo = 3", "grid: axis 'pseudo' has 3: n_pseudo=3 is out of range"),
    ("cue = [1.0, 1.0]", "grid: axis 'cue' repeats a value"),
    ("winners = [", "is not valid TOML"),
])
def test_bad_grids_get_one_line_errors_naming_the_axis(tmp_path, capsys, grid, message):
    path = tmp_path / "grid.toml"
    path.write_text(grid + "\n")
    assert cli.main(["--quiet", "sweep", str(path), "--out", str(tmp_path / "t.csv"), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "t.csv").exists()


def test_engine_arguments_are_checked():
    with pytest.raises(ConfigError, match="scheduler='localhost'"):
        sweeps.Engine(scheduler="localhost")
    with pytest.raises(ConfigError, match="workers=0"):
        sweeps.Engine(workers=0)
    with pytest.raises(ConfigError, match="priorities has 1 entries for 2 tasks"):
        list(sweeps.Engine(workers=1).as_completed(abs, [(1,), (2,)], priorities=[1]))
    assert sweeps.map_tasks(abs, [(-1,), (2,), (-3,)], workers=1) == [1, 2, 3]


def test_the_scheduler_environment_variable_is_the_default(monkeypatch):
    monkeypatch.setenv(sweeps.SCHEDULER_ENV, "tcp://10.0.0.1:8786")
    assert sweeps.Engine().describe() == "the Dask scheduler at tcp://10.0.0.1:8786"
    assert sweeps.Engine(workers=1).in_process  # an explicit worker count means this machine


def test_on_one_core_tasks_run_in_this_process_unless_a_cluster_is_asked_for(monkeypatch):
    monkeypatch.delenv(sweeps.SCHEDULER_ENV, raising=False)
    monkeypatch.setattr(sweeps, "default_workers", lambda: 1)
    assert sweeps.Engine().in_process and sweeps.Engine().describe() == "in this process"
    assert not sweeps.Engine(embedded=True).in_process
    assert sweeps.Engine(embedded=True).describe() == "an embedded LocalCluster of 1 worker process"
    monkeypatch.setattr(sweeps, "default_workers", lambda: 2)
    assert sweeps.Engine().describe() == "an embedded LocalCluster of 2 worker processes"


@pytest.mark.parametrize("flag", [["--winners", "65"], ["--epsilon", "0.35"]])
def test_the_authors_variants_run_from_the_memory_command(tmp_path, flag):
    """`python -m slotless memory --winners 65` and `--epsilon 0.35`, end to end at a tiny size (the design-space
    chapter runs them at the paper's size)."""
    out = tmp_path / "variant.json"
    tiny = ["--n-input", "100", "--active", "10", "--n-hidden", "400", "--fan-in", "0.05", "--burn-in", "40",
            "--memories", "40", "--trials", "2"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-m", "slotless", "--quiet", "memory", *flag, *tiny, "--out", str(out)],
                   check=True, env=env, cwd=tmp_path)
    result = json.loads(out.read_text())
    network = result["config"]["network"]
    assert (network["winners"], network["epsilon"]) == ((65, 0.3) if flag[0] == "--winners" else (50, 0.35))
    assert np.array(result["results"]["acc_real"]).shape == (2, 40)


def test_trial_work_counts_the_scattered_additions():
    from slotless.memory.network import PRESETS

    protocol = ProtocolConfig(2000, 2000, 2001)
    main = sweeps.trial_work(PRESETS["kwinner"], protocol)
    # per learning step: 100 inputs x 100 units each + top-k over 2000 + 2 x 50 winners x 50 weights
    assert main == 4000 * (100 * 100 + 2000 + 2 * 50 * 50) + 4000 * (100 * 100 + 2000 + 50 * 50 + 1000)
    assert sweeps.trial_work(PRESETS["kwinner"].replace(winners=100), protocol) > main


def test_running_at_scale_measures_worker_counts_and_extrapolates_the_full_grid():
    from slotless.memory.design_space import DesignGrid

    tiny = DesignGrid(scale=0.2, winners=(50, 100), epsilons=(0.3, 1.0), fan_ins=(0.05,), scales=(0.2,),
                      variant_scale=0.2, samples=2, runs=2, seed=0, variant_cues=(1.0,))
    measured, extrapolated = sweeps.running_at_scale(tiny, workers=(1, 2), trials=8, chunk=2, cluster_sizes=(16,))
    assert measured.workers.tolist() == [1, 2] and measured["speed-up"].iloc[0] == 1.0
    assert (measured["wall seconds"] > 0).all() and measured.efficiency.iloc[0] == 1.0
    assert extrapolated.workers.tolist() == [2, 16] and extrapolated.attrs["cpu_hours"] > 0
    assert extrapolated["wall hours"].iloc[1] < extrapolated["wall hours"].iloc[0]
    assert extrapolated.attrs["tasks"] == 12  # 10 K-winner designs x cues + 2 MHNs (one per cue), one task each
