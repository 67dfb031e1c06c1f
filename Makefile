# creditlens: `make test` sets up .venv and runs the tests; `make app` sets up .venv and runs the main job.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install test app lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

test: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(PY) -m pytest

# Until the Streamlit app lands (issue 6), the main job routes a long sequence and prints its credit.
app: $(VENV)/.installed
	$(PY) examples/route_sequence.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) build *.egg-info
