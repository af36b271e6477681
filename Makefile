# The two commands a user needs: `make run` and `make test`. Each creates .venv and installs
# xorlab with exact versions from constraints.txt first (once; again when those files, setup.py or
# the vendored .proto files change: the gRPC modules are generated at install time).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
MODELS ?= models
EXTRAS ?= train,serve,fast,dev

.PHONY: run train serve test test-fast bench check-wrk lock clean

$(BIN)/.installed: pyproject.toml constraints.txt setup.py $(wildcard xorlab/serve/proto/*.proto)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	touch $@

## run: train into $(MODELS) if it holds no repository yet, then serve it on 127.0.0.1:8000
run: $(BIN)/.installed
	@test -f $(MODELS)/manifest.json || $(BIN)/xorlab-train --out $(MODELS)
	$(BIN)/xorlab-serve --models $(MODELS)

## train: (re)train every model and publish the repository into $(MODELS)
train: $(BIN)/.installed
	$(BIN)/xorlab-train --out $(MODELS)

serve: $(BIN)/.installed
	$(BIN)/xorlab-serve --models $(MODELS)

## test: the whole suite (unit, integration against real gunicorn, browser, deployment checks)
test: $(BIN)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## test-fast: the suite without the tests marked slow (whole-pipeline training, load, containers)
test-fast: $(BIN)/.installed
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

## bench: the performance benchmarks (not part of the tests; needs wrk: apt-get install wrk); see docs/benchmarks.md
bench: check-wrk $(BIN)/.installed
	$(BIN)/python -m bench $(BENCH_ARGS)

# Before the install, so a machine without wrk hears about it at once.
check-wrk:
	@command -v wrk >/dev/null 2>&1 || { echo "make bench needs wrk, the HTTP load generator: apt-get install wrk" >&2; exit 1; }

## lock: regenerate constraints.txt from what is installed in .venv (--all: torch needs setuptools at run time)
lock: $(BIN)/.installed
	( sed -n '1,2p' constraints.txt; $(BIN)/pip freeze --all --exclude-editable | grep -v '^pip==' | sed 's/+cpu$$//' ) > constraints.new && mv constraints.new constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache test-output bench/out tools/out
