# The two commands of the README: `make lab` and `make test`. Both create .venv when it is missing.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.difflab-installed
# Workers for the test suite: 2 suits a 2-core laptop; `make test JOBS=1` runs everything in one process.
JOBS   ?= 2
# The lab notebooks git tracks (a learner's own notebooks in labs/ and JupyterLab's checkpoints are not tests).
LABS   := $(or $(shell git ls-files 'labs/*.ipynb' 2>/dev/null),$(wildcard labs/*.ipynb))

.PHONY: lab test install starters lint clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --upgrade pip

# torch first, chosen for this machine (a CPU build unless there is a CUDA GPU: tools/install_torch.py);
# `pip install -e .` then keeps it.
$(STAMP): pyproject.toml tools/install_torch.py | $(PY)
	$(PY) tools/install_torch.py
	$(PY) -m pip install -e ".[test]"
	# DiffSynth-Studio's source, for difflab.upstream to read (never imported: its dependencies stay out).
	$(PY) -m pip install --no-deps diffsynth==2.1.12
	touch $(STAMP)

install: $(STAMP)

# The course folder is JupyterLab's root, so starters/, handbook/ and the README are one click away.
# Jupyter refuses to run as root unless told; containers often are root.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" $(if $(filter 0,$(shell id -u)),--allow-root) \
		labs/00_start_here.ipynb

# One thread per test worker and notebook kernel: two workers × two threads on two cores thrash.
# The labs' check cells record progress in a file of the run's own, not in your .difflab/progress.json.
test: $(STAMP)
	DIFFLAB_PROGRESS="$$(mktemp -d)/progress.json" OMP_NUM_THREADS=1 \
		$(PY) -m pytest -n $(JOBS) --dist loadfile --nbval-lax tests $(LABS)

# Course authors: regenerate starters/ after editing solutions/ (this overwrites edited starters).
starters: $(STAMP)
	$(VENV)/bin/difflab starters --force

lint: $(STAMP)
	$(VENV)/bin/ruff check lib tests starters solutions benchmarks tools
	$(VENV)/bin/ruff format --check lib tests starters solutions benchmarks tools

clean:
	rm -rf $(VENV) lib/*.egg-info
