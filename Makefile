# The two commands of the README: `make lab` and `make test`. Both create .venv when it is missing.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.difflab-installed
# Workers for the test suite: 2 suits a 2-core laptop; `make test JOBS=1` runs everything in one process.
JOBS   ?= 2

.PHONY: lab test install starters lint clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# Jupyter refuses to run as root unless told; containers often are root.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) labs/00_start_here.ipynb

# One thread per test worker and notebook kernel: two workers × two threads on two cores thrash.
test: $(STAMP)
	$(VENV)/bin/difflab starters --check
	OMP_NUM_THREADS=1 $(PY) -m pytest -n $(JOBS) --dist loadfile --nbval-lax tests labs

starters: $(STAMP)
	$(VENV)/bin/difflab starters --force

lint: $(STAMP)
	$(VENV)/bin/ruff check lib tests starters solutions benchmarks
	$(VENV)/bin/ruff format --check lib tests starters solutions benchmarks

clean:
	rm -rf $(VENV) lib/*.egg-info
