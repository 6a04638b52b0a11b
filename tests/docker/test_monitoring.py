"""docker/monitoring/: the alert rules pass ``promtool check rules`` and their unit tests (``promtool test rules``),
which fail when an alert is broken; the Grafana dashboard is well-formed; and every metric the rules and the
dashboard use is exported by the real services (scraped in-process after real requests)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.apps.support_bot.test_monitoring import BOT_SAMPLES
from tests.conftest import free_port, settings_in
from tests.core.serving.test_metrics import SERVER_SAMPLES
from tests.core.speech.conftest import audioeval_clips

MONITORING = Path(__file__).resolve().parents[2] / "docker" / "monitoring"
RULES, RULE_TESTS = MONITORING / "alert_rules.yml", MONITORING / "alert_rules_test.yml"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "llmeco.json"
DATASOURCES = MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
ALERTS = {
    "LLMEcoHighErrorRate",
    "LLMEcoHighLatencyP95",
    "LLMEcoHandoffRateJump",
    "LLMEcoThumbsDownRate",
    "LLMEcoQueueSaturated",
    "LLMEcoModelLoadFailure",
}
METRIC = re.compile(r"\bllmeco_[a-z0-9_]+")
PANEL_TYPES = {"row", "timeseries", "stat", "gauge", "bargauge", "table", "heatmap", "text"}


def promtool(*args: str, cwd: Path = MONITORING) -> subprocess.CompletedProcess:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus; .ci/apt-packages.txt)")
    # one stream: promtool writes the file names to stdout and the failures to stderr
    return subprocess.run(
        [tool, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120
    )


def rules() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def test_promtool_checks_the_rules_and_the_scrape_config() -> None:
    done = promtool("check", "rules", RULES.name)
    assert done.returncode == 0 and "SUCCESS: 6 rules found" in done.stdout, done.stdout
    assert {r["alert"] for r in rules()} == ALERTS
    done = promtool("check", "config", "prometheus.yml")
    assert done.returncode == 0, done.stdout
    jobs = {j["job_name"]: j for j in yaml.safe_load((MONITORING / "prometheus.yml").read_text())["scrape_configs"]}
    targets = {t for j in jobs.values() for c in j["static_configs"] for t in c["targets"]}
    assert {"server:8000", "support-bot:8100", "writing-assistant:8200", "speech-studio:8300"} <= targets


def test_every_alert_has_a_unit_test_and_they_pass() -> None:
    tested = {
        t["alertname"] for case in yaml.safe_load(RULE_TESTS.read_text())["tests"] for t in case["alert_rule_test"]
    }
    assert tested == ALERTS
    done = promtool("test", "rules", RULE_TESTS.name)
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout


def test_the_rule_tests_fail_when_an_alert_is_broken(tmp_path) -> None:
    """Each alert in turn replaced by one that never fires: promtool must fail its tests (one run for all)."""
    spec = yaml.safe_load(RULES.read_text())
    cases = yaml.safe_load(RULE_TESTS.read_text())
    files = []
    for alert in sorted(ALERTS):
        broken = json.loads(json.dumps(spec))
        for rule in (r for g in broken["groups"] for r in g["rules"]):
            if rule["alert"] == alert:
                rule["expr"] = "vector(0) > 1"
        (tmp_path / f"{alert}.rules.yml").write_text(yaml.safe_dump(broken))
        mine = [c for c in cases["tests"] if any(t["alertname"] == alert for t in c["alert_rule_test"])]
        copy = {**cases, "rule_files": [f"{alert}.rules.yml"], "tests": mine}
        (tmp_path / f"{alert}.test.yml").write_text(yaml.safe_dump(copy))
        files.append(f"{alert}.test.yml")
    done = promtool("test", "rules", *files, cwd=tmp_path)
    assert done.returncode != 0
    # promtool prints "Unit Testing: FILE" then SUCCESS or FAILED for each file
    results = dict(re.findall(r"Unit Testing:\s+(\S+)\s+(SUCCESS|FAILED)", done.stdout))
    assert results == dict.fromkeys(files, "FAILED"), done.stdout


def test_dashboard_is_a_well_formed_grafana_model() -> None:
    model = json.loads(DASHBOARD.read_text())
    assert model["uid"] and model["title"] and isinstance(model["schemaVersion"], int) and model["panels"]
    source_uid = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]["uid"]
    ids, cells = set(), set()
    for panel in model["panels"]:
        assert panel["type"] in PANEL_TYPES and panel["title"]
        assert panel["id"] not in ids, f"duplicate panel id {panel['id']}"
        ids.add(panel["id"])
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24 and pos["h"] > 0 and pos["y"] >= 0
        covered = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not covered & cells, f"panel {panel['title']!r} overlaps another"
        cells |= covered
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == source_uid and panel["targets"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(set(refs)) == len(refs) and all(
            t["expr"] and t["datasource"]["uid"] == source_uid for t in panel["targets"]
        )


def test_dashboard_queries_are_valid_promql(tmp_path) -> None:
    """promtool parses each panel query as a recording rule."""
    records = [{"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(dashboard_exprs())]
    (tmp_path / "dashboard.rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "d", "rules": records}]}))
    done = promtool("check", "rules", "dashboard.rules.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout


def test_compose_monitoring_profile_runs_prometheus_and_grafana_on_this_config() -> None:
    services = yaml.safe_load((MONITORING.parent / "compose.yaml").read_text())["services"]
    profiled = {n for n, s in services.items() if "monitoring" in s.get("profiles", [])}
    assert profiled == {"prometheus", "grafana"}
    mounted = [v.split(":")[0] for n in profiled for v in services[n]["volumes"] if v.startswith("./")]
    for path in mounted:
        assert (MONITORING.parent / path).exists(), f"compose mounts {path}, which does not exist"
    assert {"./monitoring/prometheus.yml", "./monitoring/alert_rules.yml"} <= set(mounted)
    assert {"./monitoring/grafana/provisioning", "./monitoring/grafana/dashboards"} <= set(mounted)


def scraped(client: TestClient) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for s in family.samples
    }


@pytest.mark.slow
def test_every_metric_the_alerts_and_the_dashboard_use_is_exported(tmp_path_factory) -> None:
    """The writing assistant and the speech studio scraped here after real requests; the server and the bot export
    what their own tests check (SERVER_SAMPLES, BOT_SAMPLES)."""
    from apps.speech_studio.api import create_api as speech_api
    from apps.writing_assistant.api import create_api as writing_api
    from apps.writing_assistant.writer import Writer

    # Coqui TTS at a port where nothing listens: its load fails as when its server is down.
    settings = settings_in(
        tmp_path_factory.mktemp("monitoring"), **{"apps.speech.coqui_url": f"http://127.0.0.1:{free_port()}"}
    )
    writing = TestClient(writing_api(Writer(settings, model="no-model-needed")))
    fixes = [
        {"id": 0, "offset": 0, "length": 3, "original": "Teh", "replacement": "The"},
        {"id": 1, "offset": 8, "length": 3, "original": "sat", "replacement": "sits"},
    ]
    applied = writing.post(
        "/api/suggestions/apply", json={"original": "Teh cat sat.", "suggestions": fixes, "accepted": [0]}
    )
    assert applied.json()["text"] == "The cat sat."
    speech = TestClient(speech_api(settings))
    clip = audioeval_clips("en") / "quick_brown_fox.wav"
    assert speech.post("/v1/audio/transcriptions", files={"file": (clip.name, clip.read_bytes())}).status_code == 200
    assert speech.post("/v1/audio/speech", json={"input": "Hello there.", "response_format": "wav"}).status_code == 200
    assert speech.post("/v1/audio/speech", json={"input": "Hello", "model": "coqui"}).status_code == 400

    w, sp = scraped(writing), scraped(speech)
    for rating in ("accept", "reject"):
        assert w[("llmeco_feedback_total", (("model", ""), ("rating", rating), ("version", "")))] == 1
    assert sum(v for (name, _), v in sp.items() if name == "llmeco_asr_real_time_factor_count") == 1
    assert sum(v for (name, _), v in sp.items() if name == "llmeco_tts_real_time_factor_count") == 1
    failed = [dict(labels) for (name, labels), v in sp.items() if name == "llmeco_model_load_failures_total" and v]
    assert failed == [{"model": "tts:coqui", "kind": "ModelNotAvailableError"}]

    exported = {name for name, _ in w} | {name for name, _ in sp} | SERVER_SAMPLES | BOT_SAMPLES
    used = {m for r in rules() for m in METRIC.findall(r["expr"])} | {
        m for e in dashboard_exprs() for m in METRIC.findall(e)
    }
    assert used and used <= exported, f"used but exported by no service: {sorted(used - exported)}"
