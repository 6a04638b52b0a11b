"""Backups of LLMECO_HOME: a consistent copy of SQLite files in use, a checksummed manifest, a restore that brings
the home back exactly (but never rolls back the audit log) and refuses corrupt or partial backups."""

import json
import sqlite3

import pytest

from core.errors import InvalidRequestError
from core.governance.audit import AuditLog
from core.governance.backup import MANIFEST, BackupError, backup, restore, verify
from tests.conftest import settings_in


@pytest.fixture
def home(tmp_path):
    """A home with a SQLite store holding uncheckpointed rows (still in its WAL), a knowledge-base file, the model
    registry and the models link (a cache the backup leaves out)."""
    (tmp_path / "home").mkdir()
    settings = settings_in(tmp_path / "home")
    db = settings.home / "support_bot" / "bot.db"
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE messages (text TEXT)")
    conn.executemany("INSERT INTO messages VALUES (?)", [("keep me",), ("forget me",)])
    conn.commit()
    (settings.home / "support_bot" / "kb" / "demo").mkdir(parents=True)
    (settings.home / "support_bot" / "kb" / "demo" / "entries.jsonl").write_text('{"q": "hours?"}\n')
    (settings.home / "registered_models.json").write_text('{"bot": {"active": 1}}')
    AuditLog.for_settings(settings).record("cli:ann", "read", "conversation", "s1")
    yield settings, db
    conn.close()


def _texts(db) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [t for (t,) in conn.execute("SELECT text FROM messages ORDER BY rowid")]


def test_round_trip_restores_the_home(home, tmp_path):
    settings, db = home
    assert db.with_name("bot.db-wal").stat().st_size > 0  # the rows are in the WAL, not yet in bot.db
    summary = backup(settings, tmp_path / "bk")
    manifest = verify(tmp_path / "bk")
    assert set(manifest["files"]) == {
        "home/support_bot/bot.db",
        "home/support_bot/kb/demo/entries.jsonl",
        "home/registered_models.json",
        "home/governance/audit.db",
    }
    assert summary.files == 4  # not the model cache (home/models)
    with sqlite3.connect(db) as conn:  # forget a row, add a file: the restore undoes both
        conn.execute("DELETE FROM messages WHERE text = 'forget me'")
    (settings.home / "stray.txt").write_text("not in the backup")
    restore(settings, tmp_path / "bk")
    assert _texts(db) == ["keep me", "forget me"]
    assert not (settings.home / "stray.txt").exists()
    assert (settings.home / "models").is_symlink()  # the model cache is left alone
    actions = [e.action for e in AuditLog.for_settings(settings).entries()]
    assert actions == ["read", "export", "restore"]  # the audit log was kept, not rolled back to the backup's


def test_corrupt_or_partial_backups_are_refused(home, tmp_path):
    settings, db = home
    backup(settings, tmp_path / "bk")
    with pytest.raises(InvalidRequestError, match="not an empty folder"):
        backup(settings, tmp_path / "bk")
    entries = tmp_path / "bk" / "home" / "support_bot" / "kb" / "demo" / "entries.jsonl"
    entries.write_text('{"q": "hours!"}\n')  # same size, different bytes
    (settings.home / "registered_models.json").write_text("{}")
    with pytest.raises(BackupError, match="corrupt or partial, nothing was restored: .*entries.jsonl: checksum"):
        restore(settings, tmp_path / "bk")
    assert (settings.home / "registered_models.json").read_text() == "{}"  # untouched
    entries.unlink()
    with pytest.raises(BackupError, match="entries.jsonl: missing"):
        verify(tmp_path / "bk")
    manifest = json.loads((tmp_path / "bk" / MANIFEST).read_text())
    (tmp_path / "bk" / MANIFEST).write_text(json.dumps(manifest)[:-20])
    with pytest.raises(BackupError, match="damaged"):
        verify(tmp_path / "bk")
    (tmp_path / "bk" / MANIFEST).unlink()
    with pytest.raises(BackupError, match="did not finish"):
        restore(settings, tmp_path / "bk")
