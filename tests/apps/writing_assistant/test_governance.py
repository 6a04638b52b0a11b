"""Retention of documents (every version deleted from the file's bytes, or anonymised) and audited document reads
and exports over the REST API and in the web UI."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import gradio as gr
from fastapi.testclient import TestClient

from apps.writing_assistant.api import create_api
from apps.writing_assistant.store import DocumentStore
from core.governance.audit import AuditLog

MARK = "okapi-5521-narwhal"
EMAIL = "li.wei@example.com"


def _raw(path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def _age(path, doc_id: int, days: int) -> None:
    when = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat(timespec="seconds")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE documents SET updated_at = ? WHERE id = ?", (when, doc_id))


def test_purge_deletes_old_documents_to_the_bytes_or_anonymises_them(tmp_path):
    path = tmp_path / "documents.db"
    store = DocumentStore(path)
    old = store.create(f"Letter to {EMAIL}", f"Dear customer, {MARK}.", "en")
    store.save(old.id, f"Dear customer, {MARK}, write to {EMAIL}.")
    new = store.create("Recent", "Fresh text.", "en")
    _age(path, old.id, 100)
    before = datetime.now(timezone.utc) - timedelta(days=90)

    assert store.purge(before, anonymise=True) == {"documents": 1, "versions": 2}
    assert store.get(old.id).title == "Letter to [EMAIL]" and EMAIL not in store.get(old.id).text
    assert MARK in store.get(old.id).text  # anonymised: the text stays, the personal data goes

    assert store.purge(before) == {"documents": 1, "versions": 2}
    assert [d["id"] for d in store.list()] == [new.id]
    assert MARK.encode() not in _raw(path)  # secure_delete + checkpoint: gone from the file and its WAL
    store.close()


def test_document_reads_and_exports_are_audited(lazy_writer, tmp_path):
    store = DocumentStore(tmp_path / "documents.db")
    client = TestClient(create_api(lazy_writer, store))
    doc = client.post("/api/documents", json={"title": "Plan", "text": "Step one."}).json()
    log = AuditLog.for_settings(lazy_writer.settings)
    seen = len(log.entries())
    client.get(f"/api/documents/{doc['id']}")
    client.get(f"/api/documents/{doc['id']}/versions")
    assert client.post(f"/api/documents/{doc['id']}/export", json={"format": "txt"}).status_code == 200
    new = log.entries()[seen:]
    assert [(e.action, e.kind, e.target) for e in new] == [
        ("read", "document", str(doc["id"])),
        ("read", "document", str(doc["id"])),
        ("export", "document", str(doc["id"])),
    ]
    assert new[2].detail == {"format": "txt"} and new[0].actor == "client:testclient"
    store.close()


def test_ui_exports_are_audited_with_the_ui_user(lazy_writer, tmp_path):
    from apps.writing_assistant.ui import export_file
    from core.governance.ui_cache import cache_dir

    settings = lazy_writer.settings
    store = DocumentStore(tmp_path / "documents.db")
    doc = store.create("Plan", "Step one.", "en")
    log = AuditLog.for_settings(settings)
    seen = len(log.entries())
    no_suggestions = {"original": "", "suggestions": [], "accepted": []}
    path = Path(
        export_file(settings, store, "Step one.", doc.id, no_suggestions, "txt", "Plan", gr.Request(username="ed"))
    )
    assert "Step one." in path.read_text(encoding="utf-8")
    assert path.is_relative_to(cache_dir(settings))  # Gradio's cache under LLMECO_HOME, which expires
    export_file(settings, store, "Never saved.", None, no_suggestions, "md", "Draft")  # nothing stored was read
    new = log.entries()[seen:]
    assert [(e.actor, e.action, e.kind, e.target, e.detail) for e in new] == [
        ("ui:ed", "export", "document", str(doc.id), {"format": "txt"})
    ]
    store.close()
