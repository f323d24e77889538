# Both targets do all set-up on a fresh machine: they create .venv with pip when missing.
# `make demo` installs only what the main job needs (torch, transformers); `make test` adds the dev tools and Ray.
# One stamp per install step, so `make test` after `make demo` installs the extras and nothing twice.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
MAIN_STAMP := $(VENV)/.installed-capture
TEST_STAMP := $(VENV)/.installed-dev-ray

.PHONY: demo test lint setup browser clean

$(MAIN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch is pinned to the local CPU wheel; any other spec pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[capture]"
	touch $@

$(TEST_STAMP): $(MAIN_STAMP)
	$(BIN)/python -m pip install -q -e ".[capture,dev,ray]"
	touch $@

setup: $(TEST_STAMP)

# The main job; what it writes goes under out/ (git-ignored).
demo: $(MAIN_STAMP)
	mkdir -p out
	$(BIN)/dojosim system compare dojo-v1 dgx-b200@3000
	$(BIN)/dojosim compare --model fsd-video --out out/report.html

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests $(wildcard benchmarks)

# The report's browser test needs Debian's chromium; installed here when we may (root with apt-get),
# otherwise that test skips and says how to install it.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ; } || \
	  echo "note: no chromium; the report's browser test will skip (apt-get install chromium)"

test: $(TEST_STAMP) lint browser
	$(BIN)/pytest

clean:
	rm -rf $(VENV) build *.egg-info
