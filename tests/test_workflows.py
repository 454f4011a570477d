"""The GitHub workflows do what the README says, pass actionlint (which `make lint` also runs), and
actionlint would catch a broken one. Binder's configuration installs the same pins and the package."""

import shutil
import subprocess

import pytest
import yaml
from chapters import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = ROOT / ".venv" / "bin" / "actionlint"


def load(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as True
    return workflow


def steps(workflow: dict, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def uses(step: dict, action: str) -> bool:
    return step.get("uses", "").startswith(action + "@")


def actionlint(*paths):
    if not ACTIONLINT.exists():
        pytest.skip("actionlint is missing: `make test` installs it (requirements.txt)")
    return subprocess.run([str(ACTIONLINT), "-no-color", *map(str, paths)], capture_output=True, text=True,
                          timeout=120)


def test_book_workflow_builds_the_paper_scale_book_on_pushes_to_main_and_deploys_pages():
    book = load("book.yml")
    assert book["on"]["push"]["branches"] == ["main"]
    build = steps(book, "build")
    runs = [step.get("run", "") for step in build]
    assert "make book" in runs
    assert any("TORCH_INDEX=https://download.pytorch.org/whl/cpu" in run for run in runs)
    upload = next(step for step in build if uses(step, "actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    deploy = book["jobs"]["deploy"]
    assert deploy["needs"] == "build" and deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert any(uses(step, "actions/deploy-pages") for step in deploy["steps"])


def test_book_workflow_caches_the_paper_scale_results_by_source_hash():
    build = steps(load("book.yml"), "build")
    names = [step.get("id") for step in build]
    hash_step = build[names.index("source")]
    assert "source_hash()" in hash_step["run"] and "GITHUB_OUTPUT" in hash_step["run"]
    cache_index = next(i for i, step in enumerate(build) if uses(step, "actions/cache"))
    cache = build[cache_index]
    assert cache["with"]["path"] == ".cache/paper"
    assert cache["with"]["key"].startswith("paper-${{ steps.source.outputs.hash }}-")
    assert cache["with"]["restore-keys"] == "paper-${{ steps.source.outputs.hash }}-"
    assert names.index("source") < cache_index < [step.get("run") for step in build].index("make book")


def test_test_workflow_runs_make_test_on_pull_requests():
    test = load("test.yml")
    assert "pull_request" in test["on"]
    assert "make test" in [step.get("run") for step in steps(test, "test")]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_workflows_use_python_3_11():
    for name in ("book.yml", "test.yml"):
        job = next(iter(load(name)["jobs"].values()))
        setup = next(step for step in job["steps"] if uses(step, "actions/setup-python"))
        assert setup["with"]["python-version"] == "3.11", name


def test_actionlint_passes_on_both_workflows():
    result = actionlint(WORKFLOWS / "book.yml", WORKFLOWS / "test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_a_broken_workflow(tmp_path):
    broken = load("test.yml")
    broken["jobs"]["test"]["steps"].append({"run": "echo ${{ steps.nowhere.outputs.x }}"})
    broken["jobs"]["test"]["runs-on"] = "ubuntu-latest"
    broken["jobs"]["test"]["timeout-minutes"] = "ninety"
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump(broken, sort_keys=False))
    result = actionlint(path)
    assert result.returncode != 0 and "timeout-minutes" in result.stdout


def test_binder_installs_the_repository_pins_and_the_package():
    binder = ROOT / ".binder"
    requirements = (binder / "requirements.txt").read_text().splitlines()
    assert "-r ../requirements.txt" in requirements and "-r ../requirements-lab.txt" in requirements
    assert not [line for line in requirements if "==" in line], "the pins live in the repository root only"
    assert (binder / "runtime.txt").read_text().strip() == "python-3.11"
    post_build = binder / "postBuild"
    assert post_build.stat().st_mode & 0o111, "postBuild must be executable"
    text = post_build.read_text()
    assert "--no-deps -e ." in text and "--name slotless" in text and "lab-overrides.json" in text
    if shutil.which("bash"):
        assert subprocess.run(["bash", "-n", str(post_build)]).returncode == 0
