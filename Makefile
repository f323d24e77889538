# Both targets do all set-up on a fresh machine: they create .venv with pip when missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint setup clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch is pinned to the local CPU wheel; any other spec pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[capture,dev,ray]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/dojosim system compare dojo-v1 dgx-b200@3000
	$(BIN)/dojosim compare --workload fsd-video --out report.html

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard benchmarks)

test: $(STAMP) lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) build *.egg-info
