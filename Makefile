# A boring Makefile: every target creates and uses the project's own .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-faults test-cluster lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	cd examples/demo && PATH="$(CURDIR)/$(BIN):$$PATH" ./run_pipeline.sh

# Two pytest workers, each taking whole test files (module fixtures run once): most tests wait on
# subprocesses, so one worker leaves a core idle (about 9 minutes serial, 6 with two workers).
test: $(STAMP)
	$(BIN)/python tests/kwdagger/kwd_support.py   # the real KWDagger 0.4.1, in its own test-only venv
	$(BIN)/python -m pytest -q -n 2 --dist loadfile trackdag tests --ignore=tests/faults --ignore=tests/cluster

# The slow fault loops: random kill -9s, readers held for a minute, full and
# read-only disks, hostile inputs through the CLI (see README, "What trackdag guarantees").
test-faults: $(STAMP)
	$(BIN)/python -m pytest -q tests/faults

# A real two-node Ray cluster on this machine (`ray start` head + worker): about half a minute.
test-cluster: $(STAMP)
	$(BIN)/python -m pytest -q tests/cluster

lint: $(STAMP)
	$(BIN)/python -m compileall -q trackdag tests examples benchmarks

# One table: every row of the scale issue, trackdag beside KWDagger 0.4.1 (from PyPI into
# benchmarks/_work/kwdagger-venv), the floor or the target (about 30 minutes). The million-job rows need
# a catalog kept by `bench_million.py --keep`: make bench BENCH_ARGS="--million-catalog DIR".
# The other benchmarks/bench_*.py scripts print their own, deeper tables when run by hand.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_table.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) examples/demo/pipeline_output .pytest_cache
