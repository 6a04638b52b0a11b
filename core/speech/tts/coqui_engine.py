"""Coqui TTS, a remote engine: coqui-tts cannot share this environment's torch (see ``coqui_server.py``), so it runs
in ``.venv-coqui`` as a small OpenAI-style server at ``apps.speech.coqui_url`` and this engine is its client.
Sentences, pauses and the SSML subset are handled here as for every engine; each sentence is one request carrying
its voice and speed (the server maps speed to VITS's length scale)."""

from __future__ import annotations

import numpy as np

from core.errors import InvalidRequestError, ModelNotAvailableError
from core.speech.audio import read_wav
from core.speech.tts.base import TTSEngine

START = "`make coqui-serve` (or `.venv-coqui/bin/python core/speech/tts/coqui_server.py --port 5002`)"
MAX_SPEED = 4.0  # OpenAI's range, which the server enforces; SSML rates times --speed can exceed it


class CoquiEngine(TTSEngine):
    name = "coqui"

    def __init__(self, url: str, voice: str | None = None, timeout_s: float = 120.0):
        import httpx

        self.url = url.rstrip("/")
        self.client = httpx.Client(base_url=self.url, timeout=timeout_s)
        info = self._request("GET", "/health").json()
        self.model, self.sample_rate, self._voices = info["model"], int(info["sample_rate"]), list(info["voices"])
        self.default_voice = voice or self._voices[0]

    def _request(self, method: str, route: str, **kwargs):
        import httpx

        try:
            response = self.client.request(method, route, **kwargs)
        except httpx.TransportError as exc:
            raise ModelNotAvailableError(
                f"the Coqui TTS server at {self.url} is not running ({type(exc).__name__}): start it with {START} "
                "or point apps.speech.coqui_url at one"
            ) from None
        if response.status_code != 200:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = f"HTTP {response.status_code}: {response.text[:200]}"
            raise InvalidRequestError(f"Coqui TTS server at {self.url}: {message}")
        return response

    def _speak(self, sentence: str, voice: str, speed: float) -> np.ndarray:
        body = {"input": sentence, "voice": voice, "speed": min(speed, MAX_SPEED), "response_format": "wav"}
        audio, rate = read_wav(self._request("POST", "/v1/audio/speech", json=body).content)
        if rate != self.sample_rate:
            raise InvalidRequestError(
                f"Coqui TTS server answered at {rate} Hz, not the {self.sample_rate} it announced"
            )
        return audio

    def voices(self) -> list[str]:
        return list(self._voices)
