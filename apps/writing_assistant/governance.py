"""The writing assistant's stored data for ``llmeco data``: documents and all their versions (core/governance).
Documents belong to writers, not to a customer's session, so ``forget`` finds nothing here."""

from __future__ import annotations

from datetime import datetime

from apps.writing_assistant.store import DocumentStore
from core.config import Settings
from core.governance import StoreReport


class DocumentData:
    name = "writing_assistant"

    def __init__(self, store: DocumentStore) -> None:
        self.store = store

    def purge(self, before: datetime, anonymise: bool) -> StoreReport:
        return StoreReport(self.name, self.store.purge(before, anonymise))

    def forget(self, session_id: str | None, user_id: str | None) -> StoreReport:
        return StoreReport(self.name, {"documents": 0, "versions": 0})

    def database_url(self) -> str | None:
        return None


def data_stores(settings: Settings) -> list[DocumentData]:
    return [DocumentData(DocumentStore.for_settings(settings))]
