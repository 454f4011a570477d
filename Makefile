# slotless: two commands do everything.
#   make book   set up .venv if needed, build the HTML book at paper scale
#   make test   set up .venv if needed, run every test CI runs
# Other targets: book-quick (the whole book at the small CI scale), lab (JupyterLab on the book),
# kernel (register the `slotless` Jupyter kernel), golden (regenerate tests/golden),
# bench (speed benchmarks), clean,
# cache-clean (prune result-cache entries and compiled-kernel caches that the current source can never use again).
#
# Variables:
#   PYTHON=python3.11   the interpreter that creates .venv (it must be Python 3.11)
#   TORCH_INDEX=URL     install torch alone from this package index first, e.g. PyTorch's CPU-only
#                       wheels on Linux: make book TORCH_INDEX=https://download.pytorch.org/whl/cpu
#   PIP_INDEX_URL, PIP_EXTRA_INDEX_URL  read by pip itself, from the environment or the make command line
#   KERNEL_PREFIX=DIR   where `make kernel` registers the kernel (default: inside .venv)
#   LAB_ARGS="..."      extra arguments for `jupyter lab`, e.g. LAB_ARGS="--no-browser --port 8899"

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.slotless-installed
LAB_STAMP := $(VENV)/.slotless-lab-installed
JB     := $(VENV)/bin/jupyter-book
PIP_INSTALL := -m pip install --quiet --disable-pip-version-check
TORCH_INDEX ?=
TORCH_PIN := $(shell grep -E '^torch==' requirements.txt)
KERNEL_PREFIX ?= $(CURDIR)/$(VENV)
LAB_ARGS ?=
# Kernels must never inherit a non-interactive backend: it silently drops every figure.
unexport MPLBACKEND
export PYTHONHASHSEED := 0

# The pins are verified together on Python 3.11 only: stop with one line for any other interpreter.
require_python_311 = v=$$($(1) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); \
  [ "$$v" = 3.11 ] || { echo "slotless needs Python 3.11, but $(1) is $${v:-not a working Python}: \
install Python 3.11 and run make PYTHON=python3.11 (remove $(VENV) if another Python made it)" >&2; exit 1; }

.PHONY: venv book book-quick test lint golden bench clean cache-clean browser-deps kernel lab

venv: $(STAMP)

# torch first, from TORCH_INDEX when given: the rest of the pins then find it installed. The pin
# matches the CPU build's local version (2.13.0+cpu), so pip keeps it.
$(STAMP): requirements.txt pyproject.toml
	@if [ ! -x $(PY) ]; then $(call require_python_311,$(PYTHON)); $(PYTHON) -m venv $(VENV); fi
	@$(call require_python_311,$(PY))
	$(if $(TORCH_INDEX),$(PY) $(PIP_INSTALL) --index-url $(TORCH_INDEX) $(TORCH_PIN))
	$(PY) $(PIP_INSTALL) -r requirements.txt
	$(PY) $(PIP_INSTALL) --no-deps -e .
	@touch $@

# Paper scale. Expensive simulations are cached in .cache/paper, keyed by their full
# configuration and a hash of the slotless source, so a re-build recomputes only what changed.
# slotless.execute runs the chapters first, two at a time, each on its own share of the cores (the
# performance appendix first, alone); jupyter-book then renders their outputs (see _config.yml, execute).
book: $(STAMP)
	$(PY) -c "from slotless.warmup import BOOK_DTYPES, compile_kernels; compile_kernels(BOOK_DTYPES)"
	rm -rf _build/html _build/.doctrees _build/jupyter_execute
	BOOK_QUICK=0 SLOTLESS_CACHE=$(CURDIR)/.cache/paper $(PY) -m slotless.execute --cache _build/.jupyter_cache
	BOOK_QUICK=0 SLOTLESS_CACHE=$(CURDIR)/.cache/paper \
	  $(JB) build . --all -W -n --keep-going
	@echo "Book: $(CURDIR)/_build/html/index.html"

# CI scale, into its own directory (never mixed with the paper-scale build).
book-quick: $(STAMP)
	rm -rf _build/quick
	BOOK_QUICK=1 $(PY) -m slotless.execute --cache _build/quick/_build/.jupyter_cache
	BOOK_QUICK=1 $(JB) build . --all -W -n --keep-going --path-output _build/quick
	@echo "Book (quick scale): $(CURDIR)/_build/quick/_build/html/index.html"

