"""Data governance of the bot's store on real SQLite and PostgreSQL databases: forget by session and by user with
the text gone from the database file's bytes, retention by age (delete or anonymise), the user column added to
old stores, backup/restore with pg_dump, the append-only audit log on PostgreSQL, audited API reads, and lineage
from exported conversations to a real training run."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from apps.support_bot.governance import BotData, export_training
from apps.support_bot.store import Store
from core.governance import retention
from core.governance.audit import APPEND_ONLY, AuditLog
from core.governance.backup import backup, restore
from tests.conftest import settings_in

MARK = "zebra-7731-quokka"  # a unique string to look for in the raw database bytes


def _conversation(store: Store, sid: str, user: str | None = None, mark: str = MARK) -> int:
    """A session with a rated answer and a handoff ticket; returns the answer's id."""
    store.add_message(sid, "user", f"where is my parcel {mark}?", user_id=user)
    answer = store.add_message(sid, "assistant", f"It ships today ({mark}).", action="answer")
    store.add_feedback(answer, 1, f"thanks {mark}")
    store.create_ticket(sid, f"customer asked for a person about {mark}")
    return answer


def _raw_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def _count(url: str, table: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
    finally:
        engine.dispose()


def test_forget_a_session_removes_every_row_and_the_bytes(sqlite_url):
    store = Store(sqlite_url)
    _conversation(store, "s-gone")
    _conversation(store, "s-kept", mark="other-customer")
    db = Path(sqlite_url.removeprefix("sqlite:///"))
    assert MARK.encode() in _raw_bytes(db)
    with store._engine.connect() as conn:  # set by the store: some SQLite builds (not Debian's) default to off
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
    counts, sessions = store.forget(session_id="s-gone")
    assert sessions == ["s-gone"]
    assert {k: v for k, v in counts.items() if v} == {"conversations": 1, "messages": 2, "feedback": 1, "tickets": 1}
    assert MARK.encode() not in _raw_bytes(db)  # not in bot.db (secure_delete) nor in its WAL (checkpointed)
    assert [m.text for m in store.history("s-kept")][0] == "where is my parcel other-customer?"
    assert store.history("s-gone") == [] and [t.session_id for t in store.tickets(None)] == ["s-kept"]
    store.close()


def test_forget_a_user_on_both_backends(store_url, tmp_path):
    store = Store(store_url)
    _conversation(store, "a1", user="cust-1")
    _conversation(store, "a2", user="cust-1")
    _conversation(store, "b1", user="cust-2")
    store.add_message("a3", "user", "no user named here")
    report = retention.forget(settings_in(tmp_path), [BotData(store)], user_id="cust-1")
    assert report.stores[0].sessions == ["a1", "a2"] and report.stores[0].counts["messages"] == 4
    assert _count(store_url, "conversations") == 2 and _count(store_url, "feedback") == 1
    assert store.forget(user_id="nobody") == ({k: 0 for k in report.stores[0].counts}, [])
    store.close()


def _age(url: str, sid: str, days: int) -> None:
    """Make a conversation look last active ``days`` ago."""
    engine = create_engine(url)
    when = (datetime.now(timezone.utc) - timedelta(days=days)).replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(text("UPDATE conversations SET updated_at = :w WHERE session_id = :s"), {"w": when, "s": sid})
    engine.dispose()


def test_purge_by_age_deletes_or_anonymises(sqlite_url):
    store = Store(sqlite_url)
    _conversation(store, "old", user="cust-1")
    _conversation(store, "new", user="cust-2", mark="recent")
    _age(sqlite_url, "old", 40)
    before = datetime.now(timezone.utc) - timedelta(days=30)

    anonymised = store.purge(before, anonymise=True)
    assert anonymised["conversations"] == 1 and anonymised["messages"] == 2
    rows = (
        sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
        .execute("SELECT session_id, user_id FROM conversations ORDER BY created_at")
        .fetchall()
    )
    assert rows[0][0].startswith("anon-") and rows[0][1] is None and rows[1] == ("new", "cust-2")
    assert len(store.history(rows[0][0])) == 2 and store.history("old") == []  # kept, but no longer linkable
    assert store.purge(before, anonymise=True)["conversations"] == 0  # anonymised once, not again

    deleted = store.purge(before)
    assert deleted["conversations"] == 1 and deleted["tickets"] == 1
    assert [m.session_id for m in store.history("new")] == ["new", "new"] and _count(sqlite_url, "messages") == 2
    assert MARK.encode() not in _raw_bytes(Path(sqlite_url.removeprefix("sqlite:///")))
    store.close()


def test_an_old_store_gets_the_user_column(sqlite_url):
    Store(sqlite_url).close()
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as conn:  # the schema before user ids
        conn.execute("DROP INDEX ix_conversations_user_id")
        conn.execute("ALTER TABLE conversations DROP COLUMN user_id")
    store = Store(sqlite_url)
    store.add_message("s", "user", "hi", user_id="cust-9")
    assert store.forget(user_id="cust-9")[1] == ["s"]
    store.close()


def test_backup_restore_brings_a_forgotten_session_back_from_postgres(postgres_port, tmp_path):
    from tests.apps.support_bot.conftest import drop_database, new_database

    name = new_database(postgres_port)
    url = f"postgresql+psycopg://postgres@127.0.0.1:{postgres_port}/{name}"
    (tmp_path / "home").mkdir()
    settings = settings_in(tmp_path / "home", **{"apps.support_bot.store_url": url, "governance.audit_url": url})
    try:
        store = Store(url)
        _conversation(store, "s-pg", user="cust-1")
        stores = [BotData(store)]
        AuditLog.for_settings(settings).record("cli:ann", "read", "conversation", "s-pg")  # in the dump too
        summary = backup(settings, tmp_path / "bk", stores)
        assert summary.databases == ["support_bot"]
        assert retention.forget(settings, stores, session_id="s-pg").stores[0].counts["messages"] == 2
        assert store.history("s-pg") == []
        restore(settings, tmp_path / "bk", stores)
        assert [m.text for m in store.history("s-pg")] == [f"where is my parcel {MARK}?", f"It ships today ({MARK})."]
        # The audit log lives in the same PostgreSQL database here: the restore's --clean must not have touched it,
        # and its triggers refuse to rewrite it.
        log = AuditLog(url)
        assert [e.action for e in log.entries()] == ["read", "export", "forget", "restore"]
        engine = create_engine(url)
        for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
            with pytest.raises(Exception, match=APPEND_ONLY), engine.begin() as conn:
                conn.execute(text(statement))
        engine.dispose()
        log.close()
        store.close()
    finally:
        drop_database(postgres_port, name)


def test_api_reads_are_audited_and_chats_carry_the_user(demo_bot):
    from apps.support_bot.api import create_api

    client = TestClient(create_api(demo_bot, api_key="k-audit"))
    headers = {"X-API-Key": "k-audit"}
    question = {"message": "What are your opening hours?", "user_id": "cust-42"}
    reply = client.post("/api/chat", json=question, headers=headers)
    sid = reply.json()["session_id"]
    log = AuditLog.for_settings(demo_bot.settings)
    seen = len(log.entries())
    assert client.get(f"/api/sessions/{sid}/messages", headers=headers).status_code == 200
    assert client.get("/api/handoff/tickets?status=all", headers=headers).status_code == 200
    new = log.entries()[seen:]
    assert [(e.action, e.kind, e.target) for e in new] == [("read", "conversation", sid), ("read", "tickets", "all")]
    assert {e.actor for e in new} == {f"key:{hashlib.sha256(b'k-audit').hexdigest()[:12]}"}
    assert demo_bot.store.forget(user_id="cust-42")[1] == [sid]


def test_forget_removes_the_paraphrases_a_customer_taught_the_knowledge_base(embedder, tmp_path):
    """A paraphrase learned when a customer picked a suggested question is their own words: forgetting the customer
    removes it from the knowledge base's files and from a running bot's open index (which reloads), while another
    customer's and unlinked ones (learned before sessions were kept, or approved by a reviewer) stay."""
    from apps.support_bot.config import bot_home
    from apps.support_bot.governance import data_stores
    from apps.support_bot.kb.knowledge_base import KnowledgeBase
    from core.embeddings import load_embedder
    from tests.apps.support_bot.conftest import BIKES_FAQ

    (tmp_path / "home").mkdir()
    settings = settings_in(tmp_path / "home")
    (tmp_path / "faq.csv").write_text(BIKES_FAQ, encoding="utf-8")
    root = bot_home(settings) / "kb" / "bikes"
    kb = KnowledgeBase(root, load_embedder("use-multilingual-v3"), english=embedder)  # the running bot's
    kb.ingest([tmp_path / "faq.csv"])
    store = Store.for_settings(settings)
    asked = f"do I get my money back when a {MARK} storm ends my ride"
    for sid, user, question in (("s-gone", "cust-1", asked), ("s-kept", "cust-2", "reserve a bike")):
        store.add_message(sid, "user", question, user_id=user)
    assert kb.learn("bike-rain", asked, session_id="s-gone")
    assert kb.learn("bike-book", "reserve a bike", session_id="s-kept")
    assert kb.learn("bike-cancel", "undo my reservation")

    def on_disk() -> bytes:  # question texts are stored as UTF-8 (jsonl) and as numpy UTF-32 (questions.npz)
        return b"".join(p.read_bytes() for p in root.iterdir() if p.is_file())

    assert MARK.encode() in on_disk() and MARK.encode("utf-32-le") in on_disk()
    assert kb.search(asked, k=1)[0].question_match == pytest.approx(1.0, abs=1e-4)
    replica = KnowledgeBase(root, kb.embedder, english=embedder)  # another API replica with the KB open
    report = retention.forget(settings, data_stores(settings), user_id="cust-1")
    assert report.stores[0].sessions == ["s-gone"] and report.stores[0].counts["learned_paraphrases"] == 1
    assert MARK.encode() not in on_disk() and MARK.encode("utf-32-le") not in on_disk()
    assert kb.search(asked, k=1)[0].question_match < 0.9  # the open index no longer holds it
    assert kb.learned() == {"bike-book": ["reserve a bike"], "bike-cancel": ["undo my reservation"]}
    replica.learn("bike-ebike", "electric bikes?", session_id="s-kept")  # a later write starts from the files
    assert asked not in str(KnowledgeBase(root, kb.embedder, english=embedder).learned())
    store.close()


def test_ui_reads_of_the_handoff_queue_and_a_ticket_are_audited(demo_bot):
    import gradio as gr

    from apps.support_bot.ui import ticket_rows, ticket_view

    demo_bot.store.add_message("s-ui-audit", "user", "I want to talk to a person about my order")
    ticket = demo_bot.store.create_ticket("s-ui-audit", "asked for a person")
    log = AuditLog.for_settings(demo_bot.settings)
    seen = len(log.entries())
    agent = gr.Request(username="agent-7")  # the login of a UI with portal.auth
    assert ticket.id in [row[0] for row in ticket_rows(demo_bot, "open", agent)]
    assert "about my order" in ticket_view(demo_bot, ticket.id, agent)
    new = log.entries()[seen:]
    assert [(e.actor, e.action, e.kind, e.target) for e in new] == [
        ("ui:agent-7", "read", "tickets", "open"),
        ("ui:agent-7", "read", "ticket", str(ticket.id)),
    ]
    demo_bot.store.forget(session_id="s-ui-audit")


def test_forget_names_the_runs_trained_on_exported_conversations(tmp_path):
    from core.training.config import TrainConfig, prepare_run_data
    from core.training.defaults import choose
    from core.training.runs import start_run

    settings = settings_in(tmp_path)
    store = Store.for_settings(settings)
    for i, topic in enumerate(["parcel", "refund", "invoice", "password", "warranty", "delivery"]):
        store.add_message(f"s{i}", "user", f"How do I check my {topic}?")
        store.add_feedback(store.add_message(f"s{i}", "assistant", f"Open Account, then {topic.title()}."), 1)
    data = tmp_path / "chats.jsonl"
    assert export_training(store, data) == [f"s{i}" for i in range(6)]
    assert json.loads(data.read_text().splitlines()[0])["messages"][1]["content"] == "Open Account, then Parcel."
    # What `llmeco train` does before it loads a model: prepare the data and start the run folder (a real training
    # step adds minutes on a shared CPU and nothing to lineage).
    cfg = TrainConfig(data=str(data), name="from-chats")
    prepared = prepare_run_data(cfg)
    run_dir = settings.runs_dir / "from-chats"
    chosen = choose(cfg, len(prepared.train), "llama", "text-generation")
    start_run(run_dir, cfg, chosen, prepared, base_ref=cfg.model, base_path=tmp_path, task="text-generation")
    report = retention.forget(settings, [BotData(store)], session_id="s3")
    assert report.runs == {str(run_dir): ["s3"]}
    store.close()


def test_purge_on_both_backends(store_url):
    store = Store(store_url)
    for sid in ("old-1", "old-2", "new"):
        _conversation(store, sid, user=f"cust-{sid}")
    _age(store_url, "old-1", 40)
    _age(store_url, "old-2", 40)
    before = datetime.now(timezone.utc) - timedelta(days=30)
    assert store.purge(before, anonymise=True)["conversations"] == 2
    assert store.purge(before)["messages"] == 4  # the anonymised ones go too when deleting
    assert _count(store_url, "conversations") == 1 and store.forget(user_id="cust-new")[1] == ["new"]
    store.close()
