"""Piper (ONNX voices, the default engine): the embedded English voice, or any registered Piper voice or
``.onnx`` file. Speed maps to Piper's length scale (1 / speed)."""

from __future__ import annotations

import numpy as np

from core.config import Settings
from core.errors import InvalidRequestError
from core.models import registry
from core.speech.text import has_cjk
from core.speech.tts.base import TTSEngine

DEFAULT_VOICE = "piper-en-us-joe-medium"


class PiperEngine(TTSEngine):
    name = "piper"

    def __init__(self, settings: Settings, voice: str | None = None):
        self.settings = settings
        self.default_voice = voice or DEFAULT_VOICE
        self._voices: dict = {}
        self.sample_rate = self._voice(self.default_voice).config.sample_rate

    def _voice(self, name: str):
        from piper import PiperVoice

        if name not in self._voices:
            files = registry.resolve(name, self.settings, "tts")
            self._voices[name] = PiperVoice.load(str(files.path), config_path=files.config)
        return self._voices[name]

    def _speak(self, sentence: str, voice: str, speed: float) -> np.ndarray:
        from piper import SynthesisConfig

        if has_cjk(sentence):
            raise InvalidRequestError(
                f"the Piper voice {voice!r} speaks English only; use the espeak engine for Chinese (--engine espeak)"
            )
        v = self._voice(voice)
        if v.config.sample_rate != self.sample_rate:
            raise InvalidRequestError(f"voice {voice!r} has another sample rate; load it as the default voice")
        chunks = [c.audio_float_array for c in v.synthesize(sentence, SynthesisConfig(length_scale=1.0 / speed))]
        return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)

    def voices(self) -> list[str]:
        return [s.name for s in registry.all_specs() if s.task == "tts"]
