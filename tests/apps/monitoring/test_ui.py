"""The portal's monitoring page on small real stores: a bot store with replies over three days and a document store
with accepted suggestions; unanswered questions grouped by meaning with the real MiniLM embedder."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import gradio as gr
import pytest

from apps import app_modules
from apps.monitoring import ui
from apps.support_bot.config import bot_home
from apps.support_bot.store import Store
from apps.writing_assistant.store import DocumentStore
from tests.conftest import settings_in

# (days ago, question, action, confidence)
TURNS = [
    (2, "Do you ship to Canada?", "answer", 0.9),
    (2, "How long do refunds take?", "answer", 0.8),
    (1, "Where is my parcel?", "clarify", 0.4),
    (1, "Do you ship to Canada?", "answer", 0.85),
    (0, "where is my package", "handoff", 0.3),
    (0, "Where is my parcel?", "clarify", 0.35),
    (0, "Can I pay with bitcoin?", "handoff", 0.2),
]
# turn -> (the chat model version that wrote the reply, its rating): a canary of support-lm
RATED = {0: ("support-lm@v1", -1), 1: ("support-lm@v2", 1), 3: ("support-lm@v2", 1)}


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    settings = settings_in(tmp_path_factory.mktemp("monitoring-home"))
    store = Store.for_settings(settings)
    reply_ids = {}
    for i, (ago, question, action, confidence) in enumerate(TURNS):
        session = f"s{i}"
        store.add_message(session, "user", question, intent="x", confidence=confidence)
        model, rating = RATED.get(i, (None, None))
        reply = store.add_message(session, "assistant", "...", action=action, confidence=confidence, model=model)
        reply_ids[reply] = ago
        if rating:
            store.add_feedback(reply, rating)
    store.close()
    # the store stamps rows with the current time: move the replies and their questions back to their day
    with sqlite3.connect(bot_home(settings) / "bot.db") as db:
        for reply_id, ago in reply_ids.items():
            when = (datetime.now(timezone.utc) - timedelta(days=ago)).strftime("%Y-%m-%d %H:%M:%S.%f")
            db.execute("UPDATE messages SET created_at = ? WHERE id IN (?, ?)", (when, reply_id - 1, reply_id))
    docs = DocumentStore.for_settings(settings)
    doc = docs.create("Letter", "Teh cat sat.", "en")
    docs.save(doc.id, "The cat sat.", "accepted 1 of 2")
    docs.close()
    return settings


def test_the_page_plots_the_stores_per_day(stores, embedder):
    page = ui.page(stores, days=7, embedder=embedder)
    assert page.stats.actions == {"answer": 3, "clarify": 2, "handoff": 2}
    actions = page.actions.axes[0]
    assert len(actions.patches) == 3 * 7 and sum(p.get_height() for p in actions.patches) == len(TURNS)
    boxes = page.confidence.axes[0].lines
    assert boxes, "one box per day with replies"
    (rate,) = page.unanswered_rate.axes[0].lines
    assert [round(y) for y in rate.get_ydata()] == [0, 50, 100]  # per day, oldest first
    topics = {row[0]: row[1] for row in page.topics}
    assert topics["Where is my parcel?"] == 3, page.topics  # "where is my package" joins it
    assert topics["Can I pay with bitcoin?"] == 1 and len(topics) == 2
    writing = page.writing.axes[0]
    assert sorted(p.get_height() for p in writing.patches if p.get_height()) == [1, 2]
    assert page.versions == [["support-lm@v1", 1, 0, 1, "0%"], ["support-lm@v2", 2, 2, 0, "100%"]]


def test_an_empty_window_shows_no_data(tmp_path, embedder):
    page = ui.page(settings_in(tmp_path), days=3, embedder=embedder)
    for fig in (page.actions, page.confidence, page.unanswered_rate, page.writing):
        assert "no data yet" in [t.get_text() for t in fig.axes[0].texts]
    assert page.topics == [] and page.versions == []


def test_the_tab_builds_and_the_portal_lists_it(stores):
    assert "apps.monitoring.ui" in [m.__name__ for m in app_modules("ui")]
    with gr.Blocks():
        ui.build(stores)
