"""The Makefile's set-up, run against a fake Python (no network, no real venv is touched).

The fake answers the version probe with ``FAKE_PYTHON_VERSION``, makes a "venv" that is a copy of
itself, and logs every ``pip`` call, with the index variables pip would read, to ``FAKE_PIP_LOG``.
"""

import os
import shutil
import stat
import subprocess

import pytest
from chapters import ROOT

FAKE_PYTHON = """#!/bin/sh
case "$1" in
  -c) echo "$FAKE_PYTHON_VERSION" ;;
  -m) case "$2" in
        venv) mkdir -p "$3/bin" && cp "$0" "$3/bin/python" ;;
        pip) echo "PIP_INDEX_URL=${PIP_INDEX_URL:-} $*" >> "$FAKE_PIP_LOG" ;;
      esac ;;
esac
"""

CPU_INDEX = "https://download.pytorch.org/whl/cpu"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")


@pytest.fixture
def fake_python(tmp_path):
    path = tmp_path / "fake" / "python3"
    path.parent.mkdir()
    path.write_text(FAKE_PYTHON)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def run_make(tmp_path, python, version, *args, **env):
    # Nothing from a calling make (`make test TORCH_INDEX=...` exports it) may leak into these runs.
    inherited = ("PIP_", "MAKE", "MFLAGS", "TORCH_INDEX", "KERNEL_PREFIX", "PYTHON")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(inherited)}
    environment.update(FAKE_PYTHON_VERSION=version, FAKE_PIP_LOG=str(tmp_path / "pip.log"), **env)
    command = ["make", "--no-print-directory", "-C", str(ROOT), "venv", f"PYTHON={python}",
               f"VENV={tmp_path / 'venv'}", *args]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60)


def pip_calls(tmp_path) -> list[str]:
    log = tmp_path / "pip.log"
    return log.read_text().splitlines() if log.exists() else []


def test_make_stops_with_one_line_when_python_is_not_3_11(tmp_path, fake_python):
    result = run_make(tmp_path, fake_python, "3.12")
    assert result.returncode != 0
    ours = [line for line in result.stderr.splitlines() if not line.startswith("make")]
    assert len(ours) == 1, result.stderr
    assert "slotless needs Python 3.11" in ours[0] and "is 3.12" in ours[0] and "PYTHON=python3.11" in ours[0]
    assert not (tmp_path / "venv").exists(), "a venv was created with the wrong Python"
    assert pip_calls(tmp_path) == []


def test_make_says_so_when_python_is_missing(tmp_path):
    result = run_make(tmp_path, tmp_path / "no-such-python", "3.11")
    assert result.returncode != 0
    assert "is not a working Python" in result.stderr


def test_make_refuses_a_venv_made_by_another_python(tmp_path, fake_python):
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    shutil.copy(fake_python, tmp_path / "venv" / "bin" / "python")
    result = run_make(tmp_path, fake_python, "3.10")
    assert result.returncode != 0 and "venv/bin/python is 3.10" in result.stderr
    assert pip_calls(tmp_path) == []


def test_without_an_index_pip_installs_the_pins_then_the_package(tmp_path, fake_python):
    result = run_make(tmp_path, fake_python, "3.11")
    assert result.returncode == 0, result.stderr
    calls = pip_calls(tmp_path)
    assert len(calls) == 2, calls
    assert "-r requirements.txt" in calls[0] and "--index-url" not in calls[0]
    assert "--no-deps -e ." in calls[1]
    assert (tmp_path / "venv" / ".slotless-installed").exists()


def test_torch_index_is_passed_to_pip_for_torch_alone_first(tmp_path, fake_python):
    result = run_make(tmp_path, fake_python, "3.11", f"TORCH_INDEX={CPU_INDEX}")
    assert result.returncode == 0, result.stderr
    calls = pip_calls(tmp_path)
    pin = next(line for line in (ROOT / "requirements.txt").read_text().splitlines() if line.startswith("torch=="))
    assert calls[0].endswith(f"install --quiet --disable-pip-version-check --index-url {CPU_INDEX} {pin}"), calls[0]
    assert "-r requirements.txt" in calls[1] and "--index-url" not in calls[1]


def test_pip_index_url_on_the_make_command_line_reaches_pip(tmp_path, fake_python):
    result = run_make(tmp_path, fake_python, "3.11", "PIP_INDEX_URL=https://mirror.invalid/simple")
    assert result.returncode == 0, result.stderr
    assert all(call.startswith("PIP_INDEX_URL=https://mirror.invalid/simple ") for call in pip_calls(tmp_path))
