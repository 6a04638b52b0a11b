"""Every change to a registered model name is in the audit log once, with who made it: from the CLI or from a
script using the Python API."""

import getpass
import json
import os
import subprocess
import sys

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


def test_changes_made_through_the_python_api_are_audited(tmp_path):
    """A script that only imports ``user_models`` (nothing of governance) is audited too: the registry subscribes
    the audit log itself before its first change."""
    (tmp_path / "home").mkdir()
    settings = settings_in(tmp_path / "home")
    runs = [_run_folder(tmp_path / f"run{i}") for i in (1, 2)]
    script = (
        "import sys; from core.config import load_settings; from core.models import user_models as m\n"
        "s = load_settings()\n"
        "m.register(s, sys.argv[1], 'helpdesk'); m.register(s, sys.argv[2], 'helpdesk', canary=0.2)\n"
        "m.set_canary(s, 'helpdesk', 0)\n"
        "assert 'core.governance.audit' in sys.modules\n"
    )
    env = {**os.environ, "LLMECO_HOME": str(settings.home)}
    subprocess.run([sys.executable, "-c", script, *map(str, runs)], env=env, check=True)
    entries = AuditLog.for_settings(settings).entries()
    assert [(e.action, e.target, e.detail["version"]) for e in entries] == [
        ("register", "helpdesk", 1),
        ("register", "helpdesk", 2),
        ("canary_stop", "helpdesk", 2),
    ]
    assert entries[1].detail["share"] == 0.2 and entries[1].detail["run"] == str(runs[1].resolve())
    assert all(e.actor == f"python:{getpass.getuser()}" for e in entries)