CFF_STAMP := .venv-cff/.installed

$(CFF_STAMP): tests/cff-requirements.txt
	@test -x .venv-cff/bin/python || $(PYTHON) -m venv .venv-cff
	.venv-cff/bin/python -m pip install --quiet --disable-pip-version-check -r tests/cff-requirements.txt
	@touch $@

# The browser test needs Chromium from Debian's packages; install it when we can (root + apt-get).
browser-deps:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Chromium from Debian's packages for the browser test..."; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
	      >/dev/null 2>&1 || echo "NOTE: could not install Chromium: the browser test will skip"; \
	  else \
	    echo "NOTE: Chromium is missing and cannot be installed here: the browser test will skip"; \
	  fi; \
	fi

# ruff over the package, the tests, the benchmarks and the chapters' code cells (configured in
# pyproject.toml); actionlint over the GitHub workflows.
lint: $(STAMP)
	$(PY) -m ruff check --no-cache slotless tests benchmarks
	$(VENV)/bin/actionlint .github/workflows/*.yml
	$(PY) tests/lint_chapters.py

test: $(STAMP) $(CFF_STAMP) browser-deps lint
	$(PY) -c "from slotless.warmup import compile_kernels; compile_kernels()"
	$(PY) -m pytest -n 2 --dist loadfile --nbval --nbval-sanitize-with tests/sanitize.cfg \
	  --nbval-current-env tests

# Register the venv's Python as the Jupyter kernel `slotless` (by default inside .venv, where the
# venv's JupyterLab finds it; KERNEL_PREFIX=DIR puts it under DIR/share/jupyter/kernels instead).
# ipykernel is one of the book's pins, so this needs no JupyterLab.
kernel: $(STAMP)
	$(PY) -m ipykernel install --prefix $(KERNEL_PREFIX) --name slotless --display-name "Python 3 (slotless)"

# The same venv plus the pinned JupyterLab, jupytext and jupyterlab-myst. Installed together with
# requirements.txt, so the resolver keeps the book's pins.
$(LAB_STAMP): $(STAMP) requirements-lab.txt
	$(PY) $(PIP_INSTALL) -r requirements.txt -r requirements-lab.txt
	@touch $@

# JupyterLab on the book, opened at its first chapter: every .md opens as a notebook (jupytext) with
# its MyST rendered (jupyterlab-myst). .binder/lab-overrides.json makes "Jupytext Notebook" the
# default viewer for Markdown (and turns off JupyterLab's news and update checks); Binder installs the
# same file. New notebooks start the `slotless` kernel; the chapters name `python3`, which here is the
# same interpreter. Simulations share the paper-scale cache of `make book`; BOOK_QUICK=1 on the
# command line runs every chapter at the small scale.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.d
FIRST_CHAPTER := book/memory/kwinner_mhn.md
# JupyterLab refuses to run as root (containers, CI) unless told to.
LAB_AS_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
lab: $(LAB_STAMP) kernel
	@mkdir -p $(LAB_SETTINGS)
	cp .binder/lab-overrides.json $(LAB_SETTINGS)/slotless.json
	SLOTLESS_CACHE=$${SLOTLESS_CACHE:-$(CURDIR)/.cache/paper} \
	  $(VENV)/bin/jupyter lab --ServerApp.root_dir=$(CURDIR) --MappingKernelManager.default_kernel_name=slotless \
	  $(LAB_AS_ROOT) $(LAB_ARGS) $(FIRST_CHAPTER)

golden: $(STAMP)
	$(PY) tests/make_golden.py

# The speed targets (slotless/perf/bench.py TARGETS), measured side by side; exit status 1 when one is
# missed. Extra options through BENCH_ARGS, e.g. BENCH_ARGS="--scale tiny --target kwinner=1e9/1e9".
bench: $(STAMP)
	$(PY) benchmarks/run.py --out benchmarks/results.json $(BENCH_ARGS)

# Keep the result cache but remove what can never be used again: entries made by an older version of the
# slotless source or under other package versions, damaged entries, temporary files of interrupted writes.
cache-clean: $(STAMP)
	@if [ -d .cache ]; then $(PY) -m slotless cache-clean .cache; else echo "no .cache directory: nothing to clean"; fi

clean:
	rm -rf _build .cache .pytest_cache tests/artifacts slotless/__pycache__/numba-*
