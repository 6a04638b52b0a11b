"""The bot's API under monitoring (core/serving/metrics.py, core/logs.py), in-process over the demo bot: reply
actions with their confidence and thumbs up/down as Prometheus metrics; the request id in the response and in the
JSON log lines of the app and of core; an e-mail address in a question never reaches the logs."""

from __future__ import annotations

import io
import json
import logging

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from apps.support_bot.api import create_api
from core.logs import configure_logging

pytestmark = pytest.mark.slow
# What the bot's API exports once it has answered and been rated (tests/docker/test_monitoring.py relies on it).
BOT_SAMPLES = {
    "llmeco_requests_total",
    "llmeco_request_latency_seconds_bucket",
    "llmeco_bot_replies_total",
    "llmeco_bot_confidence_bucket",
    "llmeco_feedback_total",
}


def test_replies_feedback_request_ids_and_no_pii_in_logs(demo_bot):
    stream, level = io.StringIO(), logging.getLogger().level
    handler = configure_logging("json", logging.DEBUG, stream)
    try:
        client = TestClient(create_api(demo_bot))
        question = "Do you ship to Canada? Please reply to jane.doe@example.com"
        r = client.post("/api/chat", json={"message": question}, headers={"X-Request-ID": "bot-req-1"})
        handoff = client.post("/api/chat", json={"message": "I want to talk to a human"})
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(level)
    assert r.status_code == 200 and r.headers["x-request-id"] == "bot-req-1"
    reply = r.json()
    assert client.post("/api/feedback", json={"message_id": reply["message_id"], "rating": 1}).status_code == 200

    text = stream.getvalue()
    assert "jane.doe@example.com" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    mine = [x for x in lines if x["request_id"] == "bot-req-1"]
    loggers = {x["logger"] for x in mine}
    assert "apps.support_bot.bot" in loggers and "core.serving.metrics" in loggers, loggers
    assert any("[EMAIL]" in x["message"] for x in mine), "the question is logged (DEBUG), redacted"
    assert any(x["request_id"] == handoff.headers["x-request-id"] for x in lines), "a new id for a request without"
    stored = demo_bot.store.history(reply["session_id"])
    assert [m.request_id for m in stored] == ["bot-req-1", "bot-req-1"], "the store's rows carry the request id"

    scraped = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for s in family.samples
    }
    names = {name for name, _ in scraped}
    assert names >= BOT_SAMPLES, BOT_SAMPLES - names
    actions = {dict(k[1])["action"]: v for k, v in scraped.items() if k[0] == "llmeco_bot_replies_total"}
    assert actions == {reply["action"]: 1, handoff.json()["action"]: 1} or actions == {reply["action"]: 2}
    assert scraped[("llmeco_bot_confidence_count", (("action", reply["action"]),))] >= 1
    # an FAQ answer: no chat model wrote it, so no model or version
    assert scraped[("llmeco_feedback_total", (("model", ""), ("rating", "up"), ("version", "")))] == 1
