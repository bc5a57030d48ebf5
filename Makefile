# Two commands for a fresh machine (see README.md):
#   make book   builds the website into _build/html (full fidelity, every chapter executed)
#   make test   runs every test (unit tests, notebooks in fast mode, labs, grading, the site)
# Both create .venv when it is missing and install what they need.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Offline MNIST beside the project (CI and the developers' machines have it).
SHARED_DATA := $(wildcard ../shared/data)
ifneq ($(SHARED_DATA),)
  export REGOPT_DATA ?= $(abspath $(SHARED_DATA))
endif
# Keep pytest's kernels and the build's kernels on the venv's Python.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: book test labs lint bench clean help

help:
	@echo "make book   - build the website into _build/html"
	@echo "make test   - run every test"
	@echo "make labs   - regenerate labs/ from solutions/"
	@echo "make bench  - run the benchmarks in benchmarks/"

# constraints.txt pins torch 2.14.1 / torchvision 0.29.1 (which this machine holds
# on disk) and everything else; the package's own requirements stay unpinned for Colab.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[book,dev,instructor]"
	@touch $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going

test: $(STAMP)
	REGOPT_FAST=1 $(BIN)/python -m pytest

labs: $(STAMP)
	$(BIN)/regopt labs

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_train.py

clean:
	rm -rf _build .pytest_cache
