"""The case-sequence command line's held-out splits: the result file names the split, lists every seed's held-out
sequences (context letters as drawn, '?', the queried letter) and their accuracy; a classes split holds out no
reordering of a training sequence."""

import numpy as np
import pytest
from cli_support import strict_load

from slotless.attention import task
from slotless.cli import main

SWEEP = ["--seeds", "2", "--batches", "20", "--batch-size", "8", "--letters", "4", "--context", "3", "--quiet"]


def parse(name: str, letters: int = 4) -> tuple:
    """'dAcB?a' -> (letters, cases, queried position) of one sequence."""
    context, queried = name.split("?")
    lets = [ord(ch.lower()) - 97 for ch in context]
    return lets, [int(ch.isupper()) for ch in context], lets.index(ord(queried) - 97)


def as_sequences(names) -> task.Sequences:
    rows = [parse(n) for n in names]
    return task.Sequences(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), np.array([r[2] for r in rows]))


@pytest.mark.parametrize("split", ["classes", "pairs", "random"])
def test_cli_writes_the_split_and_every_heldout_sequence(tmp_path, split):
    out = tmp_path / f"{split}.json"
    assert main(["case-sequence", "--model", "qk-mhn", *SWEEP, "--heldout-split", split, "--out", str(out)]) == 0
    r = strict_load(out)
    config, results = r["config"], r["results"]
    assert config["heldout_split"] == results["heldout_split"] == split
    assert len(results["heldout_accuracy"]) == 2 and len(results["heldout_sequences"]) == 2
    for names in results["heldout_sequences"]:
        held = as_sequences(names)
        assert task.sequence_strings(held, 4) == names  # the written names are the sequences
        assert len(names) == task.check_heldout(4, 3, split)
        every = task.enumerate_sequences(4, 3)
        train = every.take(~np.isin(task.sequence_ids(every, 4), task.sequence_ids(held, 4)))
        seen = np.isin(task.reordering_class_ids(held, 4), task.reordering_class_ids(train, 4))
        if split == "random":
            assert seen.mean() > 0.9  # almost every one is a reordering of a training sequence
        else:
            assert not seen.any()  # no held-out sequence is a reordering of a training sequence
        if split == "pairs":
            assert all(n.endswith("?a") and "A" in n for n in names)


def test_cli_pairs_split_takes_heldout_letters(tmp_path):
    out = tmp_path / "p.json"
    assert main(["case-sequence", "--model", "transformer", *SWEEP, "--heldout-split", "pairs", "--heldout-letters",
                 "2", "--out", str(out)]) == 0
    r = strict_load(out)
    assert r["config"]["heldout_letters"] == 2 and r["config"]["heldout_fraction"] is None
    names = r["results"]["heldout_sequences"][0]
    assert {n[-1] for n in names} == {"a", "b"} and all(n[-1].upper() in n for n in names)


def test_cli_without_a_split_writes_none(tmp_path):
    out = tmp_path / "n.json"
    assert main(["case-sequence", "--model", "transformer", *SWEEP, "--out", str(out)]) == 0
    results = strict_load(out)["results"]
    assert results["heldout_split"] is None and results["heldout_sequences"] is None
