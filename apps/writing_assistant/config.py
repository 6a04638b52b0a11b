"""The writing assistant's settings: the ``apps.writing_assistant`` section of core's settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from core.config import Settings, validation_problems
from core.errors import ConfigError

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared_data" / "writing_assistant"


class WriterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = None  # None: the strongest chat model installed (core.models.registry.default_chat_model)
    tolerance: float = 0.15  # a draft's length must be within this share of the target
    max_length: int = 5000  # words (English) or characters (Chinese) a draft may ask for
    max_text_chars: int = 1_000_000  # longest text the checks and the store accept (a few MB of UTF-8)
    long_sentence_words: int = 35  # English sentences longer than this are flagged
    long_sentence_chars: int = 60  # Chinese sentences longer than this (characters) are flagged
    templates_dir: str | None = None  # extra user templates (YAML, one file a kind); None: $LLMECO_HOME/...
    api_key: str | None = None  # when set (or api_keys / LLMECO_API_KEYS), /api routes need a key
    rate_limit_per_minute: int = 0  # /api requests per minute per key (per client without keys); 0 = no limit
    max_request_mb: int = 25  # larger request bodies get a 413 (an uploaded document may be 20 MB)

    @classmethod
    def from_settings(cls, settings: Settings) -> WriterConfig:
        try:
            return cls(**settings.apps.get("writing_assistant", {}))
        except ValidationError as exc:
            raise ConfigError(f"invalid apps.writing_assistant settings: {validation_problems(exc)}") from None


def writer_home(settings: Settings) -> Path:
    """Everything the writing assistant persists (documents, user templates) lives here."""
    return settings.home / "writing_assistant"
