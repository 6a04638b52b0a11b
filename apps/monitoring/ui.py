"""Portal tab "Monitoring": how the apps do over days, from what their stores already keep (live request metrics are
Prometheus's job, docker/monitoring/). Support bot: replies per action per day, the intent-confidence distribution
per day, the unanswered-question rate, and the top unanswered topics (questions grouped by meaning with ``core``
embeddings). Writing assistant: suggestions accepted and offered per day (versions saved with "accepted N of M")."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import gradio as gr
import numpy as np
from matplotlib import dates as mdates
from matplotlib.figure import Figure

from apps.support_bot.analytics import _ACTION_COLORS, _figure, _no_data
from apps.support_bot.store import Stats, Store, Unanswered
from apps.writing_assistant.store import DocumentStore
from core.config import Settings
from core.embeddings import Embedder, load_embedder
from core.errors import LLMEcoError

TITLE = "Monitoring 监控"
ORDER = 90
TOPIC_COLUMNS = ("topic", "questions", "examples")
TOPIC_SIMILARITY = 0.6  # cosine similarity for a question to join a topic (MiniLM; paraphrases score ~0.7-0.9)
_ACCEPTED = re.compile(r"accepted (\d+) of (\d+)")


@dataclass
class Topic:
    label: str  # the most frequent question of the group
    count: int  # questions in it (with repeats)
    examples: list[str]


def _days(days: int) -> list[date]:
    today = datetime.now(timezone.utc).date()  # the stores keep UTC
    return [today - timedelta(days=days - 1 - i) for i in range(days)]


def _axis_days(fig: Figure, ax, days: list[date]) -> Figure:
    ax.set_xlim(days[0] - timedelta(days=1), days[-1] + timedelta(days=1))
    ax.xaxis.set_major_locator(mdates.DayLocator(interval=max(1, len(days) // 8)))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
    return fig


def _by_day(replies: list[tuple[datetime, str, float | None]]) -> dict[date, list[tuple[str, float | None]]]:
    out: dict[date, list[tuple[str, float | None]]] = defaultdict(list)
    for when, action, confidence in replies:
        out[when.date()].append((action, confidence))
    return out


def actions_per_day_plot(replies: list[tuple[datetime, str, float | None]], days: int) -> Figure:
    """Replies per day, stacked by action (answer, clarify, handoff)."""
    fig, ax = _figure(f"Bot replies per day by action (last {days} days)")
    if not replies:
        return _no_data(fig, ax)
    axis, per_day = _days(days), _by_day(replies)
    bottom = np.zeros(len(axis))
    for action, color in _ACTION_COLORS.items():
        counts = np.array([sum(a == action for a, _ in per_day.get(d, [])) for d in axis])
        ax.bar(axis, counts, bottom=bottom, color=color, label=action)
        bottom += counts
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="upper left")
    return _axis_days(fig, ax, axis)


def confidence_plot(replies: list[tuple[datetime, str, float | None]], days: int) -> Figure:
    """The intent-confidence distribution per day (box plots): drift shows as boxes sliding down."""
    fig, ax = _figure("Intent confidence per day")
    per_day = {d: [c for _, c in rows if c is not None] for d, rows in _by_day(replies).items()}
    shown = [(d, v) for d, v in sorted(per_day.items()) if v]
    if not shown:
        return _no_data(fig, ax)
    ax.boxplot([v for _, v in shown], positions=[mdates.date2num(d) for d, _ in shown], widths=0.6, manage_ticks=False)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("confidence")
    return _axis_days(fig, ax, _days(days))


def unanswered_rate_plot(replies: list[tuple[datetime, str, float | None]], days: int) -> Figure:
    """Share of replies per day that did not answer (clarify or handoff)."""
    fig, ax = _figure("Unanswered-question rate per day (clarify + handoff)")
    if not replies:
        return _no_data(fig, ax)
    axis, per_day = _days(days), _by_day(replies)
    with_replies = [d for d in axis if per_day.get(d)]
    rates = [100 * sum(a != "answer" for a, _ in per_day[d]) / len(per_day[d]) for d in with_replies]
    ax.plot(with_replies, rates, color="#c62828", marker="o", ms=4)
    ax.set_ylim(0, 105)
    ax.set_ylabel("% of replies")
    return _axis_days(fig, ax, axis)


def topics(unanswered: list[Unanswered], embedder: Embedder, top: int = 10) -> list[Topic]:
    """Group the unanswered questions by meaning: each joins the first, most frequent group whose leading question
    it resembles (cosine >= TOPIC_SIMILARITY), else starts one. Most asked first."""
    if not unanswered:
        return []
    ordered = sorted(unanswered, key=lambda u: (-u.count, u.text))
    vectors = embedder.embed([u.text for u in ordered])
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    leaders: list[int] = []
    members: dict[int, list[int]] = {}
    for i in range(len(ordered)):
        sims = [float(vectors[i] @ vectors[j]) for j in leaders]
        best = int(np.argmax(sims)) if sims else -1
        if best >= 0 and sims[best] >= TOPIC_SIMILARITY:
            members[leaders[best]].append(i)
        else:
            leaders.append(i)
            members[i] = [i]
    found = [
        Topic(ordered[j].text, sum(ordered[i].count for i in members[j]), [ordered[i].text for i in members[j]])
        for j in leaders
    ]
    return sorted(found, key=lambda t: (-t.count, t.label))[:top]


def topics_table(found: list[Topic]) -> list[list]:
    """Rows of ``TOPIC_COLUMNS``."""
    return [[t.label, t.count, " | ".join(t.examples[:5])] for t in found]


def writing_plot(store: DocumentStore, days: int) -> Figure:
    """Writing suggestions accepted and offered per day, from versions saved with "accepted N of M"."""
    fig, ax = _figure("Writing suggestions per day")
    axis = _days(days)
    accepted, offered = Counter(), Counter()
    for doc in store.list():
        for v in store.versions(doc["id"]):
            if m := _ACCEPTED.fullmatch(v.note):
                day = datetime.fromisoformat(v.created_at).astimezone(timezone.utc).date()
                accepted[day] += int(m[1])
                offered[day] += int(m[2])
    if not any(offered[d] for d in axis):
        return _no_data(fig, ax)
    ax.bar(axis, [offered[d] for d in axis], color="#90caf9", label="offered")
    ax.bar(axis, [accepted[d] for d in axis], color="#2e7d32", label="accepted")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="upper left")
    return _axis_days(fig, ax, axis)


@dataclass
class Page:
    """Everything the tab shows for one window of days."""

    actions: Figure
    confidence: Figure
    unanswered_rate: Figure
    topics: list[list]
    writing: Figure
    stats: Stats
    versions: list[list]  # feedback per chat model / version (VERSION_COLUMNS)


VERSION_COLUMNS = ("chat model (version)", "replies", "thumbs up", "thumbs down", "satisfaction")


def versions_table(stats: Stats) -> list[list]:
    """The bot's replies and ratings per chat model version: a canary's candidate next to the active version."""
    return [
        [m, f.replies, f.thumbs_up, f.thumbs_down, "n/a" if f.satisfaction is None else f"{f.satisfaction:.0%}"]
        for m, f in stats.by_model.items()
    ]


def page(settings: Settings, days: int, embedder: Embedder | None = None) -> Page:
    """Read the stores and build every plot; ``embedder`` defaults to the configured one (loaded when needed)."""
    bot = Store.for_settings(settings)
    docs = DocumentStore.for_settings(settings)
    try:
        replies = bot.replies(days)
        stats = bot.stats(days, top=200)
        grouped = topics(stats.unanswered, embedder or load_embedder(None, settings)) if stats.unanswered else []
        return Page(
            actions_per_day_plot(replies, days),
            confidence_plot(replies, days),
            unanswered_rate_plot(replies, days),
            topics_table(grouped),
            writing_plot(docs, days),
            stats,
            versions_table(stats),
        )
    finally:
        bot.close()
        docs.close()


def build(settings: Settings) -> None:
    gr.Markdown(
        "Quality over days from the apps' stores. Live request metrics and alerts: Prometheus and Grafana "
        "(`docker compose --profile monitoring`, see the README)."
    )
    with gr.Row():
        days = gr.Slider(1, 90, value=14, step=1, label="Days")
        refresh = gr.Button("Refresh", variant="primary")
    with gr.Row():
        actions, rate = gr.Plot(label="Replies by action"), gr.Plot(label="Unanswered rate")
    with gr.Row():
        confidence, writing = gr.Plot(label="Intent confidence"), gr.Plot(label="Writing suggestions")
    table = gr.Dataframe(headers=list(TOPIC_COLUMNS), label="Top unanswered topics", wrap=True)
    versions = gr.Dataframe(headers=list(VERSION_COLUMNS), label="Support bot feedback per chat model version")

    def show(n: float):
        try:
            p = page(settings, int(n))
        except LLMEcoError as exc:
            raise gr.Error(str(exc)) from None
        return p.actions, p.unanswered_rate, p.confidence, p.writing, p.topics, p.versions

    outputs = [actions, rate, confidence, writing, table, versions]
    refresh.click(show, days, outputs)
