PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test bench clean

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

test: $(VENV)/.test
	$(BIN)/pytest

bench: $(VENV)/.runtime
	$(BIN)/python benchmarks/predict_speed.py

clean:
	rm -rf $(VENV) .pytest_cache
