"""Lineage: a data file's sidecar names its sessions, is ignored once the file changes, and runs are found by it."""

import json

from core.governance.lineage import read_sources, runs_using, sidecar_path, write_sources
from tests.conftest import settings_in


def test_sidecar_round_trip_and_changed_file(tmp_path):
    data = tmp_path / "chats.jsonl"
    data.write_text('{"messages": []}\n', encoding="utf-8")
    sidecar = write_sources(data, "support_bot", ["s2", "s1", "s2"])
    assert sidecar == sidecar_path(data) == tmp_path / "chats.jsonl.sources.json"
    assert read_sources(data)["sessions"] == ["s1", "s2"]
    data.write_text('{"messages": []}\n{"messages": []}\n', encoding="utf-8")
    assert read_sources(data) is None  # edited after the export: the sidecar no longer describes it
    assert read_sources(tmp_path / "other.jsonl") is None


def test_runs_using_lists_only_runs_with_those_sessions(tmp_path):
    settings = settings_in(tmp_path)
    for name, sources in {"a": {"sessions": ["s1", "s2"]}, "b": {"sessions": ["s3"]}, "c": None}.items():
        (settings.runs_dir / name).mkdir(parents=True)
        (settings.runs_dir / name / "data.json").write_text(json.dumps({"sources": sources}))
    assert runs_using(settings, ["s2", "s9"]) == {str(settings.runs_dir / "a"): ["s2"]}
    assert runs_using(settings, []) == {}
