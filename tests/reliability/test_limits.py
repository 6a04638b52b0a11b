"""Limits are settings with safe defaults, and going past one is a 4xx naming it: request body size, upload size,
KB file count, max_tokens, prompt length, speech input length, audio duration."""

from __future__ import annotations

import httpx
import pytest

from core.config import load_settings
from tests.conftest import ServerThread
from tests.reliability.probe import assert_alive

pytestmark = pytest.mark.slow


def test_body_over_the_server_limit_is_413_naming_it(settings):
    from core.serving.app import create_app
    from core.serving.pool import ModelPool

    small = load_settings(values={"server.max_body_mb": 0.01, "home": str(settings.home)})
    with ServerThread(create_app(small, ModelPool(small))) as srv:
        big = {"model": "x", "messages": [{"role": "user", "content": "x" * 20_000}]}
        response = httpx.post(f"{srv.url}/v1/chat/completions", json=big)
        assert response.status_code == 413
        assert "server.max_body_mb" in response.json()["error"]["message"]

        def endless():  # no Content-Length: the limit holds while the body streams in
            for _ in range(100):
                yield b"x" * 1024

        streamed = httpx.post(f"{srv.url}/v1/embeddings", content=endless())
        assert streamed.status_code == 413
        assert httpx.get(f"{srv.url}/health").status_code == 200


def test_max_tokens_and_prompt_length_limits(server_api):
    url = f"{server_api.url}/v1/chat/completions"
    over = httpx.post(url, json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**9})
    assert over.status_code == 400 and "server.max_tokens_limit" in over.json()["error"]["message"]
    assert over.json()["error"]["param"] == "max_tokens"
    long_prompt = {"messages": [{"role": "user", "content": "word " * 200_000}], "max_tokens": 1}
    too_long = httpx.post(url, json=long_prompt, timeout=300)
    assert too_long.status_code == 400 and "tokens" in too_long.json()["error"]["message"]
    assert_alive(server_api.url)


def test_speech_input_length_limit(server_api):
    response = httpx.post(f"{server_api.url}/v1/audio/speech", json={"input": "a" * 5000, "response_format": "wav"})
    assert response.status_code == 400 and "4096" in response.json()["error"]["message"]


def test_audio_duration_limit():
    import numpy as np

    from core.speech.audio import load_audio, wav_bytes

    tone = (0.3 * np.sin(np.arange(16000 * 3) * 2 * np.pi * 440 / 16000)).astype(np.float32)
    with pytest.raises(Exception, match="longer than the limit"):
        load_audio(wav_bytes(tone, 16000), "three-seconds.wav", max_duration_s=1)


def test_upload_size_and_kb_file_count_limits(bot_api, tiny_bot, monkeypatch):
    big = [("files", ("big.md", b"a" * (1024 * 1024 + 1), "text/markdown"))]
    too_big = httpx.post(f"{bot_api.url}/api/kb/sources", files=big)
    assert too_big.status_code == 413 and "apps.support_bot.max_upload_mb" in too_big.json()["detail"]
    monkeypatch.setattr(tiny_bot.config, "max_kb_files", 1)
    faq = [("files", ("more.csv", b"question,answer\nA?,B.\n", "text/csv"))]
    too_many = httpx.post(f"{bot_api.url}/api/kb/sources", files=faq)
    assert too_many.status_code == 413 and "apps.support_bot.max_kb_files" in too_many.json()["detail"]
    assert [s["id"] for s in httpx.get(f"{bot_api.url}/api/kb/sources").json()] == ["faq.csv"]


def test_message_length_limits(bot_api, writer_api):
    assert httpx.post(f"{bot_api.url}/api/chat", json={"message": "x" * 2001}).status_code == 422
    response = httpx.post(f"{writer_api.url}/api/readability", json={"text": "x" * 1_000_001}, timeout=60)
    assert response.status_code == 400 and "at most 1,000,000" in response.json()["error"]
