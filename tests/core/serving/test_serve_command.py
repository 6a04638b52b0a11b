"""`llmeco serve` as a user starts it: the real command and its model pool load a second and a third model by
name on demand and unload the least recently used one beyond `server.max_loaded_models`; a default model that
cannot load leaves it serving the others."""

from __future__ import annotations

import sys

import httpx
import pytest

from tests.conftest import serving

pytestmark = pytest.mark.slow
SMOL, QWEN_S, QWEN_L = "smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"


SERVE = [sys.executable, "-m", "apps.cli", "serve"]


@pytest.fixture(scope="module")
def served():
    with serving([*SERVE, "--model", SMOL, "--engine", "llamacpp", "server.max_loaded_models=2"]) as url:
        yield url


def ask(url: str, model: str) -> str:
    body = {"model": model, "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 4}
    r = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=300)
    assert r.status_code == 200, r.text
    assert r.json()["model"] == model
    return r.json()["choices"][0]["message"]["content"]


def loaded(url: str) -> list[str]:
    return httpx.get(f"{url}/health", timeout=10).json()["loaded"]


def test_models_load_on_demand_and_the_least_recently_used_is_evicted(served):
    assert loaded(served) == [SMOL]  # the default model, loaded at start
    ask(served, QWEN_S)  # a second model, by name, on demand
    assert loaded(served) == [SMOL, QWEN_S]
    ask(served, SMOL)  # SmolLM2 is now the most recently used
    ask(served, QWEN_L)  # over the limit of two: the 0.5B model, least recently used, goes
    assert loaded(served) == [SMOL, QWEN_L]
    assert QWEN_S in {m["id"] for m in httpx.get(f"{served}/v1/models", timeout=10).json()["data"]}  # still servable


def test_a_default_model_that_cannot_load_leaves_the_server_up_and_degraded(tmp_path):
    """The start-up load fails (a corrupt GGUF): the server still starts, /health names the model and why, and the
    other models serve."""
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + bytes(range(256)) * 8)
    with serving([*SERVE, "--model", str(broken)]) as url:
        health = httpx.get(f"{url}/health", timeout=10).json()
        assert health["status"] == "degraded" and list(health["failed"]) == [str(broken)], health
        assert "could not load" in health["failed"][str(broken)]
        assert ask(url, SMOL)  # another model, by name
