# The two commands a user needs: `make run` and `make test` (README, "Quick start"). Each creates
# .venv and installs what it needs there, with exact versions from constraints.txt, once; again when
# those files, setup.py or the vendored .proto files change (the gRPC modules are generated at
# install time). What each installs:
#   make run, make serve  on a committed repository: serving only, .[serve,fast] (no torch)
#   make train, make run  without one (no $(MODELS)/manifest.json): training too, .[train,serve,fast]
#   make test             everything, .[train,serve,fast,dev]
# `fast` is gunicorn's C HTTP parser, built from source: it is left out, with a word, where no C
# compiler or Python headers are found (FAST=no leaves it out anyway; FAST=yes insists on it).
# TORCH_INDEX_URL: the package index torch alone is installed from (--no-deps), as the training
# image's build argument of that name: PyTorch's CPU wheel index gives the CPU build, 2.13.0+cpu,
# without the CUDA libraries PyPI's Linux build brings (README, "Quick start").
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
MODELS ?= models
FAST   ?= auto
TORCH_INDEX_URL ?=

comma := ,
ifeq ($(FAST),auto)
FAST := $(shell command -v cc >/dev/null 2>&1 && $(PYTHON) -c 'import os, sysconfig; raise SystemExit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' >/dev/null 2>&1 && echo yes || echo no)
endif
WITH_FAST := $(if $(filter yes,$(FAST)),$(comma)fast)
SERVE_EXTRAS := serve$(WITH_FAST)
TRAIN_EXTRAS := train,serve$(WITH_FAST)
TEST_EXTRAS  := train,serve$(WITH_FAST),dev
# What `make run` installs: serving alone where the repository is there to serve.
RUN_NEEDS := $(if $(wildcard $(MODELS)/manifest.json),$(BIN)/.installed-serve,$(BIN)/.installed-train)
INSTALL_INPUTS := pyproject.toml constraints.txt setup.py $(wildcard xorlab/serve/proto/*.proto)
say = @printf '==> %s\n' "$(1)"

.PHONY: help run train serve test test-fast lint format bench check-wrk lock clean
.DEFAULT_GOAL := help

## help: this list (make alone)
help:
	@sed -n 's/^## //p' $(firstword $(MAKEFILE_LIST))

# The virtual environment and the pip constraints.txt pins (pip 24 or newer reads a package's
# metadata without downloading it; Python 3.11's own pip is older).
$(BIN)/.pip: constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "make: $(PYTHON) not found: install Python 3.11 (Debian/Ubuntu: apt-get install python3.11 python3.11-venv)" >&2; exit 1; }
	@test -x $(BIN)/pip || { echo "==> creating the virtual environment $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "make: '$(PYTHON) -m venv' failed: install Python's venv module (Debian/Ubuntu: apt-get install python3.11-venv)" >&2; exit 1; }; }
	$(call say,installing pip at the version constraints.txt pins)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt pip
	@touch $@

$(BIN)/.installed-serve: EXTRAS := $(SERVE_EXTRAS)
$(BIN)/.installed-serve: WHAT := serving only (no torch)
$(BIN)/.installed-train: EXTRAS := $(TRAIN_EXTRAS)
$(BIN)/.installed-train: WHAT := training and serving (torch: from PyPI on Linux its CUDA build, 2.8 GB in all; TORCH_INDEX_URL for the CPU build)
$(BIN)/.installed:       EXTRAS := $(TEST_EXTRAS)
$(BIN)/.installed:       WHAT := everything: training, serving and the test suite's tools
# FAST is part of what was installed: a compiler installed later brings the C parser in.
$(BIN)/.fast-%: | $(BIN)/.pip
	@touch $@

# A larger install stands in for the smaller ones (its stamp touches theirs).
$(BIN)/.installed $(BIN)/.installed-train $(BIN)/.installed-serve: $(INSTALL_INPUTS) $(BIN)/.pip $(BIN)/.fast-$(FAST)
	$(if $(filter yes,$(FAST)),,@echo "==> no C compiler or Python headers found: gunicorn's C HTTP parser (the fast extra) is left out, the Python one serves (Debian/Ubuntu: apt-get install gcc python3.11-dev; the next make brings it in)")
	$(if $(and $(TORCH_INDEX_URL),$(filter train,$(subst $(comma), ,$(EXTRAS)))),$(call say,installing torch alone from TORCH_INDEX_URL))
	$(if $(and $(TORCH_INDEX_URL),$(filter train,$(subst $(comma), ,$(EXTRAS)))),$(BIN)/pip install --disable-pip-version-check --no-deps --index-url "$(TORCH_INDEX_URL)" -c constraints.txt torch)
	$(call say,installing xorlab[$(EXTRAS)]: $(WHAT); exact versions from constraints.txt)
	$(BIN)/pip install --disable-pip-version-check -c constraints.txt -e ".[$(EXTRAS)]"
	@touch $@
	@case $@ in *.installed) touch $(BIN)/.installed-train $(BIN)/.installed-serve;; *-train) touch $(BIN)/.installed-serve;; esac
	$(call say,installed xorlab[$(EXTRAS)] in $(VENV))

## run: serve models/ (MODELS=DIR) on 127.0.0.1:8000, gRPC on 8001; trains it first if it holds no repository
run: $(RUN_NEEDS)
	@test -f $(MODELS)/manifest.json || { echo "==> $(MODELS)/manifest.json not found: training every model into $(MODELS) first (about a minute on a CPU)"; $(BIN)/xorlab-train --out $(MODELS); }
	$(call say,serving $(MODELS) (Ctrl-C stops it); the server prints its addresses once it answers)
	@$(BIN)/xorlab-serve --models $(MODELS)

## train: (re)train every model and publish the repository into models/ (MODELS=DIR)
train: $(BIN)/.installed-train
	$(call say,training every model into $(MODELS))
	@$(BIN)/xorlab-train --out $(MODELS)

## serve: serve models/ (MODELS=DIR) as it is
serve: $(BIN)/.installed-serve
	$(call say,serving $(MODELS) (Ctrl-C stops it))
	@$(BIN)/xorlab-serve --models $(MODELS)

## test: the whole suite (unit, integration against real gunicorn, browser, deployment checks)
test: $(BIN)/.installed
	$(call say,running the whole test suite (about 20 minutes on 2 cores))
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## test-fast: the suite without the tests marked slow (whole-pipeline training, load, containers, PyPI)
test-fast: $(BIN)/.installed
	$(call say,running the test suite without the tests marked slow)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

## lint: ruff's checks and its formatting check, as CI runs them (pyproject.toml's [tool.ruff])
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## format: ruff formats the code and fixes what its checks can
format: $(BIN)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## bench: the performance benchmarks (not part of the tests; needs wrk: apt-get install wrk); see docs/benchmarks.md
bench: check-wrk $(BIN)/.installed
	$(BIN)/python -m bench $(BENCH_ARGS)

# Before the install, so a machine without wrk hears about it at once.
check-wrk:
	@command -v wrk >/dev/null 2>&1 || { echo "make bench needs wrk, the HTTP load generator: apt-get install wrk" >&2; exit 1; }

## lock: regenerate constraints.txt from .venv, plus torch's CUDA build's packages (resolved from PyPI)
# (--all: torch needs setuptools at run time; tools/pypi.py --lock resolves torch for Linux x86-64.)
lock: $(BIN)/.installed
	( sed '/^[^#]/,$$d' constraints.txt; $(BIN)/pip freeze --all --exclude-editable | sed 's/+cpu$$//' ) > constraints.new
	$(BIN)/python -m tools.pypi --lock constraints.new
	mv constraints.new constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache test-output bench/out tools/out
