"""Data governance: retention (``purge``), forgetting one customer (``forget``), an append-only audit log,
backups of ``$LLMECO_HOME`` and training-data lineage.

App-agnostic: each app describes its stored data with :class:`DataStore` objects returned by
``apps/<name>/governance.py: data_stores(settings)``, so adding an app touches nothing here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass
class StoreReport:
    """What one store removed: counts per kind (rows or files) and, for ``forget``, the sessions it held."""

    store: str
    counts: dict[str, int]
    sessions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"store": self.store, "counts": self.counts, "sessions": self.sessions}


class DataStore(Protocol):
    """One app's stored personal data. Deletion must leave no trace in the store's files (SQLite:
    ``secure_delete`` plus a WAL checkpoint, see :func:`core.governance.sqlite.scrub`)."""

    name: str

    def purge(self, before: datetime, anonymise: bool) -> StoreReport:
        """Delete (or anonymise: unlink the person and redact the text) everything last active before ``before``."""
        ...

    def forget(self, session_id: str | None, user_id: str | None) -> StoreReport:
        """Delete everything of one session or of every session of one user."""
        ...

    def database_url(self) -> str | None:
        """A database outside ``$LLMECO_HOME`` (PostgreSQL) that a backup must dump; None when it is all files."""
        ...
