"""Speech synthesis: ``load_tts_engine`` picks an engine by name (default ``apps.speech.tts_engine``)."""

from __future__ import annotations

from core.config import Settings
from core.errors import ConfigError
from core.optional import reports_missing_packages
from core.speech.config import SpeechSettings
from core.speech.tts.base import SpeechOptions, TTSEngine, parse_input, split_sentences

ENGINES = ("piper", "espeak", "coqui")


@reports_missing_packages("speech-synthesis engine")
def load_tts_engine(engine: str | None = None, settings: Settings | None = None, voice: str | None = None) -> TTSEngine:
    """Load ``engine`` with ``voice`` as its default voice (None: ``apps.speech.tts_voice`` or the engine's)."""
    settings = settings or Settings()
    s = SpeechSettings.from_settings(settings)
    chosen = engine or s.tts_engine
    voice = voice or (s.tts_voice if chosen == s.tts_engine else None)
    if chosen == "piper":
        from core.speech.tts.piper_engine import PiperEngine

        return PiperEngine(settings, voice)
    if chosen == "espeak":
        from core.speech.tts.espeak_engine import EspeakEngine

        return EspeakEngine(voice)
    if chosen == "coqui":
        from core.speech.tts.coqui_engine import CoquiEngine

        return CoquiEngine(s.coqui_url, voice)
    raise ConfigError(f"unknown speech-synthesis engine {chosen!r}: use {' or '.join(ENGINES)}")


def speech_options(settings: Settings, **changes: object) -> SpeechOptions:
    """Synthesis options from ``apps.speech`` settings, with per-call ``changes`` (None = keep)."""
    base = {"sentence_pause_s": SpeechSettings.from_settings(settings).sentence_pause_s}
    return SpeechOptions(**(base | {k: v for k, v in changes.items() if v is not None}))


__all__ = [
    "ENGINES",
    "SpeechOptions",
    "TTSEngine",
    "load_tts_engine",
    "parse_input",
    "speech_options",
    "split_sentences",
]
