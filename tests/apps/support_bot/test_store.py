"""The store on real SQLite and PostgreSQL databases: round trips, PII redaction in the stored rows, tickets,
validation, concurrent writers and stats."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text

from apps.support_bot.store import NotFoundError, Store, StoreUnavailableError, normalise_question
from core.config import load_settings
from core.errors import ConfigError, InvalidRequestError
from tests.apps.support_bot.conftest import drop_database, new_database
from tests.conftest import free_port

EMAIL, CN_MOBILE, CARD, CN_ID = "li.wei@example.com", "13812345678", "4111 1111 1111 1111", "11010519491231002X"


@pytest.fixture
def store(store_url):
    s = Store(store_url)
    yield s
    s.close()


def raw(url: str, sql: str, **params) -> list[tuple]:
    """Rows read straight from the database, past the store's code."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def test_messages_round_trip_in_order_with_chinese_text(store):
    sid = store.new_session_id()
    sources = [{"title": "退货政策", "source": "returns.md", "page": 2}]
    first = store.add_message(sid, "user", "我想退货，怎么办？", kb="demo")
    reply = store.add_message(
        sid, "assistant", "您可以在30天内退货。", action="answer", intent="refund", confidence=0.91,
        sources=sources, latency_ms=123.4,
    )  # fmt: skip
    store.add_message(sid, "user", "How long does a refund take?")
    other = store.new_session_id()
    store.add_message(other, "user", "hello")

    history = store.history(sid)
    assert [m.id for m in history] == sorted(m.id for m in history) and history[0].id == first
    assert [m.text for m in history] == ["我想退货，怎么办？", "您可以在30天内退货。", "How long does a refund take?"]
    got = history[1]
    assert (got.id, got.role, got.action, got.intent, got.confidence, got.sources, got.latency_ms) == (
        reply, "assistant", "answer", "refund", 0.91, sources, 123.4,
    )  # fmt: skip
    assert got.created_at.tzinfo is not None and abs(datetime.now(timezone.utc) - got.created_at) < timedelta(minutes=1)
    assert [m.text for m in store.history(sid, limit=2)] == ["您可以在30天内退货。", "How long does a refund take?"]
    assert store.history(sid, limit=0) == [] and store.history("never-seen") == []
    assert (store.message_count(sid), store.message_count(other), store.message_count()) == (3, 1, 4)

    payload = json.loads(json.dumps(got.to_dict(), ensure_ascii=False))
    assert payload["text"] == "您可以在30天内退货。" and payload["sources"] == sources
    assert datetime.fromisoformat(payload["created_at"]) == got.created_at


def test_pii_is_redacted_in_every_stored_text(store, store_url):
    sid = store.new_session_id()
    store.add_message(sid, "user", f"我的邮箱是{EMAIL}，手机{CN_MOBILE}，身份证{CN_ID}")
    reply = store.add_message(sid, "assistant", f"Card {CARD} noted; order 20240117 is on its way.", action="answer")
    store.add_feedback(reply, -1, f"call me back on +44 20 7946 0958 or {EMAIL}")
    ticket = store.create_ticket(sid, f"customer {EMAIL} wants a human")
    store.resolve_ticket(ticket.id, note=f"refunded card {CARD}", agent="alice")

    stored = " ".join(
        str(value)
        for sql in (
            "SELECT text FROM messages",
            "SELECT comment FROM feedback",
            "SELECT reason, transcript, resolution, agent FROM tickets",
        )
        for row in raw(store_url, sql)
        for value in row
    )
    for secret in (EMAIL, CN_MOBILE, CARD, CN_ID, "7946 0958"):
        assert secret not in stored
    for placeholder in ("[EMAIL]", "[PHONE]", "[CARD]", "[CN_ID]"):
        assert placeholder in stored
    assert "order 20240117" in stored  # ordinary numbers stay
    assert "[CN_ID]" in store.ticket(ticket.id).transcript[0]["text"]


