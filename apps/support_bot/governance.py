"""The support bot's stored data for ``llmeco data``: conversations with their messages, feedback, handoff tickets
and every other table that keeps a session's rows (core/governance), and the paraphrases its knowledge bases learned
from a session's questions."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from apps.support_bot.config import bot_home
from apps.support_bot.kb.knowledge_base import forget_sessions
from apps.support_bot.store import Store
from core.config import Settings
from core.governance import StoreReport
from core.governance.lineage import write_sources


class BotData:
    """The bot's store (SQLite under LLMECO_HOME, or PostgreSQL) and the knowledge bases under ``kb_dir`` as a
    :class:`core.governance.DataStore`."""

    name = "support_bot"

    def __init__(self, store: Store, kb_dir: Path | None = None) -> None:
        self.store = store
        self.kb_dir = kb_dir

    def purge(self, before: datetime, anonymise: bool) -> StoreReport:
        return StoreReport(self.name, self.store.purge(before, anonymise))

    def forget(self, session_id: str | None, user_id: str | None) -> StoreReport:
        """Also removes the paraphrases learned from those sessions (the customer's own words) from every knowledge
        base, and from a session the store no longer holds (purged earlier) when it is named."""
        counts, sessions = self.store.forget(session_id, user_id)
        if self.kb_dir is not None:
            linked = {*sessions, *([session_id] if session_id else [])}
            roots = sorted(p for p in self.kb_dir.iterdir() if p.is_dir()) if self.kb_dir.is_dir() else []
            counts["learned_paraphrases"] = sum(forget_sessions(root, linked) for root in roots)
        return StoreReport(self.name, counts, sessions)

    def database_url(self) -> str | None:
        return self.store.database_url()


def data_stores(settings: Settings) -> list[BotData]:
    return [BotData(Store.for_settings(settings), bot_home(settings) / "kb")]


def export_training(store: Store, output: Path, min_rating: int = 1) -> list[str]:
    """Write the rated answers as chat JSONL (one exchange per line, for `llmeco train --data`) with a sidecar naming
    the sessions they came from; returns those session ids. A run trained on the file records them (lineage)."""
    rows = store.rated_answers(min_rating)
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8") as f:
        for _, question, answer in rows:
            messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
            f.write(json.dumps({"messages": messages}, ensure_ascii=False) + "\n")
    sessions = sorted({session_id for session_id, _, _ in rows})
    write_sources(output, BotData.name, sessions)
    return sessions
