"""The bot's settings: the ``apps.support_bot`` section of core's settings (YAML, env or ``key=value``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from core.config import Settings, validation_problems
from core.errors import ConfigError

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared_data" / "support_bot"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Thresholds(_Section):
    """Set per knowledge base and language when it is ingested (``apps.support_bot.selfcal``), or on labelled
    questions by ``llmeco bot calibrate --data``; values given here override both."""

    faq_direct: float = 0.75  # similarity with an FAQ's question above which its answer is returned as is
    grounded: float = 0.35  # best text similarity above which passages may answer (generated or quoted)
    suggest: float = 0.30  # best score above which a clarifying reply offers the closest FAQ questions as choices
    intent_handoff: float = 0.60  # confidence of the human_agent intent that hands over at once
    intent_smalltalk: float = 0.60  # confidence of greeting/thanks intents answered without retrieval


class BotConfig(_Section):
    # Persona: None / empty takes the knowledge base's profile (`llmeco bot ingest --company`) and its content.
    company: str | None = None
    company_zh: str | None = None
    topics: list[str] = []  # what the bot can help with; empty: the KB's categories, titles or common words
    topics_zh: list[str] = []
    # Text templates per language ({"en": ..., "zh": ...}) with {company}, {topics} (and {ticket} for handoff).
    greeting: dict[str, str] = {}
    clarify: dict[str, str] = {}
    choices: dict[str, str] = {}  # the clarifying reply that offers the closest FAQ questions
    handoff: dict[str, str] = {}
    kb: str = "demo"
    embedding_model: str = "use-multilingual-v3"  # English + Chinese in one space
    # English queries on English entries: an English-strong encoder (StackFAQ hit@1 95.8 vs 65.2 with USE alone).
    english_embedding_model: str | None = "all-minilm-l6-v2"
    intent_model: str | None = None  # None: the demo intent model trained by `llmeco bot setup`
    chat_model: str | None = None  # None: core's text.model; a Chinese-capable GGUF enables generated Chinese
    chinese_generation: bool | None = None  # None: on when chat_model is a registered Chinese-capable model
    # Write answers from passages with the chat model: "auto" only when the model writes the language and is not
    # smaller than min_generation_mb (SmolLM2-135M, 98 MB: 1 of 17 passage answers in the support-bot load test
    # passed the grounding checks, the rest were quoted after seconds of generation); "always" / "never".
    generation: Literal["auto", "always", "never"] = "auto"
    min_generation_mb: int = 300
    # Self-calibration at ingest: the answer threshold keeps wrong FAQ answers at most this share of answers on
    # the KB's own calibration questions.
    max_wrong_answers: float = 0.05
    store_url: str | None = None  # SQLAlchemy URL; None: SQLite under $LLMECO_HOME/support_bot/bot.db
    api_key: str | None = None  # when set, /api routes need "Authorization: Bearer <key>" or "X-API-Key"
    rate_limit_per_minute: int = 0  # /api requests per minute per key (per client without keys); 0 = no limit
    max_request_mb: int = 100  # larger request bodies get a 413 (a KB upload may carry several files)
    max_kb_files: int = 500  # sources a knowledge base may hold; an upload beyond it gets a 413
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
