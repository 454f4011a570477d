# slotless: two commands do everything.
#   make book   set up .venv if needed, build the HTML book at paper scale
#   make test   set up .venv if needed, run every test CI runs
# Other targets: golden (regenerate tests/golden), bench (speed benchmarks), clean.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.slotless-installed
JB     := $(VENV)/bin/jupyter-book
# Kernels must never inherit a non-interactive backend: it silently drops every figure.
unexport MPLBACKEND
export PYTHONHASHSEED := 0

.PHONY: venv book book-quick test lint golden bench clean browser-deps

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

# Paper scale. Expensive simulations are cached in .cache/paper, keyed by their full
# configuration and a hash of the slotless source, so a re-build recomputes only what changed.
book: $(STAMP)
	$(PY) -c "from slotless.warmup import compile_kernels; compile_kernels()"
	rm -rf _build/html _build/.doctrees _build/jupyter_execute
	BOOK_QUICK=0 SLOTLESS_CACHE=$(CURDIR)/.cache/paper \
	  $(JB) build . --all -W -n --keep-going
	@echo "Book: $(CURDIR)/_build/html/index.html"

# CI scale, into its own directory (never mixed with the paper-scale build).
book-quick: $(STAMP)
	rm -rf _build/quick
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

# ruff over the package, the tests, the benchmarks and the chapters' code cells (configured in pyproject.toml)
lint: $(STAMP)
	$(PY) -m ruff check --no-cache slotless tests benchmarks
	$(PY) tests/lint_chapters.py

test: $(STAMP) $(CFF_STAMP) browser-deps lint
	$(PY) -c "from slotless.warmup import compile_kernels; compile_kernels()"
	$(PY) -m pytest -n 2 --dist loadfile --nbval --nbval-sanitize-with tests/sanitize.cfg \
	  --nbval-current-env tests

golden: $(STAMP)
	$(PY) tests/make_golden.py

# The speed targets (slotless/perf/bench.py TARGETS), measured side by side; exit status 1 when one is
# missed. Extra options through BENCH_ARGS, e.g. BENCH_ARGS="--scale tiny --target kwinner=1e9/1e9".
bench: $(STAMP)
	$(PY) benchmarks/run.py --out benchmarks/results.json $(BENCH_ARGS)

clean:
	rm -rf _build .cache .pytest_cache tests/artifacts slotless/__pycache__/numba-*
