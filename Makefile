PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint chromium bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The runtime install has no torch: onnxruntime, tokenizers, numpy, trafilatura, fastapi, rich.
$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# Tests also train a tiny model, so they need the [train] extra (torch CPU build).
$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.runtime
	$(BIN)/propscope analyze examples/article.txt

test: lint chromium
	$(BIN)/pytest

# Type and lint errors fail the build before any test runs.
lint: $(VENV)/.test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

# The browser tests drive Debian's Chromium: installed here when running as root, else explained.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "The browser tests need Chromium: run 'sudo apt-get install chromium' (Debian/Ubuntu) and try again." >&2; \
	    exit 1; \
	  fi; }

bench: $(VENV)/.runtime
	$(BIN)/python benchmarks/predict_speed.py

clean:
	rm -rf $(VENV) .pytest_cache
