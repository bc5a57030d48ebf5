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

.PHONY: book pdf test labs lint bench screenshots release student-edition clean help

help:
	@echo "make book         - build the website into _build/html (executed chapters are cached)"
	@echo "make pdf          - the book as one PDF, _build/pdf/book.pdf (after make book; needs chromium)"
	@echo "make test         - run every test (the browser test needs chromium)"
	@echo "make lint         - ruff, configured in pyproject.toml"
	@echo "make labs         - regenerate labs/ from solutions/"
	@echo "make bench        - run every benchmark in benchmarks/"
	@echo "make screenshots  - a PNG of every page of _build/html, light and dark, in _build/screenshots"
	@echo "make release VERSION=X.Y.Z - tag a release the labs' Colab set-up cells install"
	@echo "make student-edition DIR=../student - the repository students see, without solutions"

# constraints.txt pins torch 2.14.1 / torchvision 0.29.1 (which this machine holds
# on disk) and everything else; the package's own requirements stay unpinned for Colab.
# The website's MathJax and widget manager come from the npm registry, once, into the
# course's cache (without npm the pages load them from CDNs: the book still builds).
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[book,dev,instructor]"
	-$(BIN)/python _ext/web_assets.py
	@touch $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going

# The whole book on one page (Sphinx's singlehtml builder, from the same execution cache as
# `make book`), printed by headless Chromium with typeset math, bookmarks and page numbers,
# then checked (chapters, glued numbers, no raw TeX) and copied beside the website.
pdf: $(STAMP)
	$(BIN)/jupyter-book build . --builder singlehtml -W -n --keep-going
	$(BIN)/python scripts/book_pdf.py _build/singlehtml _build/pdf/book.pdf

test: $(STAMP)
	REGOPT_FAST=1 $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

labs: $(STAMP)
	$(BIN)/regopt labs

# Each benchmark reads the load average before and after and measures its roofline; the closing
# table says which targets were met (a run on a loaded machine claims none).
bench: $(STAMP)
	@rm -rf _build/bench
	@set -e; for script in benchmarks/bench_*.py; do \
	  echo "== $$script"; $(BIN)/python $$script; \
	done
	@echo "== summary"; $(BIN)/python benchmarks/summary.py

screenshots: $(STAMP)
	$(BIN)/python scripts/site_browser.py _build/html _build/screenshots

release: $(STAMP)
	$(BIN)/python scripts/release.py $(VERSION)

# The repository students see (no solutions, no hidden tests), written into the empty folder DIR.
student-edition: $(STAMP)
	$(BIN)/python scripts/release.py --student-edition $(DIR)

clean:
	rm -rf _build .pytest_cache
