"""Charts of the bot's activity from ``Store.stats()``, as matplotlib Figures (a Gradio ``gr.Plot`` shows them).

Figures are built with ``matplotlib.figure.Figure`` rather than pyplot: no global figure registry to leak from a
long-running server, and rendering uses the Agg canvas whatever backend pyplot would pick."""

from __future__ import annotations

from datetime import timedelta

from matplotlib import dates as mdates
from matplotlib import font_manager, rcParams
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from apps.support_bot.store import Stats

UNANSWERED_COLUMNS = ("question", "count")
_ACTION_COLORS = {"answer": "#2e7d32", "clarify": "#f9a825", "handoff": "#c62828"}
# Appended to the sans-serif fallback list: matplotlib tries fonts glyph by glyph, so Chinese text renders wherever
# one of these is installed (elsewhere it shows boxes and logs a warning, without failing).
_CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Arial Unicode MS",
)


def _add_cjk_fallback() -> None:
    installed = {f.name for f in font_manager.fontManager.ttflist}
    fallback = rcParams["font.sans-serif"]
    rcParams["font.sans-serif"] = [*fallback, *(f for f in _CJK_FONTS if f in installed and f not in fallback)]


_add_cjk_fallback()


def _figure(title: str) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(8, 3.6), layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title)
    return fig, ax


def _no_data(fig: Figure, ax: Axes) -> Figure:
    ax.set_axis_off()
    ax.text(0.5, 0.5, "no data yet", ha="center", va="center", fontsize=14, color="gray", transform=ax.transAxes)
    return fig


def volume_plot(stats: Stats) -> Figure:
    """Messages (bars) and active conversations (line) per day."""
    fig, ax = _figure(f"Volume per day since {stats.since:%Y-%m-%d}")
    if not stats.messages:
        return _no_data(fig, ax)
    days = [d.day for d in stats.daily]
    ax.bar(days, [d.messages for d in stats.daily], color="#90caf9", label="messages")
    ax.plot(days, [d.conversations for d in stats.daily], color="#1565c0", marker="o", ms=3, label="conversations")
    ax.set_xlim(days[0] - timedelta(days=1), days[-1] + timedelta(days=1))  # whole days, even for a 1-day window
    ax.xaxis.set_major_locator(mdates.DayLocator(interval=max(1, len(days) // 8)))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="upper left")
    return fig


def actions_plot(stats: Stats) -> Figure:
    """Share of replies that answered, asked to clarify, or handed over to a human."""
    fig, ax = _figure(f"Replies by action ({sum(stats.actions.values())} replies)")
    if not any(stats.actions.values()):
        return _no_data(fig, ax)
    names = list(stats.actions)
    rates = [stats.action_rates[a] * 100 for a in names]
    bars = ax.barh(names, rates, color=[_ACTION_COLORS[a] for a in names])
    ax.bar_label(bars, labels=[f"{stats.actions[a]} ({r:.0f}%)" for a, r in zip(names, rates, strict=True)], padding=3)
    ax.set_xlim(0, 115)  # room for the labels
    ax.set_xlabel("% of replies")
    ax.invert_yaxis()  # answer on top
    return fig


def satisfaction_plot(stats: Stats) -> Figure:
    """Thumbs up and down given to replies, with the satisfaction rate in the title."""
    rate = stats.satisfaction
    fig, ax = _figure("Satisfaction" if rate is None else f"Satisfaction {rate:.0%}")
    if rate is None:
        return _no_data(fig, ax)
    bars = ax.bar(["thumbs up", "thumbs down"], [stats.thumbs_up, stats.thumbs_down], color=["#2e7d32", "#c62828"])
    ax.bar_label(bars, padding=3)
    ax.margins(y=0.12)  # room for the labels
    ax.yaxis.get_major_locator().set_params(integer=True)
    return fig


def unanswered_table(stats: Stats) -> list[list]:
    """Rows of ``UNANSWERED_COLUMNS``: the questions to add to the knowledge base first."""
    return [[u.text, u.count] for u in stats.unanswered]
