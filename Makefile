# Two commands for a new user:  `make demo` (install + train the CPU demo)  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo train test test-slow benchmarks clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -e ".[dev,speech]"
	touch $(STAMP)

demo: install
	$(PY) train.py

train: demo

test: install
	$(PY) -m pytest -n auto --maxprocesses=4 --dist loadfile

test-slow: install
	$(PY) -m pytest -m slow -n auto --maxprocesses=4 --dist loadfile

benchmarks: install
	$(PY) -m benchmarks.complexity
	$(PY) -m benchmarks.inference
	$(PY) -m benchmarks.training
	$(PY) -m benchmarks.data_loading

clean:
	rm -rf outputs multirun .pytest_cache