def test_ticket_lifecycle(store):
    sid = store.new_session_id()
    store.add_message(sid, "user", "我要找人工客服")
    first = store.create_ticket(sid, "asked for a human")
    assert (first.status, first.reason, first.resolved_at) == ("open", "asked for a human", None)
    assert [(t["role"], t["text"]) for t in first.transcript] == [("user", "我要找人工客服")]

    store.add_message(sid, "assistant", "正在为您转接。", action="handoff")
    again = store.create_ticket(sid, "still waiting")
    assert again.id == first.id and again.reason == "still waiting" and len(again.transcript) == 2
    assert [t.id for t in store.tickets()] == [first.id]

    other = store.create_ticket("fresh-session", "handoff before any message")  # creates the conversation
    assert other.transcript == [] and [t.id for t in store.tickets("open")] == [first.id, other.id]

    done = store.resolve_ticket(first.id, note="refund issued", agent="alice")
    assert (done.status, done.resolution, done.agent) == ("resolved", "refund issued", "alice")
    assert done.resolved_at is not None and done.resolved_at >= done.created_at
    assert store.ticket(first.id) == done
    assert [t.id for t in store.tickets("resolved")] == [first.id]
    assert [t.id for t in store.tickets(None)] == [first.id, other.id]
    with pytest.raises(InvalidRequestError, match="already resolved"):
        store.resolve_ticket(first.id)

    reopened = store.create_ticket(sid, "new problem")  # the resolved ticket stays closed
    assert reopened.id not in (first.id, other.id) and reopened.status == "open"
    assert json.loads(json.dumps(done.to_dict()))["resolved_at"] == done.resolved_at.isoformat()
    with pytest.raises(NotFoundError, match="no ticket with id 9999"):
        store.ticket(9999)
    with pytest.raises(NotFoundError):
        store.resolve_ticket(9999)


def test_feedback_validation_and_replacement(store):
    sid = store.new_session_id()
    question = store.add_message(sid, "user", "hi")
    reply = store.add_message(sid, "assistant", "Hello!", action="answer")
    for rating in (0, 2, 5, -2):
        with pytest.raises(InvalidRequestError, match=r"rating must be \+1"):
            store.add_feedback(reply, rating)
    with pytest.raises(NotFoundError, match="no message with id 999999"):
        store.add_feedback(999999, 1)
    with pytest.raises(InvalidRequestError, match="feedback rates the bot's replies"):
        store.add_feedback(question, 1)

    first = store.add_feedback(reply, 1)
    assert store.add_feedback(reply, -1, "wrong answer") == first  # a change of mind replaces the rating
    stats = store.stats()
    assert (stats.thumbs_up, stats.thumbs_down) == (0, 1)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.add_message("sid", "system", "x"), "role must be one of user, assistant"),
        (lambda s: s.add_message("sid", "assistant", "x", action="ignore"), "action must be one of"),
        (lambda s: s.add_message("", "user", "x"), "session_id must be a non-empty string"),
        (lambda s: s.add_message("x" * 65, "user", "x"), "at most 64 characters"),
        (lambda s: s.tickets("closed"), "status must be one of open, resolved, None"),
        (lambda s: s.history("sid", limit=-1), "limit must be 0 or more"),
        (lambda s: s.stats(days=0), "days must be 1 or more"),
    ],
)
def test_bad_arguments_get_clear_errors(sqlite_url, call, message):
    store = Store(sqlite_url)
    with pytest.raises(InvalidRequestError, match=message):
        call(store)
    assert store.message_count() == 0
    store.close()


def test_concurrent_writers_lose_nothing(store):
    sessions = [store.new_session_id() for _ in range(4)]  # 4 threads per session: conversation creation races

    def write(worker: int) -> list[int]:
        sid = sessions[worker % 4]
        return [store.add_message(sid, "user", f"线程 {worker} 消息 {i}", kb="demo") for i in range(20)]

    with ThreadPoolExecutor(16) as pool:
        ids = [i for batch in pool.map(write, range(16)) for i in batch]
    assert len(set(ids)) == 320 and store.message_count() == 320
    assert [store.message_count(sid) for sid in sessions] == [80] * 4
    texts = {m.text for sid in sessions for m in store.history(sid)}
    assert texts == {f"线程 {w} 消息 {i}" for w in range(16) for i in range(20)}
    assert store.stats().conversations == 4


def test_concurrent_handoffs_open_one_ticket(store):
    sid = store.new_session_id()
    store.add_message(sid, "user", "human please")
    with ThreadPoolExecutor(8) as pool:
        tickets = list(pool.map(lambda i: store.create_ticket(sid, f"handoff {i}"), range(8)))
    assert len({t.id for t in tickets}) == 1 and len(store.tickets()) == 1


