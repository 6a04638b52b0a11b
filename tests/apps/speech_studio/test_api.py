"""The speech studio's own REST API (`llmeco speech serve`, the speech-studio container): health, a transcription
of a real clip, a synthesis, and a bad request answered with a clear error."""

from __future__ import annotations

import io
import wave

import httpx
import pytest

from apps.speech_studio.api import create_api
from core.speech.config import SpeechSettings
from tests.conftest import ServerThread
from tests.core.speech.conftest import audioeval_clips

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def studio(settings):
    with ServerThread(create_api(settings)) as server:
        yield server.url


def test_health_names_the_configured_engines(studio, settings):
    speech = SpeechSettings.from_settings(settings)
    r = httpx.get(f"{studio}/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "asr_model": speech.asr_model, "tts_engine": speech.tts_engine}


def test_transcription_and_synthesis(studio):
    clip = audioeval_clips("en") / "quick_brown_fox.wav"
    r = httpx.post(f"{studio}/v1/audio/transcriptions", files={"file": (clip.name, clip.read_bytes())}, timeout=120)
    assert r.status_code == 200, r.text
    assert "brown fox" in r.json()["text"].lower()
    r = httpx.post(f"{studio}/v1/audio/speech", json={"input": "Your order is on its way.", "response_format": "wav"})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(r.content)) as w:
        assert w.getnframes() / w.getframerate() > 0.5


def test_bad_requests_get_clear_errors(studio):
    r = httpx.post(f"{studio}/v1/audio/transcriptions", files={"file": ("notes.wav", b"not audio")}, timeout=60)
    assert r.status_code == 400 and "error" in r.json()
    r = httpx.post(f"{studio}/v1/audio/speech", json={"input": "Hi", "model": "no-such-voice"})
    assert r.status_code == 400 and "no-such-voice" in r.json()["error"]
