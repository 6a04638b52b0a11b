"""Analytics charts render to PNG from real stats, from an empty store, and with Chinese labels."""

from __future__ import annotations

import io

import pytest

from apps.support_bot.analytics import (
    UNANSWERED_COLUMNS,
    actions_plot,
    satisfaction_plot,
    unanswered_table,
    volume_plot,
)
from apps.support_bot.store import Store

PLOTS = (volume_plot, actions_plot, satisfaction_plot)


def png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in (ax.title, *ax.texts)]


@pytest.fixture
def store(sqlite_url):
    s = Store(sqlite_url)
    yield s
    s.close()


def test_charts_from_a_real_history(store):
    for sid, question, action in [
        ("a", "退款要多久？", "clarify"),
        ("a", "退款要多久", "handoff"),
        ("b", "Where is my order?", "clarify"),
        ("b", "What are your opening hours?", "answer"),
    ]:
        store.add_message(sid, "user", question)
        reply = store.add_message(sid, "assistant", "…", action=action)
    store.add_feedback(reply, 1)
    stats = store.stats(days=14)

    for plot in PLOTS:
        fig = plot(stats)
        assert png(fig).startswith(b"\x89PNG") and "no data yet" not in texts(fig)
    assert "Satisfaction 100%" in texts(satisfaction_plot(stats))
    assert unanswered_table(stats) == [["退款要多久", 2], ["Where is my order?", 1]]  # wording ties go by text
    assert len(UNANSWERED_COLUMNS) == len(unanswered_table(stats)[0])


def test_empty_stats_say_no_data_yet(store):
    stats = store.stats()
    for plot in PLOTS:
        fig = plot(stats)
        assert "no data yet" in texts(fig) and png(fig).startswith(b"\x89PNG")
    assert unanswered_table(stats) == []


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")  # no CJK font on minimal machines
def test_chinese_labels_render(store):
    store.add_message("s", "user", "你好")
    fig = volume_plot(store.stats())
    fig.axes[0].set_title("每日消息量")  # shows boxes where no CJK font is installed, but never fails
    fig.axes[0].set_xlabel("日期")
    assert png(fig).startswith(b"\x89PNG")
