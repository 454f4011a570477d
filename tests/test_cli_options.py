"""What a researcher expects of the command line: --version, help with choices, defaults and an example,
--quiet anywhere, a compile note and a one-line summary on stderr, files that honour the umask, and a
documented policy for an existing result file."""

import os
import re

import pytest
from cli_support import SMALL_MEMORY, SMALL_SWEEP, run_cli, stderr_lines, strict_load

import slotless
from slotless import cli
from slotless.attention.training import LEARNING_RATES, MODELS, SweepConfig
from slotless.io import source_hash
from slotless.memory.network import PRESETS
from slotless.memory.protocol import protocol_preset


def test_version_names_the_package_version_and_the_source():
    proc = run_cli(["--version"])
    assert proc.returncode == 0
    assert proc.stdout.decode().strip() == f"python -m slotless {slotless.__version__} (source {source_hash()[:12]})"


def _help(*command) -> str:
    parser = cli.build_parser()
    if not command:
        return parser.format_help()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices[command[0]].format_help()


def test_every_enumerated_option_has_choices():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    enumerated = {"memory": ("model", "winner_rule", "tie_break", "data", "protocol", "dtype", "format"),
                  "case-sequence": ("model", "preset", "format")}
    for command, names in enumerated.items():
        actions = {a.dest: a for a in sub.choices[command]._actions}
        for name in names:
            assert actions[name].choices, f"{command} --{name} has no choices"
    memory_models = {a.dest: a for a in sub.choices["memory"]._actions}["model"].choices
    assert tuple(memory_models) == tuple(PRESETS)


def test_help_shows_defaults_from_their_one_source_and_an_example():
    text = " ".join(_help("memory").split())
    assert f"kwinner {PRESETS['kwinner'].n_hidden}, kwinner-alt {PRESETS['kwinner-alt'].n_hidden}" in text
    paper = protocol_preset("paper")
    assert f"paper: B={paper.n_burn_in}, E={paper.n_eval}, P={paper.n_pseudo}" in text
    assert "example: python -m slotless memory " in text
    text = " ".join(_help("case-sequence").split())
    assert f"(default: {SweepConfig.__dataclass_fields__['key_dim'].default})" in text
    assert f"transformer {LEARNING_RATES[('transformer', 'default')]:g}" in text
    assert "example: python -m slotless case-sequence " in text
    text = " ".join(_help().split())
    assert "python -m slotless memory" in text and "python -m slotless case-sequence" in text
    assert len(MODELS) == len(re.search(r"--model \{([^}]*)\}", _help("case-sequence")).group(1).split(","))


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_is_accepted_before_or_after_the_subcommand(tmp_path, capsys, where):
    out = tmp_path / "r.json"
    args = ["memory", *SMALL_MEMORY, "--out", str(out)]
    args = ["--quiet", *args] if where == "before" else [*args, "--quiet"]
    assert cli.main(args) == 0
    assert capsys.readouterr().err == ""
    assert strict_load(out)["results"]


def test_success_prints_one_summary_line_to_stderr_and_nothing_to_stdout(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert cli.main(["memory", *SMALL_MEMORY, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = [line for line in captured.err.splitlines() if "compiling kernels" not in line]
    assert len(lines) == 1 and lines[0].startswith("python -m slotless memory: kwinner, 3 trial(s) x 20 memories")
    assert f"wrote {out}" in lines[0]


def test_compile_note_appears_exactly_when_the_kernel_cache_is_missing(tmp_path, capsys, monkeypatch):
    from slotless.memory import kernels

    monkeypatch.setattr(cli, "_needs_compiling", lambda dispatchers: True)
    assert cli.main(["memory", *SMALL_MEMORY, "--out", str(tmp_path / "a.json")]) == 0
    assert capsys.readouterr().err.splitlines()[0] == "python -m slotless memory: compiling kernels (first run only)…"
    monkeypatch.undo()
    # the kernel has run in this process, so numba's cache index for it exists: no note
    assert not cli._needs_compiling((kernels.run_trial_batch,))
    assert cli.main(["memory", *SMALL_MEMORY, "--out", str(tmp_path / "b.json")]) == 0
    assert "compiling" not in capsys.readouterr().err


def test_the_compile_check_reads_numbas_cache_index(tmp_path, monkeypatch):
    from slotless.memory import kernels

    index = kernels.run_trial_batch._cache._cache_file._index_path
    assert os.path.exists(index)
    monkeypatch.setattr(kernels.run_trial_batch._cache._cache_file, "_index_path", str(tmp_path / "none.nbi"))
    assert cli._needs_compiling((kernels.run_trial_batch,))
    assert not cli._needs_compiling((object(),))  # not a cached numba function: nothing to say


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_result_files_honour_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        for name in ("r.json", "r.npz"):
            assert cli.main(["memory", *SMALL_MEMORY, "--quiet", "--out", str(tmp_path / name)]) == 0
            assert (tmp_path / name).stat().st_mode & 0o777 == mode
    finally:
        os.umask(old)


def test_an_existing_result_is_replaced_only_with_force_and_says_so(tmp_path, capsys):
    out = tmp_path / "r.json"
    out.write_text("precious")
    assert cli.main(["case-sequence", "--model", "transformer", *SMALL_SWEEP, "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == (f"python -m slotless case-sequence: error: --out={str(out)!r} exists; "
                                               f"add --force to replace it, or choose another --out")
    assert out.read_text() == "precious"  # refused before any work
    assert cli.main(["case-sequence", "--model", "transformer", *SMALL_SWEEP, "--force", "--quiet",
                     "--out", str(out)]) == 0
    assert stderr_lines(capsys.readouterr().err) == [f"python -m slotless case-sequence: replaced the existing "
                                                     f"file {out}"]
    assert strict_load(out)["results"]