def test_stats_on_a_known_history(store, store_url):
    def turn(sid: str, question: str, action: str) -> int:
        store.add_message(sid, "user", question)
        return store.add_message(sid, "assistant", "…", action=action)

    a, b, c = "session-a", "session-b", "session-c"
    answered = turn(a, "What are your opening hours?", "answer")
    turn(a, "Where is my order?", "clarify")
    turn(b, "where is my  order", "handoff")
    turn(b, "Where is my order？", "clarify")  # full-width question mark groups with the others
    turn(c, "退款要多久？", "clarify")
    liked = turn(c, "退款要多久", "answer")
    turn(c, "发票怎么开", "handoff")
    store.add_feedback(answered, 1)
    store.add_feedback(liked, 1, "很好")
    store.create_ticket(b, "handoff")
    resolved = store.create_ticket(c, "handoff")
    store.resolve_ticket(resolved.id)
    # Move session c's last turn two days back and one old turn outside a 3-day window.
    old = store.add_message("session-old", "user", "ancient question")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    engine = create_engine(store_url)
    with engine.begin() as conn:
        move = text("UPDATE messages SET created_at = :t WHERE session_id = :sid OR id = :id")
        conn.execute(move, {"t": now - timedelta(days=2), "sid": "session-c", "id": -1})
        conn.execute(move, {"t": now - timedelta(days=9), "sid": "", "id": old})
    engine.dispose()

    stats = store.stats(days=3)
    today = datetime.now(timezone.utc).date()
    assert [d.day for d in stats.daily] == [today - timedelta(days=n) for n in (2, 1, 0)]
    assert [(d.messages, d.conversations) for d in stats.daily] == [(6, 1), (0, 0), (8, 2)]
    assert (stats.messages, stats.conversations) == (14, 3)
    assert stats.actions == {"answer": 2, "clarify": 3, "handoff": 2}
    assert stats.action_rates == pytest.approx({"answer": 2 / 7, "clarify": 3 / 7, "handoff": 2 / 7})
    # Three wordings of one question, shown by the first in sort order (each is used once); ties by text.
    assert [(u.text, u.count) for u in stats.unanswered] == [
        ("Where is my order?", 3),
        ("发票怎么开", 1),
        ("退款要多久？", 1),
    ]
    assert (stats.thumbs_up, stats.thumbs_down, stats.satisfaction, stats.open_tickets) == (2, 0, 1.0, 1)
    assert [u.text for u in store.stats(days=3, top=1).unanswered] == [stats.unanswered[0].text]
    assert store.stats(days=30).messages == 15

    payload = json.loads(json.dumps(stats.to_dict(), ensure_ascii=False))
    assert payload["daily"][-1] == {"day": today.isoformat(), "messages": 8, "conversations": 2}
    assert payload["unanswered"][0]["count"] == stats.unanswered[0].count and payload["satisfaction"] == 1.0


def test_empty_store_stats(store):
    stats = store.stats(days=7)
    assert len(stats.daily) == 7 and stats.messages == 0 and stats.conversations == 0
    assert stats.actions == {"answer": 0, "clarify": 0, "handoff": 0}
    assert stats.action_rates == {"answer": 0.0, "clarify": 0.0, "handoff": 0.0}
    assert (stats.unanswered, stats.satisfaction, stats.open_tickets) == ([], None, 0)


def test_normalise_question():
    assert normalise_question("  Where IS my   order?! ") == normalise_question("where is my order")
    assert normalise_question("where is my order") == "where is my order"
    assert normalise_question("退款要多久？") == normalise_question("退款要多久") == "退款要多久"
    assert normalise_question("ＡＢＣ　１２３。") == "abc 123"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "is not a database URL"),
        ("mysql+pymysql://u@localhost/db", "must be a SQLite or PostgreSQL URL"),
        ("sqlite://", "not an in-memory database"),
        ("sqlite:///:memory:", "not an in-memory database"),
        ("postgresql+psycopg2://postgres@127.0.0.1/db", "driver for .postgresql\\+psycopg2. is not installed"),
    ],
)
def test_bad_store_urls(url, message):
    with pytest.raises(ConfigError, match=message):
        Store(url)


def test_unreachable_server_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot open the bot store at postgresql\\+psycopg://u:\\*\\*\\*@127.0.0.1"):
        Store(f"postgresql+psycopg://u:secret@127.0.0.1:{free_port()}/db")


def test_for_settings_defaults_to_sqlite_under_home(tmp_path):
    store = Store.for_settings(load_settings(None, [f"home={tmp_path}"]))
    store.add_message("s", "user", "hi")
    store.close()
    assert (tmp_path / "support_bot" / "bot.db").is_file()

    url = f"sqlite:///{tmp_path / 'elsewhere' / 'store.db'}"
    store = Store.for_settings(load_settings(None, [f"home={tmp_path}", f"apps.support_bot.store_url={url}"]))
    store.close()
    assert (tmp_path / "elsewhere" / "store.db").is_file()


def test_database_lost_after_opening_is_a_clear_error(postgres_port):
    name = new_database(postgres_port)
    store = Store(f"postgresql+psycopg://postgres@127.0.0.1:{postgres_port}/{name}")
    store.add_message("s", "user", "hi")
    drop_database(postgres_port, name)
    with pytest.raises(StoreUnavailableError, match="the bot store is not answering"):
        store.add_message("s", "user", "still there?")
    with pytest.raises(StoreUnavailableError):
        store.history("s")
    store.close()
