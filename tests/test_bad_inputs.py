"""Every row of tests/bad_inputs.md is a test: the bad input gets exactly the error
written in the table, the CLI exits 2 with one line, computes nothing and leaves no file;
every fault the table lists names a test that exists."""

import re
import shlex
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path

import numpy as np
import pytest

from slotless import book, checks, io  # noqa: F401
from slotless.attention import task, training, transformer  # noqa: F401
from slotless.checks import ConfigError
from slotless.cli import main
from slotless.memory import metrics, network, patterns, protocol, theory  # noqa: F401

TABLE = Path(__file__).with_name("bad_inputs.md")
ROW = re.compile(r"^\| `(?P<input>.+?)` \| `(?P<error>.+)` \|$")
FAULT = re.compile(r"^\| .+ \| .+ \| `(?P<test>[^`]+)` \|$")
#: In an expected error, text that depends on the machine (its free memory).
ANY = "<…>"


def _rows(section: str) -> list[tuple[str, str]]:
    text = TABLE.read_text().split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return [(m["input"], m["error"]) for m in map(ROW.match, text.splitlines()) if m]


CLI_ROWS = _rows("Command line")
API_ROWS = _rows("Python API")


def _matches(expected: str, actual: str) -> bool:
    pattern = ".+".join(re.escape(part) for part in expected.split(ANY))
    return re.fullmatch(pattern, actual) is not None


def test_table_has_rows_for_both_surfaces():
    assert len(CLI_ROWS) >= 20 and len(API_ROWS) >= 10


def test_every_listed_fault_names_a_test_that_exists():
    text = TABLE.read_text().split("## Faults", 1)[1]
    named = [m["test"] for m in map(FAULT.match, text.splitlines()) if m]
    assert len(named) >= 20
    for test in named:
        file, _, name = test.rpartition("::")
        source = Path(__file__).with_name(Path(file).name if file else "test_faults.py").read_text()
        assert f"def {name}(" in source, f"bad_inputs.md names a missing test: {test}"


@pytest.mark.parametrize("arguments,error", CLI_ROWS, ids=[a for a, _ in CLI_ROWS])
def test_cli_bad_input_gets_one_line_error_and_writes_nothing(arguments, error, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    stderr = StringIO()
    with redirect_stderr(stderr), redirect_stdout(StringIO()):
        try:
            status = main(shlex.split(arguments))
        except SystemExit as exit_:  # argparse usage errors
            status = exit_.code
    assert status == 2
    lines = stderr.getvalue().strip().splitlines()
    assert len(lines) == 1 and _matches(error, lines[0]), lines
    assert list(tmp_path.iterdir()) == [], "a failed run left a file behind"


@pytest.mark.parametrize("call,error", API_ROWS, ids=[c for c, _ in API_ROWS])
def test_api_bad_input_raises_config_error_naming_the_parameter(call, error):
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError) as raised:
        eval(call, globals(), {"rng": rng, "np": np})
    assert _matches(error, str(raised.value))
