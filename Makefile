# Two entry points for a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2
export HF_HUB_OFFLINE := 1
export DVC_NO_ANALYTICS := 1

.PHONY: demo test venv lint report restore clean

venv: $(STAMP)

# Pinned install: the project with its workflow and test extras, then facenet-pytorch
# without its stale pins (torch<2.3, numpy<2, Pillow<10.3), then a check that MTCNN loads.
$(STAMP): pyproject.toml requirements/nodeps.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[workflow,dev]'
	$(BIN)/pip install --quiet --no-deps -r requirements/nodeps.txt
	$(BIN)/python -m mer doctor
	touch $@

## demo: generate the synthetic CASME II-style corpus and run the whole pipeline to a table.
demo: venv
	$(BIN)/snakemake --cores $(CORES)
	@cat results/tables/benchmark.md

## test: the test suite (what CI runs). pytest's exit code 5 means no test ran: a failure here.
test: venv
	@$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing on purpose" >&2; exit 1; fi; \
	exit $$rc

lint: venv
	$(BIN)/snakemake --lint

## report: Snakemake's self-contained HTML report of the last run.
report: venv
	$(BIN)/snakemake --report report.html

## restore: after `dvc pull`/`dvc checkout`, make Snakemake's timestamps agree with DVC.
restore: venv
	$(BIN)/snakemake --touch --cores 1

clean:
	rm -rf data/raw data/interim data/processed results logs benchmarks .snakemake
