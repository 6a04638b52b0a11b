"""Support bot web UI: streaming chat with sources and thumbs up/down, knowledge-base management with a
"test a question" panel, the handoff queue and analytics. A tab in the portal, or standalone (`llmeco bot ui`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gradio as gr

from apps.support_bot import analytics
from apps.support_bot.bot import SupportBot
from apps.support_bot.learning import Learning
from core.config import Settings
from core.errors import LLMEcoError
from core.governance.audit import AuditLog
from core.governance.ui_cache import blocks_options

TITLE = "Support bot 客服"
ORDER = 10

EXAMPLES = [
    "How long do refunds take?",
    "Do you ship to Canada?",
    "退货需要多长时间退款？",
    "满多少钱包邮？",
    "I want to talk to a human",
]


MAX_CHOICE_BUTTONS = 3


def sources_markdown(sources: list[dict]) -> str:
    if not sources or any(s.get("choice") for s in sources):  # offered questions are shown as buttons instead
        return ""
    lines = [
        f"[{i}] {s.get('question') or s['title']} — {s['source']} (match {max(s['dense'], s['question_match']):.2f})"
        for i, s in enumerate(sources, 1)
    ]
    return "\n\n<small>Sources 来源:<br>" + "<br>".join(lines) + "</small>"


def chat_turn(bot: SupportBot, message: str, history: list[dict], session_id: str | None, ids: dict) -> Iterator:
    """Stream one turn: yields (history, textbox, session id, message ids, status line, offered questions)."""
    message = (message or "").strip()
    if not message:
        raise gr.Error("Type a question first. 请输入问题。")
    history = [*history, {"role": "user", "content": message}, {"role": "assistant", "content": ""}]
    try:
        text = ""
        for kind, value in bot.stream(message, session_id):
            if kind == "delta":
                text += value
                history[-1] = {"role": "assistant", "content": text}
                yield history, "", session_id, ids, "", []
            else:
                reply = value
    except LLMEcoError as exc:
        raise gr.Error(str(exc)) from None
    yield _finish(history, reply, ids)


def _finish(history: list[dict], reply, ids: dict) -> tuple:
    """The last yield of a turn: the full answer with its sources, and the offered questions (if any)."""
    history[-1] = {"role": "assistant", "content": reply.answer + sources_markdown(reply.sources)}
    ids = {**ids, str(len(history) - 1): reply.message_id}
    ticket = f" · ticket #{reply.ticket_id}" if reply.ticket_id else ""
    status = (
        f"**{reply.action}** ({reply.mode}) · intent `{reply.intent['name']}` {reply.intent['confidence']:.2f}"
        f" · {reply.latency_ms:.0f} ms{ticket}"
    )
    choices = [(c["id"], c["question"]) for c in reply.sources if c.get("choice")]
    return history, "", reply.session_id, ids, status, choices


def choose_turn(bot: SupportBot, index: int, history: list[dict], session_id: str, ids: dict, choices: list):
    """The customer clicked offered question ``index``: show it as their message and answer it."""
    if session_id is None or index >= len(choices):
        raise gr.Error("Ask a question first. 请先提问。")
    entry_id, question = choices[index]
    try:
        reply = bot.choose(session_id, entry_id)
    except LLMEcoError as exc:
        raise gr.Error(str(exc)) from None
    history = [*history, {"role": "user", "content": question}, {"role": "assistant", "content": ""}]
    return _finish(history, reply, ids)


def _buttons(choices: list) -> list:
    return [
        gr.update(visible=i < len(choices), value=choices[i][1] if i < len(choices) else "")
        for i in range(MAX_CHOICE_BUTTONS)
    ]


def _chat_tab(bot: SupportBot) -> None:
    session = gr.State(None)
    ids = gr.State({})
    chatbot = gr.Chatbot(height=430, label="Chat 对话", buttons=["copy", "copy_all"], elem_id="bot-chat")
    status = gr.Markdown(elem_id="bot-status")
    with gr.Row():
        box = gr.Textbox(
            placeholder="Ask about orders, returns, shipping… 请输入您的问题",
            show_label=False,
            scale=5,
            elem_id="bot-input",
        )
        send = gr.Button("Send 发送", variant="primary", scale=1, elem_id="bot-send")
        new = gr.Button("New chat 新对话", scale=1)
    offered = gr.State([])
    with gr.Row():  # a clarifying reply's closest FAQ questions, one click each
        buttons = [gr.Button(visible=False, size="sm", elem_id=f"bot-choice-{i}") for i in range(MAX_CHOICE_BUTTONS)]
    gr.Examples(EXAMPLES, inputs=box)

    def respond(message, history, session_id, id_map):
        for *values, choices in chat_turn(bot, message, history, session_id, id_map):
            yield *values, choices, *_buttons(choices)

    def pick(index: int):
        def handler(history, session_id, id_map, choices):
            *values, remaining = choose_turn(bot, index, history, session_id, id_map, choices)
            return *values, remaining, *_buttons(remaining)

        return handler

    outputs = [chatbot, box, session, ids, status, offered, *buttons]
    send.click(respond, [box, chatbot, session, ids], outputs, api_name="bot_chat")
    box.submit(respond, [box, chatbot, session, ids], outputs, api_name=False)
    for i, button in enumerate(buttons):
        button.click(pick(i), [chatbot, session, ids, offered], outputs, api_name=False)
    new.click(
        lambda: ([], None, {}, "", [], *_buttons([])),
        None,
        [chatbot, session, ids, status, offered, *buttons],
        api_name=False,
    )

    def feedback(id_map: dict, data: gr.LikeData) -> str:
        message_id = id_map.get(str(data.index if isinstance(data.index, int) else data.index[0]))
        if message_id is None:
            return "Feedback works on the bot's answers."
        liked = data.liked is True or data.liked == "like"
        bot.store.add_feedback(message_id, 1 if liked else -1)
        if not liked:
            Learning(bot).from_feedback(message_id)
        return "Thanks for the feedback! 感谢反馈！"

    chatbot.like(feedback, [ids], [status], api_name=False)


def _table(rows: list[list], headers: list[str]) -> dict:
    return {"headers": headers, "data": rows or [[""] * len(headers)]}


def _kb_tab(bot: SupportBot) -> None:
    def source_rows() -> list[list]:
        return [[s.id, s.kind, s.entries, s.ingested_at] for s in bot.kb.sources()]

    headers = ["source", "kind", "entries", "ingested"]
    with gr.Row():
        with gr.Column():
            files = gr.File(
                label="Upload FAQ (CSV/XLSX/JSONL) or documents (MD/HTML/TXT/PDF/DOCX)", file_count="multiple"
            )
            upload = gr.Button("Ingest 导入", variant="primary")
            report = gr.Markdown()
        with gr.Column():
            sources = gr.Dataframe(value=_table(source_rows(), headers), label="Sources 来源", interactive=False)
            with gr.Row():
                victim = gr.Dropdown([r[0] for r in source_rows()], label="Source to delete", scale=3)
                delete = gr.Button("Delete 删除", variant="stop", scale=1)

    def do_ingest(paths: list[str] | None, progress=gr.Progress()):
        if not paths:
            raise gr.Error("Choose files to upload first.")
        too_big = [Path(p).name for p in paths if Path(p).stat().st_size > bot.config.max_upload_mb * 1024 * 1024]
        if too_big:
            raise gr.Error(f"Larger than the {bot.config.max_upload_mb} MB limit: {', '.join(too_big)}")
        try:
            bot.kb.check_room([Path(p).name for p in paths], bot.config.max_kb_files)
        except LLMEcoError as exc:
            raise gr.Error(str(exc)) from None
        results = bot.kb.ingest(
            [Path(p) for p in paths], progress=lambda done, total, name: progress((done, total), desc=name)
        )
        bot.refresh(background=True)
        lines = [f"- **{r.status}** {r.name}: {r.error or f'{r.entries} entries'}" for r in results]
        rows = source_rows()
        return "\n".join(lines), _table(rows, headers), gr.update(choices=[r[0] for r in rows])

    def do_delete(source_id: str | None):
        if not source_id:
            raise gr.Error("Pick a source to delete.")
        try:
            removed = bot.kb.delete(source_id)
        except LLMEcoError as exc:
            raise gr.Error(str(exc)) from None
        bot.refresh(background=True)
        rows = source_rows()
        return f"Deleted {removed.id}.", _table(rows, headers), gr.update(choices=[r[0] for r in rows], value=None)

    upload.click(do_ingest, [files], [report, sources, victim], api_name=False)
    delete.click(do_delete, [victim], [report, sources, victim], api_name=False)

    gr.Markdown("### Test a question 测试检索")
    with gr.Row():
        probe = gr.Textbox(label="Question", scale=4, elem_id="kb-probe")
        go = gr.Button("Search", scale=1)
    hit_headers = ["#", "title / question", "source", "kind", "fused", "dense", "bm25"]
    hits = gr.Dataframe(value=_table([], hit_headers), label="Retrieved entries", interactive=False)

    def search(q: str):
        if not (q or "").strip():
            raise gr.Error("Type a question to test.")
        rows = [
            [
                i,
                h.entry.question or h.entry.title,
                h.entry.source_id,
                h.entry.kind,
                f"{h.score:.4f}",
                f"{h.dense:.3f}",
                f"{h.bm25:.2f}",
            ]
            for i, h in enumerate(bot.kb.search(q, k=8), 1)
        ]
        return _table(rows, hit_headers)

    go.click(search, [probe], [hits], api_name=False)
    probe.submit(search, [probe], [hits], api_name=False)


def ticket_rows(bot: SupportBot, status: str, request: gr.Request | None = None) -> list[list]:
    """The handoff queue (``open``, ``resolved`` or ``all``), in the audit log as a read by the UI's user, as
    ``GET /api/handoff/tickets`` is."""
    AuditLog.for_settings(bot.settings).ui(request, "read", "tickets", status)
    return [
        [
            t.id,
            t.status,
            f"{t.created_at:%Y-%m-%d %H:%M}",
            t.reason,
            next((m["text"] for m in reversed(t.transcript) if m["role"] == "user"), ""),
        ]
        for t in bot.store.tickets(None if status == "all" else status)
    ]


def ticket_view(bot: SupportBot, number: float | None, request: gr.Request | None = None) -> str:
    """A ticket with its transcript as Markdown, in the audit log as ``GET /api/handoff/tickets/{id}`` is."""
    if not number:
        return ""
    AuditLog.for_settings(bot.settings).ui(request, "read", "ticket", int(number))
    t = bot.store.ticket(int(number))
    lines = [f"**{m['role']}**: {m['text']}" for m in t.transcript]
    return f"#### Ticket #{t.id} — {t.reason}\n\n" + "\n\n".join(lines)


def _queue_tab(bot: SupportBot, tab: gr.Tab) -> None:
    headers = ["#", "status", "created", "reason", "last customer message"]

    def rows(status: str, request: gr.Request) -> dict:
        return _table(ticket_rows(bot, status, request), headers)

    with gr.Row():
        status = gr.Radio(["open", "resolved", "all"], value="open", label="Tickets", scale=3)
        refresh = gr.Button("Refresh 刷新", scale=1, elem_id="queue-refresh")
    # Filled when the tab is opened, not when the UI is built: every showing of the queue is a recorded read.
    table = gr.Dataframe(
        value=_table([], headers), label="Handoff queue 人工队列", interactive=False, elem_id="queue-table"
    )
    with gr.Row():
        ticket_id = gr.Number(label="Ticket #", precision=0, scale=1)
        note = gr.Textbox(label="Resolution note", scale=2)
        reply = gr.Textbox(label="Reply to the customer (the bot learns from it)", scale=3, elem_id="queue-reply")
        resolve = gr.Button("Resolve 解决", variant="primary", scale=1)
    transcript = gr.Markdown()

    def show(number, request: gr.Request):
        try:
            return ticket_view(bot, number, request)
        except LLMEcoError as exc:
            raise gr.Error(str(exc)) from None

    def do_resolve(number, text, answer, current, request: gr.Request):
        if not number:
            raise gr.Error("Enter a ticket number.")
        try:
            ticket = bot.store.resolve_ticket(int(number), text or "", reply=answer)
            if (answer or "").strip():
                Learning(bot).from_ticket(ticket, answer)
        except LLMEcoError as exc:
            raise gr.Error(str(exc)) from None
        return rows(current, request), show(number, request)

    tab.select(rows, [status], [table], api_name=False)
    refresh.click(rows, [status], [table], api_name=False)
    status.change(rows, [status], [table], api_name=False)
    ticket_id.change(show, [ticket_id], [transcript], api_name=False)
    resolve.click(do_resolve, [ticket_id, note, reply, status], [table, transcript], api_name=False)


def _suggestions_tab(bot: SupportBot) -> None:
    """The review queue: approve (after editing) or reject what the bot learned from handoffs and ratings."""
    learning = Learning(bot)
    headers = ["#", "kind", "question", "answer / FAQ entry / intent", "from", "note"]

    def rows(status: str) -> dict:
        found = bot.store.suggestions(None if status == "all" else status)
        data = [
            [
                s.id,
                s.kind,
                s.question,
                {"faq": s.answer, "paraphrase": s.entry_id, "intent": s.label}[s.kind] or "",
                s.origin,
                s.note or "",
            ]
            for s in found
        ]
        return _table(data, headers)

    with gr.Row():
        status = gr.Radio(["pending", "approved", "rejected", "all"], value="pending", label="Suggestions", scale=3)
        refresh = gr.Button("Refresh 刷新", scale=1, elem_id="suggestions-refresh")
    table = gr.Dataframe(value=rows("pending"), label="Review queue 待审核", interactive=False, elem_id="suggestions")
    with gr.Row():
        number = gr.Number(label="Suggestion #", precision=0, scale=1, elem_id="suggestion-id")
        question = gr.Textbox(label="Question", scale=3, elem_id="suggestion-question")
        target = gr.Textbox(label="Answer / FAQ entry id / intent label", scale=4, elem_id="suggestion-target")
    with gr.Row():
        approve = gr.Button("Approve 通过", variant="primary", elem_id="suggestion-approve")
        reject = gr.Button("Reject 拒绝", variant="stop", elem_id="suggestion-reject")
    result = gr.Markdown(elem_id="suggestion-result")

    def load(n):
        if not n:
            return "", ""
        try:
            s = bot.store.suggestion(int(n))
        except LLMEcoError as exc:
            raise gr.Error(str(exc)) from None
        return s.question, {"faq": s.answer, "paraphrase": s.entry_id, "intent": s.label}[s.kind] or ""

    def do_approve(n, q, value, current):
        if not n:
            raise gr.Error("Enter a suggestion number.")
        try:
            kind = bot.store.suggestion(int(n)).kind
            field = {"faq": "answer", "paraphrase": "entry_id", "intent": "label"}[kind]
            s = learning.approve(int(n), question=q or None, background=True, **{field: value or None})
        except LLMEcoError as exc:
            raise gr.Error(str(exc)) from None
        where = "waits for `llmeco bot retrain`" if s.kind == "intent" else "is in the knowledge base"
        return rows(current), f"Approved #{s.id} ({s.kind}): it {where}."

    def do_reject(n, current):
        if not n:
            raise gr.Error("Enter a suggestion number.")
        try:
            s = learning.reject(int(n))
        except LLMEcoError as exc:
            raise gr.Error(str(exc)) from None
        return rows(current), f"Rejected #{s.id}."

    def do_refresh(current):
        added = learning.refresh()
        return rows(current), f"{len(added)} new suggestion(s)."

    refresh.click(do_refresh, [status], [table, result], api_name=False)
    status.change(rows, [status], [table], api_name=False)
    number.change(load, [number], [question, target], api_name=False)
    approve.click(do_approve, [number, question, target, status], [table, result], api_name=False)
    reject.click(do_reject, [number, status], [table, result], api_name=False)


def _analytics_tab(bot: SupportBot) -> None:
    days = gr.Slider(1, 365, value=30, step=1, label="Days")
    refresh = gr.Button("Refresh 刷新")
    summary = gr.Markdown()
    with gr.Row():
        volume = gr.Plot(label="Volume")
        actions = gr.Plot(label="Answer / clarify / handoff")
    with gr.Row():
        satisfaction = gr.Plot(label="Satisfaction")
        unanswered = gr.Dataframe(label="Top unanswered questions", interactive=False)

    def update(n):
        stats = bot.store.stats(days=int(n))
        rates = ", ".join(f"{k} {v:.0%}" for k, v in stats.action_rates.items())
        sat = "n/a" if stats.satisfaction is None else f"{stats.satisfaction:.0%}"
        text = f"**{stats.messages}** messages · {rates} · satisfaction {sat} · open tickets {stats.open_tickets}"
        return (
            text,
            analytics.volume_plot(stats),
            analytics.actions_plot(stats),
            analytics.satisfaction_plot(stats),
            _table(analytics.unanswered_table(stats), ["question", "count"]),
        )

    refresh.click(update, [days], [summary, volume, actions, satisfaction, unanswered], api_name=False)


def components(bot: SupportBot) -> None:
    """Every part of the UI, inside the current Blocks context."""
    with gr.Tabs():
        with gr.Tab("Chat 对话"):
            _chat_tab(bot)
        with gr.Tab("Knowledge base 知识库"):
            _kb_tab(bot)
        with gr.Tab("Handoff queue 人工队列", elem_id="tab-queue") as queue:
            _queue_tab(bot, queue)
        with gr.Tab("Suggestions 学习建议", elem_id="tab-suggestions"):
            _suggestions_tab(bot)
        with gr.Tab("Analytics 统计"):
            _analytics_tab(bot)


def build_ui(bot: SupportBot) -> gr.Blocks:
    with gr.Blocks(title=f"{bot.persona.company['en']} support", **blocks_options(bot.settings)) as blocks:
        gr.Markdown(f"## {bot.persona.company['en']} · {bot.persona.company['zh']} support bot")
        components(bot)
    return blocks


def build(settings: Settings) -> None:
    """The portal tab."""
    from apps.support_bot.cli import open_bot

    components(open_bot(settings))
