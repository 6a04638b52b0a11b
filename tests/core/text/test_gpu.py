"""CUDA paths of the text engines (skipped without CUDA; `.ci/gpu` runs them on a GPU host): bf16 weights placed
by a device map, llama.cpp layers offloaded to the GPU, and vLLM reached through the remote engine."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from core.models import registry
from core.text import GenerationParams, load_text_engine
from tests.conftest import free_port, wait_until_serving

pytestmark = [pytest.mark.gpu, pytest.mark.slow]
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
SMOL = "smollm2-135m-instruct"


def on_cuda(settings):
    return settings.model_copy(update={"text": settings.text.model_copy(update={"device": "cuda"})})


def test_transformers_engine_loads_bf16_with_a_device_map(settings):
    engine = load_text_engine(SMOL, on_cuda(settings), engine="transformers")
    assert engine.device == "cuda" and engine.dtype == torch.bfloat16 and not engine.quantized
    assert {p.device.type for p in engine.model.parameters()} == {"cuda"}
    assert "Paris" in engine.chat(QUESTION, GenerationParams(max_new_tokens=32)).text


def test_llamacpp_engine_offloads_layers(settings):
    engine = load_text_engine(SMOL, on_cuda(settings), engine="llamacpp")
    try:
        assert engine.chat(QUESTION, GenerationParams(max_new_tokens=32)).completion_tokens > 0
    finally:
        engine.close()


def test_vllm_server_behind_the_remote_engine(settings):
    pytest.importorskip("vllm", reason="pip install '.[gpu]' for vLLM")
    folder = registry.resolve(SMOL, settings, "text-generation", dtype="bfloat16").path
    port = free_port()
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(folder),
           "--served-model-name", SMOL, "--port", str(port), "--gpu-memory-utilization", "0.3"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/health", proc, timeout=600)
        remote = settings.model_copy(
            update={"text": settings.text.model_copy(update={"remote_base_url": f"http://127.0.0.1:{port}/v1"})}
        )
        engine = load_text_engine(SMOL, remote)
        assert engine.engine_name == "remote"
        assert "Paris" in engine.chat(QUESTION, GenerationParams(max_new_tokens=32)).text
        assert len(list(engine.stream_chat(QUESTION, GenerationParams(max_new_tokens=32)))) > 3
    finally:
        proc.terminate()
        proc.wait(timeout=60)
