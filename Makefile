# fashionlab: `make demo` and `make test` are the two commands of the quick start.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-slow lint bench bench-models models venv clean

venv: $(STAMP)

# The venv is (re)installed only when pyproject.toml changes, so a second run is quick.
# torch is installed first, pinned, so pip never reaches for a CUDA build.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check "torch==2.13.*"
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/fashionlab demo --out demo-out

test: $(STAMP)
	$(PY) -m pytest -n 2 tests

test-slow: $(STAMP)
	$(PY) -m pytest -m slow -v tests

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

bench: $(STAMP)
	$(PY) bench/bench_synth.py
	$(PY) bench/bench_loader.py

# trains the attribute network from scratch and measures it (about 25 minutes on 2 cores)
bench-models: $(STAMP)
	bash bench/attrnet_pipeline.sh bench-work

# retrains every shipped model from scratch with the commands their cards record (about 4 hours on 2 cores;
# resumable: run it again to continue); docs/models.md lists them
models: $(STAMP)
	bash bench/train_shipped_models.sh shipped-work

clean:
	rm -rf $(VENV) demo-out
