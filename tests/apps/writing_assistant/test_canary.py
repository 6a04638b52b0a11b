"""The writer during a canary of its model (a registered name with two versions of the real SmolLM2 GGUF, the
candidate at half the traffic): each writing task sends all its model calls (one per paragraph) to one version and
names it in its result, and the accepts and rejects of its suggestions are counted for that version."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from apps.writing_assistant.api import create_api
from apps.writing_assistant.store import DocumentStore
from apps.writing_assistant.writer import Writer
from core.models import user_models
from core.text import load_text_engine
from core.text.base import Request, StreamChunk, TextEngine
from tests.conftest import settings_in
from tests.core.conftest import gguf_version

pytestmark = pytest.mark.slow
TEXT = "The shop opens at nine.\n\nBikes are cheap.\n\nCall us today."


class Recording(TextEngine):
    """The live engine, with each call's route key and answering version written down."""

    def __init__(self, engine: TextEngine) -> None:
        self.engine, self.model_name, self.engine_name = engine, engine.model_name, "recording"
        self.calls: list[tuple[str | None, str]] = []

    def _stream(self, request: Request) -> Iterator[StreamChunk]:
        for chunk in self.engine.stream(request):
            if chunk.finish_reason:
                self.calls.append((request.route_key, chunk.model))
            yield chunk


@pytest.fixture(scope="module")
def writer(tmp_path_factory):
    home = tmp_path_factory.mktemp("writer-canary")
    settings = settings_in(home, **{"text.threads": 1})
    for v in (1, 2):
        user_models.register(settings, gguf_version(home / f"v{v}"), "writer-lm")
    user_models.set_canary(settings, "writer-lm", 0.5, version=1)
    engine = load_text_engine("writer-lm", settings)
    yield Writer(settings, "writer-lm", Recording(engine))
    engine.close()


def test_a_task_stays_on_one_version_and_its_feedback_is_counted_for_it(writer):
    results = []
    for _ in range(4):
        before = len(writer.engine.calls)
        results.append(writer.rewrite(TEXT, "shorten"))
        calls = writer.engine.calls[before:]
        assert len(calls) == 3 and len(set(calls)) == 1, calls  # one key, one version for the three paragraphs
        assert results[-1]["model"] == calls[0][1] and calls[0][1] in ("writer-lm@v1", "writer-lm@v2")
    assert len({key for key, _ in writer.engine.calls}) == 4  # a new key per task

    client = TestClient(create_api(writer, DocumentStore.for_settings(writer.settings)))
    done = results[0]
    fixes = [
        {"id": 0, "offset": 0, "length": 3, "original": "The", "replacement": "Our"},
        {"id": 1, "offset": TEXT.index("cheap"), "length": 5, "original": "cheap", "replacement": "affordable"},
    ]
    body = {"original": TEXT, "suggestions": fixes, "accepted": [0], "model": done["model"]}
    applied = client.post("/api/suggestions/apply", json=body)
    assert applied.status_code == 200 and applied.json()["text"].startswith("Our shop"), applied.text
    wrong = client.post("/api/suggestions/apply", json={**body, "model": "other-lm@v1"})
    assert wrong.status_code == 400 and "not this writer's" in wrong.text
    scraped = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for s in family.samples
    }
    version = done["model"].rpartition("@v")[2]
    for rating in ("accept", "reject"):
        labels = (("model", "writer-lm"), ("rating", rating), ("version", version))
        assert scraped[("llmeco_feedback_total", labels)] == 1
