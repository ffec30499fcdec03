# lemgrid: `make run` and `make test` work on a fresh machine with Python >= 3.12 and make.

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Candidates are tried in order until one runs and is >= 3.12: an explicit
# LEMGRID_PYTHON, the usual names on PATH, then pyenv-managed interpreters
# called directly (pyenv shims fail unless a version is selected).
PYENV_ROOT ?= $(HOME)/.pyenv
FIND_PYTHON := for c in $$LEMGRID_PYTHON python3.13 python3.12 python3 python \
	$$(ls -d $$(pyenv root 2>/dev/null || echo $(PYENV_ROOT))/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -r); do \
	  if "$$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then echo "$$c"; exit 0; fi; \
	done; echo "no Python >= 3.12 found (tried python3.13, python3.12, python3, python and pyenv versions); set LEMGRID_PYTHON=/path/to/python3.12" >&2; exit 1

.PHONY: run study viz test test-slow bench bench-targets lint clean

$(STAMP): pyproject.toml
	@test -x $(PY) || { py=$$($(FIND_PYTHON)) && echo "using $$py" && "$$py" -m venv $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,dev]"
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/lemgrid sweep experiments/pricing_designs.yaml --report

# The impact studies (docs/studies.md) at their small size, in number order; the first nine took 27 minutes on 2 cores (measured before bid curves).
study: $(STAMP)
	@status=0; for f in $$(ls experiments/studies/*_*.yaml | sort -V); do \
	  $(VENV)/bin/lemgrid sweep $$f --report || status=1; \
	done; exit $$status

viz: $(STAMP)
	$(VENV)/bin/lemgrid viz

test: $(STAMP)
	@bash .ci/install-browser || echo "the browser test will be skipped: it needs Chromium"
	$(PY) -m pytest -q -m "not slow"

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

bench: $(STAMP)
	$(PY) benchmarks/interval_phases.py
	$(PY) benchmarks/price_response.py
	$(PY) benchmarks/scaling.py
	$(PY) benchmarks/thousand.py
	$(PY) benchmarks/memory.py

bench-targets: $(STAMP)
	$(PY) benchmarks/targets.py

lint: $(STAMP)
	$(VENV)/bin/ruff check model agents grid experiments viz tests benchmarks
	$(VENV)/bin/ruff format --check model agents grid experiments viz tests benchmarks
	@# mypy sees the folders under their import names, lemgrid.<folder>, through a tree of links
	@rm -rf build/typecheck && mkdir -p build/typecheck/lemgrid && \
	  for p in model agents grid experiments viz; do ln -s ../../../$$p build/typecheck/lemgrid/$$p; done
	cd build/typecheck && ../../$(VENV)/bin/mypy --config-file ../../pyproject.toml -p lemgrid

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
