"""The audit log: entries in order, filtered by time, and append-only in the database itself."""

import hashlib
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from starlette.requests import Request

from core.errors import InvalidRequestError
from core.governance.audit import APPEND_ONLY, AuditLog, default_url, record, request_actor
from tests.conftest import settings_in


@pytest.fixture
def home_settings(tmp_path):
    return settings_in(tmp_path)


def test_entries_in_order_and_since(home_settings):
    record(home_settings, "cli:ann", "promote", "model", "support-bot", {"version": 3})
    log = AuditLog.for_settings(home_settings)
    log.record("key:abc", "read", "conversation", "s1")
    entries = log.entries()
    assert [(e.actor, e.action, e.kind, e.target) for e in entries] == [
        ("cli:ann", "promote", "model", "support-bot"),
        ("key:abc", "read", "conversation", "s1"),
    ]
    assert entries[0].detail == {"version": 3}
    assert log.entries(since=datetime.now(timezone.utc) + timedelta(seconds=1)) == []
    assert len(log.entries(since=datetime.now(timezone.utc) - timedelta(minutes=1))) == 2
    assert [e.target for e in log.entries(limit=1)] == ["s1"]
    with pytest.raises(InvalidRequestError, match="audit action"):
        log.record("cli", "edit", "conversation", "s1")


def test_update_and_delete_are_refused_by_the_database(home_settings):
    log = AuditLog.for_settings(home_settings)
    log.record("cli:ann", "export", "conversations", "out.jsonl")
    path = default_url(home_settings).removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:  # the raw file, bypassing the code: the triggers still hold
        for statement in ("UPDATE audit_log SET actor = 'nobody'", "DELETE FROM audit_log"):
            with pytest.raises(sqlite3.IntegrityError, match=APPEND_ONLY):
                conn.execute(statement)
        conn.execute("INSERT INTO audit_log (at, actor, action, kind, target) VALUES ('x', 'a', 'read', 'k', 't')")
    assert [e.actor for e in log.entries()] == ["cli:ann", "a"]


def _request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "headers": raw, "client": ("10.0.0.7", 5000)})


def test_request_actor_names_the_key_without_logging_it():
    actor = request_actor(_request({"Authorization": "Bearer s3cret-key"}))
    assert actor == f"key:{hashlib.sha256(b's3cret-key').hexdigest()[:12]}"
    assert request_actor(_request({"X-API-Key": "s3cret-key"})) == actor
    assert request_actor(_request({})) == "client:10.0.0.7"
