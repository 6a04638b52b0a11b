"""``llmeco data ...`` as real subprocesses: a backup, a forgotten session, the restore that brings it back, the
audit log of all three, and a one-line error for a corrupt backup. Every app's stores, and the schedule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from apps.cli import app
from apps.support_bot.store import Store
from core.config import load_settings
from core.errors import InvalidRequestError
from core.governance import retention
from core.governance.audit import AuditLog
from tests.conftest import settings_in

LLMECO = [sys.executable, "-c", "from apps.cli import main; main()"]


def test_backup_forget_restore_round_trip_and_audit(tmp_path):
    (tmp_path / "home").mkdir()
    settings = settings_in(tmp_path / "home")
    store = Store.for_settings(settings)
    store.add_message("s-1", "user", "my order 4471 is late", user_id="cust-1")
    store.add_message("s-2", "user", "another customer")
    store.close()
    env = {**os.environ, "LLMECO_HOME": str(settings.home)}

    def data(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*LLMECO, "data", *args], capture_output=True, text=True, timeout=300, env=env)

    backup = tmp_path / "backup"
    assert data("backup", "--output", str(backup)).returncode == 0
    forgot = data("forget", "--user", "cust-1", "--json")
    report = json.loads(forgot.stdout)
    bot = next(s for s in report["stores"] if s["store"] == "support_bot")
    assert bot["sessions"] == ["s-1"] and bot["counts"]["messages"] == 1 and report["runs"] == {}
    assert Store.for_settings(settings).history("s-1") == []
    assert data("restore", str(backup)).returncode == 0
    assert [m.text for m in Store.for_settings(settings).history("s-1")] == ["my order 4471 is late"]
    shown = CliRunner().invoke(app, ["data", "audit", "--json"], env={"LLMECO_HOME": str(settings.home)})
    audit = json.loads(shown.output)
    assert [(e["action"], e["target"]) for e in audit] == [
        ("export", str(backup)),
        ("forget", "user:cust-1"),
        ("restore", str(backup)),
    ]
    assert all(e["actor"].startswith("cli") for e in audit)
    home_env = {"LLMECO_HOME": str(settings.home)}
    later = CliRunner().invoke(app, ["data", "audit", "--since", "2999-01-01", "--json"], env=home_env)
    assert json.loads(later.output) == []
    bad = CliRunner().invoke(app, ["data", "audit", "--since", "yesterday"], env=home_env)
    assert isinstance(bad.exception, InvalidRequestError) and "--since takes a date" in str(bad.exception)

    db = backup / "home" / "support_bot" / "bot.db"
    db.write_bytes(db.read_bytes()[:-10])  # a truncated copy
    refused = data("restore", str(backup))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "corrupt or partial, nothing was restored: home/support_bot/bot.db: checksum mismatch" in refused.stderr


def test_every_app_declares_its_data_and_the_schedule_purges_it(tmp_path):
    from apps.cli import data_stores

    settings = settings_in(tmp_path, **{"governance.retention_days": 0, "governance.purge_interval_hours": 1000})
    stores = data_stores(settings)
    no_retention = load_settings(values={"home": str(tmp_path)})
    assert [s.name for s in stores] == ["speech_studio", "support_bot", "writing_assistant"]
    with pytest.raises(InvalidRequestError, match="pass --older-than DAYS or set governance.retention_days"):
        retention.purge(no_retention, stores)
    with pytest.raises(InvalidRequestError, match="exactly one of --session ID or --user ID"):
        retention.forget(settings, stores)
    stores[1].store.add_message("s-1", "user", "hello")
    thread = retention.start_schedule(settings, stores)  # purges at once, then every 1000 hours
    deadline = time.monotonic() + 60
    while not any(e.action == "purge" for e in AuditLog.for_settings(settings).entries()):
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.2)
    purge = next(e for e in AuditLog.for_settings(settings).entries() if e.action == "purge")
    assert purge.actor == "schedule" and purge.detail["counts"]["support_bot"]["messages"] == 1
    assert stores[1].store.history("s-1") == []
    assert retention.start_schedule(no_retention, stores) is None
