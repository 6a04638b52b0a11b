"""Deleted means gone from the bytes: with ``PRAGMA secure_delete`` SQLite zeroes deleted rows in the database file,
but the WAL still holds earlier images of those pages until it is checkpointed and truncated."""

from __future__ import annotations

import time

from sqlalchemy import Engine

from core.errors import LLMEcoError


def scrub(engine: Engine, tries: int = 20) -> None:
    """After a deletion on a ``secure_delete`` connection: copy the WAL into the database and truncate it. Readers
    in the middle of a transaction can hold the checkpoint back: retry briefly, then say so. Other databases: a
    no-op (PostgreSQL reclaims deleted rows with VACUUM)."""
    if engine.dialect.name != "sqlite":
        return
    for _ in range(tries):
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            cursor.close()
        finally:
            raw.close()
        if not busy:
            return
        time.sleep(0.1)
    raise LLMEcoError(
        f"{engine.url.database}: the deleted rows are gone from the tables, but readers kept the write-ahead log "
        "from being truncated, so old copies may remain in its -wal file; run the command again when it is idle"
    )
