# Two commands on a fresh machine: `make demo` and `make test` (each sets up first).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup browser demo test lint bench clean

setup: $(STAMP)

# torch==2.13.0 first: it is the CPU build on disk; anything else pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,ray]'  # ray: the Ray executor test runs in make test
	$(BIN)/python -c "import fasttext; assert hasattr(fasttext, 'train_supervised'), 'fasttext module clash'"
	touch $(STAMP)

demo: setup
	HF_HUB_OFFLINE=1 $(BIN)/huijin demo

# Headless Chromium for the catalog viewer's browser test (tests/test_web_viewer.py): Debian's chromium and
# chromium-driver (no browser download at run time), installed once when we are root with apt; anywhere else
# that test skips and says why. Idempotent: nothing happens when chromedriver is already there.
browser:
	@command -v chromedriver >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	  chromium-driver >/dev/null; } || echo "note: no chromium/chromedriver: the browser tests will skip"

test: setup browser
	$(BIN)/ruff check .
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not slow" tests

lint: setup
	$(BIN)/ruff check .

# every bench but the 3-seed ablation (about 45 minutes: run `python bench/ablation.py` on its own)
bench: setup
	@for b in bench/*.py; do [ $$b = bench/ablation.py ] && continue; echo "== $$b"; HF_HUB_OFFLINE=1 $(BIN)/python $$b || exit 1; done

clean:
	rm -rf huijin-store demo-work .pytest_cache
