"""Two bot API replicas, two real `llmeco bot serve` processes, on one PostgreSQL database (what several bot
containers behind a load balancer are): one session's turns, interleaved across the replicas or sent to both at
once, are each stored exactly once, and both replicas see the same history."""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from core.config import Settings
from tests.apps.support_bot.conftest import drop_database, new_database
from tests.apps.support_bot.test_store import raw
from tests.conftest import serving

pytestmark = pytest.mark.slow

QUESTIONS = [
    "Do you ship to Canada?",
    "How long does a refund take?",
    "Can I swap my boots for half a size bigger?",
    "How quickly does express delivery get to me?",
]


@contextlib.contextmanager
def bot_serve(settings: Settings, store_url: str) -> Iterator[str]:
    """`llmeco bot serve` in its own process on the test home and the shared store; yields its URL once healthy.
    Replies are quoted from the knowledge base (generation=never): the store is under test, not the model."""
    overrides = {
        "apps.support_bot.store_url": store_url,
        "apps.support_bot.intent_model": settings.apps["support_bot"]["intent_model"],
        "apps.support_bot.generation": "never",
    }
    command = [sys.executable, "-m", "apps.cli", "bot", "serve"]
    command += [arg for key, value in overrides.items() for arg in ("--set", f"{key}={value}")]
    with serving(command, {**os.environ, "LLMECO_HOME": str(settings.home)}, timeout=300) as url:
        yield url


@pytest.fixture(scope="module")
def replicas(demo_bot, bot_settings, postgres_port) -> Iterator[tuple[str, str, str]]:
    """(replica A, replica B, the database URL). ``demo_bot`` has prepared the home (knowledge base, thresholds)
    the two processes share; they start one after the other."""
    name = new_database(postgres_port)
    url = f"postgresql+psycopg://postgres@127.0.0.1:{postgres_port}/{name}"
    try:
        with bot_serve(bot_settings, url) as a, bot_serve(bot_settings, url) as b:
            yield a, b, url
    finally:
        drop_database(postgres_port, name)


def chat(replica: str, message: str, session_id: str | None) -> dict:
    r = httpx.post(f"{replica}/api/chat", json={"message": message, "session_id": session_id}, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def history(replica: str, session_id: str) -> list[dict]:
    return httpx.get(f"{replica}/api/sessions/{session_id}/messages", timeout=30).json()


def test_interleaved_turns_of_one_session_are_stored_once_in_order(replicas):
    a, b, url = replicas
    session = chat(a, QUESTIONS[0], None)["session_id"]
    for i, question in enumerate(QUESTIONS[1:], start=1):
        assert chat((a, b)[i % 2], question, session)["session_id"] == session
    seen = history(a, session)
    assert seen == history(b, session)
    assert [m["role"] for m in seen] == ["user", "assistant"] * len(QUESTIONS)
    assert [m["text"] for m in seen[::2]] == QUESTIONS
    assert raw(url, "SELECT count(*) FROM messages WHERE session_id = :s", s=session) == [(2 * len(QUESTIONS),)]
    assert raw(url, "SELECT count(*) FROM conversations WHERE session_id = :s", s=session) == [(1,)]


def test_simultaneous_turns_on_both_replicas_of_a_new_session_lose_and_duplicate_nothing(replicas):
    """Four first turns of one new session at once, two per replica: the conversation is created once, whichever
    replica gets there first, and every turn is kept exactly once."""
    a, b, url = replicas
    session = uuid.uuid4().hex
    with ThreadPoolExecutor(len(QUESTIONS)) as pool:
        replies = list(pool.map(lambda iq: chat((a, b)[iq[0] % 2], iq[1], session), enumerate(QUESTIONS)))
    assert {r["session_id"] for r in replies} == {session}
    seen = history(b, session)
    assert sorted(m["text"] for m in seen if m["role"] == "user") == sorted(QUESTIONS)
    assert [m["role"] for m in seen].count("assistant") == len(QUESTIONS)
    assert len({m["id"] for m in seen}) == len(seen) == 2 * len(QUESTIONS)
    assert raw(url, "SELECT count(*) FROM conversations WHERE session_id = :s", s=session) == [(1,)]
