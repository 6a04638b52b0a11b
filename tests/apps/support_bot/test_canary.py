"""The bot's chat model in operation. A canary (``llmeco models canary``): every reply names the version that was
asked to write it, in the reply, in the store and in the API's metrics, so thumbs up and down compare the candidate
with the active version (``Store.stats().by_model``, ``llmeco_feedback_total{model,version}``). A chat model that
fails to load: the bot quotes passages and ``/health`` says which model and why."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from core.models import user_models
from tests.conftest import settings_in
from tests.core.conftest import gguf_version

from .conftest import BIKES_GUIDE

pytestmark = pytest.mark.slow
QUESTIONS = ["What happens if I damage the bike?", "When does the shop open?"] * 2


@pytest.fixture(scope="module")
def bots(bot_settings, tmp_path_factory):
    """The bike guide's bot over ``support-lm`` (two versions of the real SmolLM2 GGUF), v1 a canary at 50%; then
    the same bot whose chat model is a corrupt GGUF file. (bot, API client) for each."""
    from apps.support_bot.api import create_api
    from apps.support_bot.bot import SupportBot
    from apps.support_bot.kb.knowledge_base import KnowledgeBase

    home = tmp_path_factory.mktemp("canary-home")
    config = {"intent_model": bot_settings.apps["support_bot"]["intent_model"], "kb": "guide"}
    config |= {"chat_model": "support-lm", "generation": "always", "company": "Harbour Bikes"}
    settings = settings_in(home, **{f"apps.support_bot.{k}": v for k, v in config.items()}, **{"text.threads": 1})
    for v in (1, 2):
        user_models.register(settings, gguf_version(home / f"v{v}"), "support-lm")
    user_models.set_canary(settings, "support-lm", 0.5, version=1)
    (home / "guide.md").write_text(BIKES_GUIDE, encoding="utf-8")
    kb = KnowledgeBase.open("guide", settings)
    kb.ingest([home / "guide.md"])
    bot = SupportBot(settings, kb=kb)
    corrupt = home / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + b"\0" * 60)
    broken_settings = settings.model_copy(deep=True)
    broken_settings.apps["support_bot"]["chat_model"] = str(corrupt)
    broken = SupportBot(broken_settings, kb=kb)
    yield {"canary": (bot, TestClient(create_api(bot))), "corrupt": (broken, TestClient(create_api(broken)))}
    bot.close()


def test_replies_and_feedback_are_recorded_per_version(bots):
    bot, client = bots["canary"]
    replies = [client.post("/api/chat", json={"message": q}).json() for q in QUESTIONS]
    assert [r["model"] for r in replies] == ["support-lm@v2", "support-lm@v1"] * 2, [r["reason"] for r in replies]
    assert all(r["mode"] in ("generate", "passage") for r in replies)
    assert [bot.store.message(r["message_id"]).model for r in replies] == [r["model"] for r in replies]
    for reply, rating in zip(replies, (1, -1, 1, -1), strict=True):  # v2 liked, the v1 candidate not
        assert client.post("/api/feedback", json={"message_id": reply["message_id"], "rating": rating}).is_success

    by_model = bot.store.stats().by_model
    assert {m: (f.replies, f.thumbs_up, f.thumbs_down) for m, f in by_model.items()} == {
        "support-lm@v1": (2, 0, 2),
        "support-lm@v2": (2, 2, 0),
    }
    assert by_model["support-lm@v2"].satisfaction == 1.0
    scraped = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for s in family.samples
    }
    for version, rating in (("1", "down"), ("2", "up")):
        labels = (("model", "support-lm"), ("version", version))
        assert scraped[("llmeco_feedback_total", tuple(sorted((*labels, ("rating", rating)))))] == 2
        assert scraped[("llmeco_model_version_requests_total", labels)] == 2


def test_a_chat_model_that_fails_to_load_is_on_health_and_passages_are_quoted(bots):
    bot, client = bots["corrupt"]
    assert client.get("/health").json()["status"] == "ok"  # nothing tried yet
    reply = client.post("/api/chat", json={"message": QUESTIONS[0]})
    assert reply.status_code == 200, reply.text
    assert reply.json()["mode"] == "passage" and "failed to load: quoted" in reply.json()["reason"]
    assert "50 euro deposit" in reply.json()["answer"]
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "degraded"
    (why,) = health.json()["failed"].values()
    assert "corrupt.gguf" in why, why
