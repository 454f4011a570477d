"""The quick-scale book builds with -W, and its HTML passes the guards.

Guards: every figure cell of every chapter appears as an image in its built page
(this catches MPLBACKEND=Agg, which silently removes every figure), and no page
loads MathJax (or any script) from the network.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest
from chapters import ROOT, chapter_paths, figure_cells

BUILD = ROOT / "_build" / "quick"
HTML = BUILD / "_build" / "html"


@pytest.fixture(scope="module")
def built_book():
    shutil.rmtree(BUILD, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["BOOK_QUICK"] = "1"
    env.pop("SLOTLESS_CACHE", None)
    jb = Path(sys.executable).with_name("jupyter-book")
    # as make book-quick: the chapters executed ahead in lanes (slotless.execute), then rendered from the cache
    ahead = [sys.executable, "-m", "slotless.execute", "--root", str(ROOT), "--cache", str(BUILD / "_build" / ".jupyter_cache")]
    result = subprocess.run(ahead, env=env, capture_output=True, text=True, timeout=1500)
    if result.returncode != 0 or "FAILED" in result.stdout:
        pytest.fail(f"executing the chapters ahead failed ({result.returncode}):\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}")
    command = [str(jb), "build", str(ROOT), "--all", "-W", "-n", "--keep-going", "--path-output", str(BUILD)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1500)
    if result.returncode != 0:
        reports = "\n".join(p.read_text()[-3000:] for p in (HTML / "reports").glob("*.log")) if HTML.exists() else ""
        pytest.fail(f"book build failed ({result.returncode}):\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}\n{reports}")
    assert result.stdout.count("Using cached notebook") == len(chapter_paths()), "a chapter was executed twice"
    return HTML


@pytest.mark.book
def test_book_builds_with_warnings_as_errors(built_book):
    assert (built_book / "index.html").exists()


@pytest.mark.book
def test_every_figure_cell_appears_as_an_image_in_its_page(built_book):
    for path in chapter_paths():
        expected = len(figure_cells(jupytext.read(path)))
        page = built_book / path.relative_to(ROOT).with_suffix(".html")
        images = re.findall(r'<img[^>]+src="[^"]*_images/[^"]+"', page.read_text())
        assert len(images) >= expected, f"{page.name}: {len(images)} images for {expected} figure cells"
    assert len(list((built_book / "_images").glob("*.png"))) >= sum(
        len(figure_cells(jupytext.read(p))) for p in chapter_paths()
    )


@pytest.mark.book
def test_front_page_names_the_version_commit_and_source_hash_of_the_build(built_book):
    import slotless

    sys.path.insert(0, str(ROOT / "_ext"))
    from build_info import build_info

    text = re.sub(r"<[^>]+>", "", (built_book / "book" / "index.html").read_text())
    info = build_info(ROOT)
    assert f"Version {slotless.__version__}, built from commit {info['slotless_commit']}" in text
    assert info["slotless_source_hash"] in text and "{{" not in text


@pytest.mark.book
def test_no_page_loads_scripts_or_mathjax_from_the_network(built_book):
    remote = re.compile(r'<script[^>]+src="(https?:)?//', re.I)
    for page in built_book.rglob("*.html"):
        text = page.read_text()
        assert not remote.search(text), f"{page.relative_to(built_book)} loads a script from the network"
        assert "cdn.jsdelivr.net" not in text and "mathjax@" not in text, f"{page.name}: MathJax from a CDN"


@pytest.mark.book
def test_mathjax_is_served_locally(built_book):
    page = built_book / "book" / "index.html"
    local = re.findall(r'<script[^>]+src="([^"]*mathjax[^"]*)"', page.read_text(), re.I)
    assert local, "the front page does not load MathJax"
    for src in local:
        assert (page.parent / src.split("?")[0]).resolve().exists(), f"missing local MathJax file {src}"


# ----------------------------------------------------------------------------- browser
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,1600",
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.skip("Chromium/chromedriver not installed (make test installs Debian's chromium and "
                    "chromium-driver when it runs as root with apt-get)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
const ready = () => (window.MathJax && MathJax.startup && MathJax.startup.promise)
    ? MathJax.startup.promise.then(() => done(true)) : done(false);
if (document.readyState === 'complete') { ready(); } else { window.addEventListener('load', ready); }
"""

PAGE_FACTS = """
const main = document.querySelector('main') || document.body;
const imgs = Array.from(main.querySelectorAll('img'));
const links = Array.from(main.querySelectorAll('a.reference.internal'));
return {
  text: main.innerText,
  math: main.querySelectorAll('mjx-container').length,
  images: imgs.length,
  broken_images: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
  proof_links: links.filter(a => /#(thm|prop|rem|alg)-/.test(a.getAttribute('href') || ''))
                    .map(a => a.href),
  remote: performance.getEntriesByType('resource').map(e => e.name)
                     .filter(n => !n.startsWith('file:') && !n.startsWith('data:')),
};
"""


