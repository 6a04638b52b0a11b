"""The speech studio's own REST API (`llmeco speech serve`, the speech-studio container): health, a transcription
of a real clip, a synthesis, and a bad request answered with a clear error."""

from __future__ import annotations

import io
import sys
import wave

import httpx
import pytest
from fastapi.testclient import TestClient

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
    assert r.json() == {
        "status": "ok",
        "asr_model": speech.asr_model,
        "tts_engine": speech.tts_engine,
        "loaded": [],
        "failed": {},
    }


def test_health_names_the_models_that_failed_to_load(settings, tmp_path, monkeypatch):
    """A corrupt CTranslate2 file and the ASR engine's package missing: each transcription answers 503 naming the
    model and why, /health stays 200 (synthesis still works) but is "degraded" and lists both (not a wrong name)."""
    corrupt = tmp_path / "whisper-corrupt"
    corrupt.mkdir()
    (corrupt / "model.bin").write_bytes(b"not a CTranslate2 model " * 8)
    client = TestClient(create_api(settings))
    clip = audioeval_clips("en") / "quick_brown_fox.wav"

    def transcribe(model: str):
        return client.post(
            "/v1/audio/transcriptions", files={"file": (clip.name, clip.read_bytes())}, data={"model": model}
        )

    broken = transcribe(str(corrupt))
    assert broken.status_code == 503 and str(corrupt) in broken.json()["error"], broken.text
    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # the faster-whisper package cannot be imported
    missing = transcribe("whisper-1")
    assert missing.status_code == 503 and "pip install faster-whisper" in missing.json()["error"], missing.text
    assert transcribe("no-such-model").status_code == 400  # the caller's mistake: not a failure to list
    spoken = client.post("/v1/audio/speech", json={"input": "Still here.", "model": "espeak", "response_format": "wav"})
    assert spoken.status_code == 200 and spoken.headers["content-type"] == "audio/wav"

    health = client.get("/health")
    assert health.status_code == 200
    body = health.json()
    asr_model = SpeechSettings.from_settings(settings).asr_model
    assert body["status"] == "degraded" and body["loaded"] == ["espeak"], body
    assert body["failed"] == {str(corrupt): broken.json()["error"], asr_model: missing.json()["error"]}


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
