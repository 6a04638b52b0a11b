"""The Kubernetes retention CronJob runs a command the CLI accepts, with the settings it needs in its environment."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from apps.cli import app
from tests.docker.test_containers import K8S, manifests


def test_cronjob_purges_with_a_retention_age(tmp_path):
    job = next(d for d in manifests() if d["kind"] == "CronJob")
    assert yaml.safe_load((K8S / "retention.yaml").read_text()) == job
    container = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert int(env["LLMECO_GOVERNANCE__RETENTION_DAYS"]) > 0
    assert env["LLMECO_GOVERNANCE__AUDIT_URL"] == "$(LLMECO_APPS__SUPPORT_BOT__STORE_URL)"  # from the Secret
    # The container's arguments, run by the CLI on an empty home with the job's retention setting.
    result = CliRunner().invoke(
        app,
        container["args"],
        env={"LLMECO_HOME": str(tmp_path), "LLMECO_GOVERNANCE__RETENTION_DAYS": "90"},
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["action"] == "purge" and report["total"] == 0
