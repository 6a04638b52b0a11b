"""The bot's settings: the ``apps.support_bot`` section of core's settings (YAML, env or ``key=value``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from core.config import Settings, validation_problems
from core.errors import ConfigError

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared_data" / "support_bot"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Thresholds(_Section):
    """Calibrated on ``shared_data/support_bot/policy_val.jsonl`` by ``llmeco bot calibrate``."""

    faq_direct: float = 0.75  # similarity with an FAQ's question above which its answer is returned as is
    grounded: float = 0.35  # best dense similarity above which the chain may write an answer from passages
    intent_handoff: float = 0.60  # confidence of the human_agent intent that hands over at once
    intent_smalltalk: float = 0.60  # confidence of greeting/thanks intents answered without retrieval


class BotConfig(_Section):
    company: str = "Northpeak Outdoor"
    company_zh: str = "北峰户外"
    kb: str = "demo"
    embedding_model: str = "use-multilingual-v3"  # English + Chinese in one space
    intent_model: str | None = None  # None: the demo intent model trained by `llmeco bot setup`
    chat_model: str | None = None  # None: core's text.model; a Chinese-capable GGUF enables generated Chinese
    chinese_generation: bool | None = None  # None: on when chat_model is a registered Chinese-capable model
    store_url: str | None = None  # SQLAlchemy URL; None: SQLite under $LLMECO_HOME/support_bot/bot.db
    api_key: str | None = None  # when set, /api routes need "Authorization: Bearer <key>" or "X-API-Key"
    top_k: int = 4
    history_turns: int = 4  # earlier turns of a session given to the chain
    # Seconds a question waits for the chat model while it writes another answer; after that the bot quotes the
    # best passage instead, so latency stays bounded under load (one CPU model writes one answer at a time).
    generation_wait_s: float = 3.0
    max_upload_mb: int = 20
    thresholds: Thresholds = Thresholds()

    @classmethod
    def from_settings(cls, settings: Settings) -> BotConfig:
        try:
            return cls(**settings.apps.get("support_bot", {}))
        except ValidationError as exc:
            raise ConfigError(f"invalid apps.support_bot settings: {validation_problems(exc)}") from None


def bot_home(settings: Settings) -> Path:
    """Everything the bot persists (knowledge bases, intent model, SQLite store) lives here."""
    return settings.home / "support_bot"
