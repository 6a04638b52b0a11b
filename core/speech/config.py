"""Speech settings: the ``apps.speech`` section of core's settings (YAML, env ``LLMECO_APPS__SPEECH__...`` or
``apps.speech.asr_model=whisper-base``), validated here so speech adds nothing to ``core/config.py``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from core.config import Settings, validation_problems
from core.errors import ConfigError


class SpeechSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    asr_model: str = "whisper-tiny.en"
    asr_engine: Literal["faster-whisper", "transformers", "openai-whisper"] = "faster-whisper"
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    compute_type: str = "auto"  # auto: int8 on CPU, float16 on CUDA (CTranslate2 names)
    threads: int = 0  # CPU threads for CTranslate2; 0 = its default (all cores)
    beam_size: int = 5
    vad: bool = True  # Silero VAD (bundled with faster-whisper): silence and noise give no text
    denoise: bool = False  # spectral gating (noisereduce) before recognition
    max_duration_s: float = 4 * 3600.0  # longer inputs are refused with an error naming the file
    tts_engine: Literal["piper", "espeak", "coqui"] = "piper"
    tts_voice: str | None = None  # None: the engine's default (piper: piper-en-us-joe-medium; espeak: en-us)
    coqui_url: str = "http://127.0.0.1:5002"  # the Coqui TTS server (`make coqui-serve`, its own environment)
    sentence_pause_s: float = 0.25  # silence between sentences

    @classmethod
    def from_settings(cls, settings: Settings) -> SpeechSettings:
        try:
            return cls(**settings.apps.get("speech", {}))
        except ValidationError as exc:
            raise ConfigError(f"invalid apps.speech settings: {validation_problems(exc)}") from None
