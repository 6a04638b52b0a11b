"""The document store: versions, undo as a new version, bad input rejected with nothing lost, secure delete."""

from __future__ import annotations

import sqlite3

import pytest

from apps.writing_assistant.store import DocumentStore, NotFoundError
from core.errors import InvalidRequestError


@pytest.fixture
def store(tmp_path):
    s = DocumentStore(tmp_path / "documents.db", max_text_chars=100_000)
    yield s
    s.close()


def test_versions_undo_and_restore(store):
    doc = store.create("Heater", "Dear landlord, the heater is broken.", "en", "email")
    store.save(doc.id, "Dear landlord, the heater has been broken since Monday.", "accepted 1 suggestion")
    store.save(doc.id, "Dear Ms Lee, the heater has been broken since Monday.", "edited")
    undone = store.undo(doc.id)
    assert undone.version == 4 and undone.text == "Dear landlord, the heater has been broken since Monday."
    again = store.undo(doc.id)  # undo walks further back
    assert again.text == "Dear landlord, the heater is broken." and again.version == 5
    with pytest.raises(InvalidRequestError, match="nothing to undo"):
        store.undo(doc.id)
    notes = [v.note for v in store.versions(doc.id)]
    assert notes == ["created", "accepted 1 suggestion", "edited", "undo: back to version 2", "undo: back to version 1"]
    assert store.restore(doc.id, 3).text.startswith("Dear Ms Lee")
    assert store.list()[0]["versions"] == 6


def test_bad_input_loses_nothing(store):
    doc = store.create("通知", "本周六上午停水。", "zh", "notice")
    with pytest.raises(InvalidRequestError, match="at most 100,000"):
        store.save(doc.id, "字" * 3_000_000)
    with pytest.raises(InvalidRequestError, match="language must be en or zh"):
        store.create("x", "y", "fr")
    with pytest.raises(NotFoundError):
        store.save(999, "text")
    assert store.get(doc.id).text == "本周六上午停水。" and store.get(doc.id).version == 1


def test_delete_overwrites_the_text_on_disk(store, tmp_path):
    doc = store.create("secret", "the launch code is zebra-42-orchid", "en")
    store.delete(doc.id)
    with pytest.raises(NotFoundError):
        store.get(doc.id)
    store.close()
    with sqlite3.connect(tmp_path / "documents.db") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("documents.db"))
    assert b"zebra-42-orchid" not in raw
