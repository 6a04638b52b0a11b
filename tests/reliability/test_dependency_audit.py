"""The dependency audit (`python benchmarks/audit.py`): the installed environment is consistent (`pip check`),
and the report reads pip-audit's JSON right: a run that could look nothing up is "unreachable", not clean; a
vulnerability is reported unless the ignore list gives a reason for it (or one of its aliases)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks.audit import IGNORE, classify, read_ignores

VULN = {"id": "PYSEC-2099-1", "aliases": ["CVE-2099-0001"], "fix_versions": ["2.0"]}


def test_pip_check_passes():
    done = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_ignore_list_gives_a_reason_for_every_entry(tmp_path):
    read_ignores(IGNORE)
    bad = tmp_path / "ignore.txt"
    bad.write_text("# comment\nGHSA-aaaa-bbbb-cccc\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no reason"):
        read_ignores(bad)


def test_report_classification():
    skipped = {"dependencies": [{"name": "a", "skip_reason": "Dependency not found on PyPI"}] * 3}
    assert classify(skipped, {}).unreachable  # pip-audit says "No known vulnerabilities found" for this
    assert classify({"dependencies": [], "error": "ConnectionError"}, {}).unreachable
    report = {
        "dependencies": [
            {"name": "ok", "version": "1.0", "vulns": []},
            {"name": "bad", "version": "1.0", "vulns": [VULN]},
            {"name": "gone", "skip_reason": "not on PyPI"},
        ]
    }
    found = classify(report, {})
    assert not found.unreachable and (found.packages, found.audited) == (3, 2)
    assert [v["id"] for v in found.vulnerable] == ["PYSEC-2099-1"] and found.exit_status == 1
    accepted = classify(report, {"CVE-2099-0001": "not reachable: we never parse untrusted YAML"})
    assert not accepted.vulnerable and accepted.ignored[0]["reason"].startswith("not reachable")
    assert accepted.exit_status == 0
