# Two commands for a fresh machine: `make run` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# pytest processes (pytest-xdist; each test file stays in one). CI has 2 CPUs. Recording the
# histories again writes tests/histories/workflow-ids.txt, so that runs in one process.
TEST_WORKERS ?= $(if $(WHEREABOUTS_RECORD_HISTORIES),0,2)

.PHONY: run test bench lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[local,test]'
	touch $(STAMP)

run: $(STAMP)
	sh scripts/ensure-pdf.sh
	$(PY) -m whereabouts.devstack

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	sh scripts/ensure-chromium.sh
	sh scripts/ensure-pdf.sh
	$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile

bench: $(STAMP)
	$(PY) -m bench

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy

clean:
	rm -rf $(VENV) var .pytest_cache
