# Self-documenting: `make help` lists the targets.
PYTHON ?= python3
PY_MINOR := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
VENV ?= .venv
PY := $(VENV)/bin/python
REF_VENV := .venv-ref
REF_PY := $(REF_VENV)/bin/python
STAMP := $(VENV)/.installed
# The pinned test environment: pip constraints resolved per Python by constraints/update.sh
# (`make lock`). LOCK= (empty) installs the newest releases instead (`make test-latest`).
LOCK ?= constraints/test-py$(PY_MINOR).txt
PIN := $(if $(LOCK),--constraint $(LOCK),--upgrade --upgrade-strategy eager)
# Tests run in parallel: most of their time is spent waiting on servers and subprocesses. Those
# marked `serial` assert short latency bounds and run alone afterwards.
WORKERS ?= 4

.DEFAULT_GOAL := help
.PHONY: help venv install test test-latest lint format typecheck pytest redis-server bench bench-quick demo \
	ref-venv v7-venv compare-flags lock clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) setup.py pyproject.toml $(LOCK)
	@if [ -n "$(LOCK)" ] && [ ! -f "$(LOCK)" ]; then \
		echo "no pinned test environment for Python $(PY_MINOR) ($(LOCK)):" \
			"run constraints/update.sh $(PY_MINOR), or make test-latest" >&2; \
		exit 1; \
	fi
	$(PY) -m pip install -q $(PIN) pip setuptools
	@# PYTHONWARNINGS: setuptools' note about editable installs is not for our users to read.
	PYTHONWARNINGS=ignore $(PY) -m pip install -q $(PIN) --no-build-isolation -e '.[test]'
	@# PostHog's own OpenFeature provider, run on this package by tests/test_openfeature_official.py:
	@# it declares posthog>=7 (this drop-in keeps 3.x's version), hence --no-deps, and Python >= 3.10.
	@if [ "$(PY_MINOR)" != 3.9 ]; then \
		echo "$(PY) -m pip install -q $(PIN) --no-deps openfeature-provider-posthog==0.1.125"; \
		$(PY) -m pip install -q $(PIN) --no-deps openfeature-provider-posthog==0.1.125; \
	fi
	@touch $(STAMP)

venv: $(PY) ## Create the virtualenv (.venv)

install: $(STAMP) ## Install the package with its test extras into .venv, at the pinned versions

lint: install ## ruff; no import cycle in posthog/, and imports run down its layers
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) tools/import_cycles.py posthog

format: install ## Apply ruff formatting and fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: install ## mypy --strict on posthog/ and the typing checks
	$(VENV)/bin/mypy
	@if [ -d tests/typing ]; then $(VENV)/bin/mypy --strict tests/typing; fi

pytest: install redis-server ## Run the test suite only (with posthog==3.25.0 beside it for the parity tests)
	-@$(MAKE) --no-print-directory ref-venv || echo "reference venv unavailable: parity tests will be skipped"
	-@$(MAKE) --no-print-directory v7-venv || echo "posthog 7.x venv unavailable: the three-way flag check will be skipped"
	$(PY) -m pytest -q -n $(WORKERS) -m 'not serial'
	$(PY) -m pytest -q -m serial

test: lint typecheck pytest ## Lint, typecheck and run the whole suite (the pinned environment)

test-latest: ## The same, in .venv-latest with the newest release of every package (not what CI runs)
	rm -f .venv-latest/.installed
	$(MAKE) --no-print-directory test VENV=.venv-latest LOCK=

lock: ## Re-resolve constraints/*.txt to the newest releases (commit that on its own)
	constraints/update.sh

# The flag cache tests start their own redis-server (on a free port, data in a temp dir).
redis-server: ## Make sure redis-server is installed (apt-get install as root if missing)
	@if command -v redis-server >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "redis-server is missing and cannot be installed here (needs root and apt-get):" \
			"install it (e.g. sudo apt-get install redis-server) and rerun" >&2; \
		exit 1; \
	fi; \
	echo "installing redis-server with apt-get"; \
	export DEBIAN_FRONTEND=noninteractive; \
	if ! { apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; }; then \
		echo "apt-get could not install redis-server; install it by hand and rerun" >&2; \
		exit 1; \
	fi; \
	command -v redis-server >/dev/null 2>&1 || { echo "redis-server is still not on PATH" >&2; exit 1; }

demo: install ## Run the SDK against a local fake PostHog and show what it received
	$(PY) examples/demo.py

REF_STAMP := $(REF_VENV)/.installed

$(REF_PY):
	$(PYTHON) -m venv $(REF_VENV)

# posthog 3.25.0 and the provider SDKs of its day, for the parity tests (pinned: constraints/ref.txt).
$(REF_STAMP): $(REF_PY) constraints/ref.txt
	$(REF_PY) -m pip install -q --constraint constraints/ref.txt pip
	$(REF_PY) -m pip install -q --constraint constraints/ref.txt \
		'posthog==3.25.0' 'openai==1.75.0' 'anthropic==0.49.0' 'langchain==0.3.25' 'langchain-openai==0.3.16'
	@touch $(REF_STAMP)

ref-venv: $(REF_PY) $(REF_STAMP) ## Create .venv-ref with the reference posthog==3.25.0 (and its LLM SDKs)

V7_VENV := .venv-v7
V7_STAMP := $(V7_VENV)/.installed

# Upstream posthog 7.x in its own virtualenv: the black-box oracle of benchmarks/compare_flags_v7.py.
$(V7_STAMP): constraints/v7.txt
	$(PYTHON) -m venv $(V7_VENV)
	$(V7_VENV)/bin/python -m pip install -q --constraint constraints/v7.txt pip
	$(V7_VENV)/bin/python -m pip install -q --constraint constraints/v7.txt 'posthog==7.91.1'
	@touch $(V7_STAMP)

v7-venv: $(V7_STAMP) ## Create .venv-v7 with upstream posthog 7.91.1 (the three-way flag check's oracle)

compare-flags: install ref-venv v7-venv ## Three-way differential check of local flags: ours, 3.25.0, 7.x
	$(PY) benchmarks/compare_flags_v7.py --n 2000 --seed 1
	$(PY) benchmarks/compare_flags_v7.py --n 2000 --seed 2
	$(PY) benchmarks/compare_flags_v7.py --n 2000 --seed 3

bench: install ref-venv redis-server ## Side-by-side benchmarks against posthog 3.25.0
	$(PY) -m benchmarks.run

bench-quick: install ref-venv redis-server ## The benchmarks in --quick mode
	$(PY) -m benchmarks.run --quick

clean: ## Remove virtualenvs and caches
	rm -rf $(VENV) $(REF_VENV) $(V7_VENV) .venv-latest .venv-py3.* .mypy_cache .ruff_cache build dist *.egg-info
