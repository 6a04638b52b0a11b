"""The REST API against a real server and the real demo bot."""

import json

import httpx
import pytest

from apps.support_bot.api import create_api
from tests.conftest import ServerThread

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api_url(demo_bot):
    with ServerThread(create_api(demo_bot, max_upload_mb=1)) as server:
        yield server.url


def test_chat_returns_the_contract_fields_and_continues_sessions(api_url):
    r = httpx.post(f"{api_url}/api/chat", json={"message": "Do you ship to Canada?"}, timeout=120)
    assert r.status_code == 200
    body = r.json()
    assert {"session_id", "answer", "action", "intent", "sources"} <= set(body)
    assert body["action"] == "answer" and body["intent"]["name"] and 0 <= body["intent"]["confidence"] <= 1
    assert all({"id", "score"} <= set(s) and (s.get("title") or s.get("question")) for s in body["sources"])
    again = httpx.post(
        f"{api_url}/api/chat", json={"message": "I want a human", "session_id": body["session_id"]}, timeout=120
    ).json()
    assert again["session_id"] == body["session_id"] and again["action"] == "handoff"
    messages = httpx.get(f"{api_url}/api/sessions/{body['session_id']}/messages").json()
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]


def test_streaming_chat_sends_deltas_then_the_reply(api_url):
    events = []
    with httpx.stream("POST", f"{api_url}/api/chat/stream", json={"message": "满多少钱包邮？"}, timeout=120) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert events[0]["type"] == "delta" and events[-1]["type"] == "reply"
    assert "".join(e["text"] for e in events[:-1]).strip() == events[-1]["answer"].strip()
    assert events[-1]["lang"] == "zh"


def test_bad_chat_requests_get_clear_errors(api_url):
    assert httpx.post(f"{api_url}/api/chat", json={"message": "  "}).json() == {"error": "the question is empty"}
    assert httpx.post(f"{api_url}/api/chat", json={}).status_code == 422
    assert httpx.post(f"{api_url}/api/chat/stream", json={"message": ""}).status_code == 400


def test_feedback_on_an_answer(api_url):
    reply = httpx.post(f"{api_url}/api/chat", json={"message": "Do you ship to Canada?"}, timeout=120).json()
    ok = httpx.post(f"{api_url}/api/feedback", json={"message_id": reply["message_id"], "rating": 1})
    assert ok.status_code == 200 and ok.json()["id"] > 0
    assert httpx.post(f"{api_url}/api/feedback", json={"message_id": 10**9, "rating": 1}).status_code == 404
    assert (
        httpx.post(f"{api_url}/api/feedback", json={"message_id": reply["message_id"], "rating": 5}).status_code == 422
    )
    stats = httpx.get(f"{api_url}/api/analytics").json()
    assert stats["thumbs_up"] >= 1 and stats["messages"] >= 2


def test_knowledge_base_upload_search_and_delete(api_url):
    faq = "question,answer\nDo you sell gift wrapping?,Yes: gift wrapping costs $5 per order at checkout.\n"
    files = [
        ("files", ("gifts.csv", faq.encode(), "text/csv")),
        ("files", ("broken.pdf", b"%PDF-1.4 not really", "application/pdf")),
    ]
    results = {r["name"]: r for r in httpx.post(f"{api_url}/api/kb/sources", files=files, timeout=120).json()}
    assert results["gifts.csv"]["status"] == "added" and results["gifts.csv"]["entries"] == 1
    assert results["broken.pdf"]["status"] == "error" and "broken.pdf" in results["broken.pdf"]["error"]
    assert "gifts.csv" in [s["id"] for s in httpx.get(f"{api_url}/api/kb/sources").json()]
    hits = httpx.get(f"{api_url}/api/kb/search", params={"q": "can you wrap my present?"}).json()
    assert hits[0]["source"] == "gifts.csv" and hits[0]["dense"] > 0 and "bm25" in hits[0]
    assert httpx.delete(f"{api_url}/api/kb/sources/gifts.csv").status_code == 200
    assert httpx.delete(f"{api_url}/api/kb/sources/gifts.csv").status_code == 404
    big = [("files", ("huge.txt", b"a" * (1024 * 1024 + 1), "text/plain"))]
    assert httpx.post(f"{api_url}/api/kb/sources", files=big).status_code == 413


def test_handoff_queue_lists_and_resolves_tickets(api_url):
    reply = httpx.post(f"{api_url}/api/chat", json={"message": "转人工"}, timeout=120).json()
    assert reply["action"] == "handoff"
    queue = httpx.get(f"{api_url}/api/handoff/tickets").json()
    ticket = next(t for t in queue if t["id"] == reply["ticket_id"])
    assert ticket["transcript"][0]["text"] == "转人工"
    done = httpx.post(f"{api_url}/api/handoff/tickets/{ticket['id']}/resolve", json={"note": "called back"}).json()
    assert done["status"] == "resolved" and done["resolution"] == "called back"
    assert reply["ticket_id"] not in [t["id"] for t in httpx.get(f"{api_url}/api/handoff/tickets").json()]
    assert httpx.get(f"{api_url}/api/handoff/tickets/999999").status_code == 404


def test_openapi_docs_and_api_key(demo_bot):
    with ServerThread(create_api(demo_bot, api_key="s3cret")) as server:
        assert httpx.get(f"{server.url}/docs").status_code == 200
        paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
        assert {"/api/chat", "/api/feedback", "/api/kb/sources", "/api/handoff/tickets"} <= set(paths)
        assert httpx.get(f"{server.url}/api/kb/sources").status_code == 401
        assert httpx.get(f"{server.url}/api/kb/sources", headers={"X-API-Key": "s3cret"}).status_code == 200
        auth = {"Authorization": "Bearer s3cret"}
        assert httpx.get(f"{server.url}/api/handoff/tickets", headers=auth).status_code == 200
        assert httpx.get(f"{server.url}/health").status_code == 200  # health stays open for load balancers
