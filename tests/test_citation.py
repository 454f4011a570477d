"""CITATION.cff is valid against the CFF schema (checked by cffconvert, a maintained
validator, in its own venv because it needs jsonschema<4), and the citation page,
README and BibTeX agree with it."""

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from chapters import ROOT

VALIDATOR = ROOT / ".venv-cff" / "bin" / "cffconvert"


def _validate(path: Path) -> subprocess.CompletedProcess:
    if not VALIDATOR.exists():
        pytest.skip("validator venv .venv-cff missing: `make test` creates it")
    return subprocess.run([str(VALIDATOR), "--validate", "-i", str(path)], capture_output=True, text=True)


def test_citation_cff_is_valid_against_the_schema():
    result = _validate(ROOT / "CITATION.cff")
    assert result.returncode == 0, result.stdout + result.stderr


def test_validator_rejects_a_broken_citation_file(tmp_path):
    broken = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    del broken["authors"]
    broken["date-released"] = "not a date"
    path = tmp_path / "CITATION.cff"
    path.write_text(yaml.safe_dump(broken))
    assert _validate(path).returncode != 0


def test_citation_metadata_agrees_with_package_and_bibtex():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    import slotless

    assert cff["version"] == slotless.__version__
    assert cff["preferred-citation"]["doi"] == "10.48550/arXiv.2511.04593"
    bib = (ROOT / "references.bib").read_text()
    assert re.search(r"@article\{bhandarkar2025slots", bib)
    assert f"version {slotless.__version__}" in bib
    cite_page = (ROOT / "book" / "appendix" / "cite.md").read_text()
    assert "arXiv:2511.04593" in cite_page and f"version = {{{slotless.__version__}}}" in cite_page
