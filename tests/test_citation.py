"""CITATION.cff is valid against the CFF schema (checked by cffconvert, a maintained
validator, in its own venv because it needs jsonschema<4), cites the software with the paper
as its reference, and agrees with the package, the cite page, references.bib and the changelog."""

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


def test_the_software_is_the_root_entry_and_the_paper_its_reference():
    import slotless

    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["type"] == "software" and "preferred-citation" not in cff
    assert cff["version"] == slotless.__version__
    assert f'version = "{slotless.__version__}"' in (ROOT / "pyproject.toml").read_text()
    assert cff["license"] == ["MIT", "CC-BY-4.0"]
    (paper,) = cff["references"]
    assert paper["type"] == "article" and paper["doi"] == "10.48550/arXiv.2511.04593"


def _bibtex_entries(text: str) -> dict[str, str]:
    """``key -> entry`` for every BibTeX entry in ``text`` (entries end with a line holding only ``}``)."""
    return {m.group(2): m.group(0) for m in re.finditer(r"^@(\w+)\{([^,]+),\n.*?^\}$", text, re.M | re.S)}


def test_cite_page_gives_the_entries_of_the_bibliography_verbatim():
    import slotless

    bib = _bibtex_entries((ROOT / "references.bib").read_text())
    page = _bibtex_entries((ROOT / "book" / "appendix" / "cite.md").read_text())
    assert set(page) == {"slotless2026", "bhandarkar2025slots"}
    for key, entry in page.items():
        assert entry == bib[key], f"{key}: the cite page and references.bib differ"
    assert bib["slotless2026"].startswith("@software{")
    assert f"version = {{{slotless.__version__}}}" in bib["slotless2026"]
    assert f"version {slotless.__version__}}}" in bib["slotless2026"], "the note names another version"
    assert bib["bhandarkar2025slots"].startswith("@article{")


def test_changelog_starts_at_the_first_version_and_names_the_current_one():
    import slotless

    changelog = (ROOT / "CHANGELOG.md").read_text()
    versions = re.findall(r"^## \[?(\d+\.\d+\.\d+)\]?", changelog, re.M)
    assert versions and versions[0] == slotless.__version__ and versions[-1] == "0.1.0"
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert str(cff["date-released"]) in changelog.split("\n## ")[1].splitlines()[0]


def test_front_page_states_the_version_commit_and_source_hash():
    page = (ROOT / "book" / "index.md").read_text()
    for name in ("slotless_version", "slotless_commit", "slotless_source_hash"):
        assert "{{ " + name + " }}" in page