@pytest.mark.book
def test_book_pages_render_in_headless_chromium(built_book, browser):
    """Every page loads from file:// with no network: equations typeset, no raw $$,
    figures decoded, theorem cross-references point at existing anchors. Screenshots
    go to tests/artifacts/ for a person to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pages = sorted((built_book / "book").rglob("*.html"))
    assert pages
    proof_links_seen = 0
    for page in pages:
        browser.get(page.as_uri())
        browser.execute_async_script(WAIT_FOR_MATHJAX)
        facts = browser.execute_script(PAGE_FACTS)
        name = page.relative_to(built_book / "book").with_suffix("").as_posix().replace("/", "__")
        browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))
        source = page.read_text()
        assert not facts["remote"], f"{name}: fetched from the network: {facts['remote']}"
        assert "$$" not in facts["text"], f"{name}: raw $$ on screen"
        if "math notranslate" in source:
            assert facts["math"] > 0, f"{name}: equations were not typeset by MathJax"
        assert not facts["broken_images"], f"{name}: images that did not load: {facts['broken_images']}"
        for href in facts["proof_links"]:
            target, _, anchor = href.removeprefix("file://").partition("#")
            assert f'id="{anchor}"' in Path(target).read_text(), f"{name}: dangling reference {href}"
            proof_links_seen += 1
    assert proof_links_seen > 0, "no theorem cross-references found in the book"


@pytest.mark.book
def test_each_chapter_downloads_as_a_notebook_that_executes(built_book, tmp_path, monkeypatch):
    """Every executed chapter is offered as .ipynb; one of them is opened and re-executed."""
    import nbformat
    from nbclient import NotebookClient

    for path in chapter_paths():
        page = path.relative_to(ROOT).with_suffix("")
        notebook = built_book / "_notebooks" / f"{page}.ipynb"
        assert notebook.exists(), f"no notebook download for {page}"
        cells = [c for c in nbformat.read(notebook, 4).cells if c.cell_type == "code"]
        assert any(c.outputs for c in cells), f"the notebook download of {page} has no outputs"
        glued = [o for c in cells for o in c.outputs if any(k.startswith("application/papermill.record/")
                                                             for k in o.get("data", {}))]
        assert not glued, f"the notebook download of {page} keeps {len(glued)} glue records among its outputs"
        assert f'_notebooks/{page}.ipynb"' in (built_book / f"{page}.html").read_text()
    monkeypatch.setenv("BOOK_QUICK", "1")  # the kernel inherits it: quick scale
    shortest = min(chapter_paths(), key=lambda p: p.stat().st_size)
    downloaded = nbformat.read(built_book / "_notebooks" / f"{shortest.relative_to(ROOT).with_suffix('')}.ipynb", 4)
    NotebookClient(downloaded, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert all(o.get("output_type") != "error" for c in downloaded.cells for o in c.get("outputs", []))


# ----------------------------------------------------------------------------- build information
def _build_info_module():
    sys.path.insert(0, str(ROOT / "_ext"))
    import build_info

    return build_info


def test_build_info_names_the_package_version_git_commit_and_source_hash():
    import slotless
    from slotless.io import source_hash

    build_info = _build_info_module()
    info = build_info.build_info(ROOT)
    assert info["slotless_version"] == slotless.__version__
    assert info["slotless_source_hash"] == source_hash()[:16]
    if shutil.which("git") and (ROOT / ".git").exists():
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        assert info["slotless_commit"].split()[0] == commit


def test_build_info_says_so_outside_a_git_checkout(tmp_path):
    assert _build_info_module().git_commit(tmp_path) == "no git checkout"


def test_launch_buttons_wait_for_the_repository_address():
    from types import SimpleNamespace

    build_info = _build_info_module()
    launch = {"binderhub_url": "https://mybinder.org", "notebook_interface": "jupyterlab"}
    for url, expect_buttons in (("", False), ("https://github.com/example/slotless", True)):
        config = SimpleNamespace(myst_substitutions={}, html_theme_options={"repository_url": url,
                                                                              "launch_buttons": dict(launch)})
        build_info._configure(SimpleNamespace(srcdir=str(ROOT)), config)
        assert ("launch_buttons" in config.html_theme_options) is expect_buttons
        assert config.html_theme_options.get("use_repository_button", False) is expect_buttons
        assert config.myst_substitutions["slotless_version"]
