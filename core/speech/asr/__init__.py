"""Speech recognition: ``load_asr_engine`` loads a model (registered name, fine-tuned run or CTranslate2 folder)
on the configured engine."""

from __future__ import annotations

from core.config import Settings
from core.errors import ConfigError
from core.models import registry
from core.optional import reports_missing_packages
from core.speech.asr.base import ASREngine, Segment, TranscribeOptions, Transcript, Word
from core.speech.config import SpeechSettings

ENGINES = ("faster-whisper", "transformers", "openai-whisper")


@reports_missing_packages("speech-recognition model")
def load_asr_engine(model: str | None = None, settings: Settings | None = None, engine: str | None = None) -> ASREngine:
    """Load ``model`` (default ``apps.speech.asr_model``) on ``engine`` (default ``apps.speech.asr_engine``)."""
    settings = settings or Settings()
    s = SpeechSettings.from_settings(settings)
    model = model or s.asr_model
    chosen = engine or s.asr_engine
    if chosen == "faster-whisper":
        from core.speech.asr.faster_whisper_engine import FasterWhisperEngine

        path = registry.resolve(model, settings, "asr").path
        return FasterWhisperEngine(model, path, device=s.device, compute_type=s.compute_type, threads=s.threads)
    if chosen == "transformers":
        from core.speech.asr.convert import pytorch_form
        from core.speech.asr.transformers_engine import TransformersWhisperEngine

        return TransformersWhisperEngine(model, pytorch_form(model, settings), device=s.device)
    if chosen == "openai-whisper":
        from core.speech.asr.convert import openai_form
        from core.speech.asr.openai_whisper_engine import OpenAIWhisperEngine

        return OpenAIWhisperEngine(model, openai_form(model, settings), device=s.device)
    raise ConfigError(f"unknown speech-recognition engine {chosen!r}: use {', '.join(ENGINES)}")


def options_from(settings: Settings, **changes: object) -> TranscribeOptions:
    """Transcription options from ``apps.speech`` settings, with per-call ``changes`` (None = keep)."""
    s = SpeechSettings.from_settings(settings)
    base = {"beam_size": s.beam_size, "vad": s.vad, "denoise": s.denoise}
    return TranscribeOptions(**(base | {k: v for k, v in changes.items() if v is not None}))


__all__ = [
    "ENGINES",
    "ASREngine",
    "Segment",
    "TranscribeOptions",
    "Transcript",
    "Word",
    "load_asr_engine",
    "options_from",
]
