"""Every change to a registered model name made with the CLI is in the audit log, with who made it."""

import json

from typer.testing import CliRunner

from core.cli import app
from core.governance.audit import AuditLog
from tests.conftest import settings_in


def _run_folder(path):
    (path / "model").mkdir(parents=True)
    (path / "run.json").write_text(json.dumps({"name": path.name, "task": "text-generation", "status": "done"}))
    return path


def test_register_canary_promote_rollback_are_audited(tmp_path):
    (tmp_path / "home").mkdir()
    settings = settings_in(tmp_path / "home")
    env = {"LLMECO_HOME": str(settings.home)}
    runs = [_run_folder(tmp_path / f"run{i}") for i in (1, 2)]
    commands = [
        ["models", "register", str(runs[0]), "--name", "helpdesk"],
        ["models", "register", str(runs[1]), "--name", "helpdesk", "--canary", "0.2"],
        ["models", "canary", "helpdesk", "--share", "0.5"],
        ["models", "promote", "helpdesk"],
        ["models", "rollback", "helpdesk"],
    ]
    for args in commands:
        result = CliRunner().invoke(app, args, env=env)
        assert result.exit_code == 0, (args, result.output, result.exception)
    entries = AuditLog.for_settings(settings).entries()
    assert [(e.action, e.kind, e.target, e.detail.get("version")) for e in entries] == [
        ("register", "model", "helpdesk", 1),
        ("register", "model", "helpdesk", 2),
        ("canary", "model", "helpdesk", 2),
        ("promote", "model", "helpdesk", 2),
        ("rollback", "model", "helpdesk", 1),
    ]
    assert all(e.actor.startswith("cli") for e in entries)
