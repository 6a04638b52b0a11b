"""Writing assistant web UI: controls and an editor with streaming drafts, an outline editor (one section per
line: add, delete, reorder, rename), rewrite / continue / summarise / titles / translate, a suggestions panel
with accept/reject, readability, version history with undo, and export (MD, TXT, DOCX with tracked changes).
A tab in the portal, or standalone (`llmeco write ui`)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import gradio as gr

from apps.writing_assistant.checks import check
from apps.writing_assistant.export import to_docx, to_markdown, to_txt
from apps.writing_assistant.readability import readability
from apps.writing_assistant.store import DocumentStore
from apps.writing_assistant.suggestions import Suggestion, apply_suggestions, diff_suggestions
from apps.writing_assistant.templates import load_templates
from apps.writing_assistant.textutil import count, detect_language, unit
from apps.writing_assistant.writer import REWRITE_MODES, Brief, Writer
from core.config import Settings
from core.errors import LLMEcoError
from core.governance.audit import AuditLog
from core.governance.ui_cache import blocks_options, cache_dir

TITLE = "Writing 写作"
ORDER = 20
TONES = ["neutral", "formal", "friendly", "persuasive", "enthusiastic", "professional", "casual"]


def _error(exc: LLMEcoError) -> gr.Error:
    return gr.Error(str(exc))


def _readability_md(text: str) -> str:
    if not text.strip():
        return ""
    r = readability(text)
    if r["language"] == "zh":
        return (
            f"**{r['characters']}** 字 · {r['sentences']} 句 · 平均句长 {r['characters_per_sentence']} 字 · "
            f"长句 {r['long_sentence_share']:.0%} · 年级估计 {r['grade_estimate']} · "
            f"阅读约 {r['reading_time_min']} 分钟"
        )
    return (
        f"**{r['words']}** words · {r['sentences']} sentences · Flesch reading ease {r['flesch_reading_ease']} · "
        f"grade {r['flesch_kincaid_grade']} · long sentences {r['long_sentence_share']:.0%} · "
        f"{r['reading_time_min']} min read"
    )


def _choices(suggestions: list[Suggestion], notes: dict[int, str] | None = None) -> list[tuple[str, int]]:
    labels = []
    for s in suggestions:
        change = (
            f"'{s.original}' → '{s.replacement}'"
            if s.original and s.replacement
            else (f"delete '{s.original}'" if s.original else f"insert '{s.replacement}'")
        )
        note = (notes or {}).get(s.id)
        labels.append((f"#{s.id + 1}: {change}" + (f" ({note})" if note else ""), s.id))
    return labels


def components(settings: Settings, writer: Writer | None = None, store: DocumentStore | None = None) -> None:
    """Every part of the UI, inside the current Blocks context. The model loads on the first generation."""
    writer = writer or Writer(settings)
    store = store or DocumentStore.for_settings(settings)
    kinds = sorted(load_templates(settings))
    # Per-session state: the current document and the pending suggestions (the text they apply to).
    doc_state = gr.State(None)
    pending = gr.State({"original": "", "suggestions": [], "accepted": []})

    with gr.Row():
        with gr.Column(scale=1):
            kind = gr.Dropdown(kinds, value="article", label="Kind 体裁", elem_id="wa-kind")
            topic = gr.Textbox(label="Topic 主题", lines=2, elem_id="wa-topic")
            tone = gr.Dropdown(TONES, value="neutral", label="Tone 语气", allow_custom_value=True, elem_id="wa-tone")
            audience = gr.Textbox(value="general readers", label="Audience 读者")
            language = gr.Radio(["en", "zh"], value="en", label="Language 语言", elem_id="wa-language")
            length = gr.Number(value=300, precision=0, label="Length (English words / 中文字数)", elem_id="wa-length")
            with gr.Row():
                outline_btn = gr.Button("Outline 大纲", elem_id="wa-outline-btn")
                draft_btn = gr.Button("Draft 起草", variant="primary", elem_id="wa-draft")
            outline = gr.Textbox(
                label="Outline 大纲 (one section per line: add, delete, reorder, rename)",
                lines=6,
                elem_id="wa-outline",
            )
            with gr.Row():
                from_outline = gr.Button("Draft from outline 按大纲起草", elem_id="wa-draft-outline")
                regenerate = gr.Button("Regenerate 重新生成")
                stop = gr.Button("Stop 停止", variant="stop")
        with gr.Column(scale=2):
            editor = gr.Textbox(label="Document 文档", lines=18, max_lines=40, elem_id="wa-editor")
            status = gr.Markdown(elem_id="wa-status")
            stats = gr.Markdown(elem_id="wa-readability")
            with gr.Row():
                mode = gr.Dropdown(list(REWRITE_MODES), value="polish", label="Rewrite 改写", scale=2)
                rewrite_btn = gr.Button("Rewrite 改写", scale=1, elem_id="wa-rewrite")
                check_btn = gr.Button("Check 检查", scale=1, elem_id="wa-check")
            with gr.Row():
                continue_btn = gr.Button("Continue 续写")
                summarize_btn = gr.Button("Summarize 摘要")
                titles_btn = gr.Button("Titles 标题")
                translate_btn = gr.Button("Translate 翻译")
            suggestions = gr.CheckboxGroup(
                [], label="Suggestions 修改建议 (tick to accept 勾选即接受)", elem_id="wa-suggestions"
            )
            apply_btn = gr.Button("Apply accepted 应用所选", elem_id="wa-apply")
            side = gr.Markdown(elem_id="wa-side")
    with gr.Accordion("Versions & export 版本与导出", open=True):
        with gr.Row():
            title = gr.Textbox(value="Untitled", label="Title 标题", scale=2, elem_id="wa-title")
            save_btn = gr.Button("Save version 保存版本", scale=1, elem_id="wa-save")
            undo_btn = gr.Button("Undo 撤销", scale=1, elem_id="wa-undo")
        history = gr.Dataframe(
            headers=["version", "from", "saved", "note"], interactive=False, label="History 历史", elem_id="wa-history"
        )
        with gr.Row():
            fmt = gr.Radio(["md", "txt", "docx"], value="docx", label="Format 格式", elem_id="wa-format")
            export_btn = gr.Button("Export 导出", elem_id="wa-export")
            download = gr.File(label="Download 下载", elem_id="wa-download")

    def history_rows(doc_id: int | None) -> list[list]:
        if doc_id is None:
            return []
        return [[v.number, v.parent or "", v.created_at, v.note] for v in store.versions(doc_id)]

    def brief_from(k, t, tn, aud, lang, n, temperature=0.0, seed=None) -> Brief:
        return Brief(k, t or "", tn or "neutral", aud or "general readers", lang, int(n or 0), temperature, seed)

    def keep(doc_id, text, lang, k, t, note) -> int:
        """Save ``text`` as a new version of the current document (a new document the first time)."""
        if doc_id is None:
            return store.create(t or "Untitled", text, lang, k, note).id
        store.save(doc_id, text, note)
        return doc_id

    def run_draft(k, t, tn, aud, lang, n, lines, use_outline, doc_id, ttl, temperature=0.0, seed=None):
        try:
            brief = brief_from(k, t, tn, aud, lang, n, temperature, seed)
            writer.validate(brief)
            sections = [x for x in (lines or "").splitlines() if x.strip()] if use_outline else None
            text, final = "", None
            for ev, value in writer.stream_draft(brief, sections):
                if ev == "delta":
                    text += value
                    yield text, "writing… 写作中", gr.update(), doc_id, gr.update(), ttl
                else:
                    final = value
        except LLMEcoError as exc:
            raise _error(exc) from None
        ttl = ttl if ttl and ttl != "Untitled" else brief.topic[:80]
        doc_id = keep(doc_id, final.text, final.language, brief.kind, ttl, "draft")
        note = (
            f"**{final.length}** {final.unit} (target {final.target}, "
            f"{'within' if final.within_tolerance else 'outside'} ±{writer.config.tolerance:.0%}) · {final.model}"
        )
        yield final.text, note, _readability_md(final.text), doc_id, history_rows(doc_id), ttl

    draft_outputs = [editor, status, stats, doc_state, history, title]
    draft_inputs = [kind, topic, tone, audience, language, length, outline]

    def draft_plain(k, t, tn, aud, lang, n, lines, doc_id, ttl):
        yield from run_draft(k, t, tn, aud, lang, n, lines, False, None, ttl)  # a new draft is a new document

    def draft_outline(k, t, tn, aud, lang, n, lines, doc_id, ttl):
        if not (lines or "").strip():
            raise gr.Error("The outline is empty: click Outline first or type one section per line.")
        yield from run_draft(k, t, tn, aud, lang, n, lines, True, None, ttl)

    def draft_again(k, t, tn, aud, lang, n, lines, doc_id, ttl):
        import random

        yield from run_draft(k, t, tn, aud, lang, n, lines, False, doc_id, ttl, 0.8, random.randrange(1 << 30))

    ev_draft = draft_btn.click(draft_plain, [*draft_inputs, doc_state, title], draft_outputs, api_name="write_draft")
    ev_outline = from_outline.click(draft_outline, [*draft_inputs, doc_state, title], draft_outputs, api_name=False)
    ev_again = regenerate.click(draft_again, [*draft_inputs, doc_state, title], draft_outputs, api_name=False)

    def make_outline(k, t, tn, aud, lang, n):
        try:
            return "\n".join(writer.outline(brief_from(k, t, tn, aud, lang, n)))
        except LLMEcoError as exc:
            raise _error(exc) from None

    ev_make_outline = outline_btn.click(
        make_outline, [kind, topic, tone, audience, language, length], [outline], api_name=False
    )

    def show_suggestions(original: str, found: list[Suggestion], notes: dict[int, str] | None = None):
        state = {"original": original, "suggestions": [s.to_dict() for s in found], "accepted": []}
        return gr.update(choices=_choices(found, notes), value=[]), state

    def do_rewrite(text, m):
        try:
            result = None
            for ev, value in writer.stream_rewrite(text or "", m, "formal" if m == "tone" else None):
                if ev == "delta":
                    yield gr.update(), gr.update(), "rewriting… 改写中"
                else:
                    result = value
        except LLMEcoError as exc:
            raise _error(exc) from None
        found = [Suggestion(**{k: s[k] for k in ("id", "offset", "length", "original", "replacement")})
                 for s in result["suggestions"]]  # fmt: skip
        update, state = show_suggestions(text, found)
        yield update, state, f"{len(found)} suggestion(s) from the model's {m} · tick the ones to accept"

    def do_check(text, lang):
        try:
            language = detect_language(text or "") if text and text.strip() else lang
            writer._check_text(text or "")
            issues = check(text, language, writer.config.long_sentence_words, writer.config.long_sentence_chars)
        except LLMEcoError as exc:
            raise _error(exc) from None
        fixable = [i for i in issues if i.replacements]
        found = [Suggestion(n, i.offset, i.length, text[i.offset : i.offset + i.length], i.replacements[0])
                 for n, i in enumerate(fixable)]  # fmt: skip
        notes = {n: i.message for n, i in enumerate(fixable)}
        hints = [f"- {i.message}" for i in issues if not i.replacements]
        update, state = show_suggestions(text, found, notes)
        return update, state, f"{len(found)} suggestion(s), {len(hints)} hint(s)\n" + "\n".join(hints)

    rewrite_btn.click(do_rewrite, [editor, mode], [suggestions, pending, side], api_name=False)
    check_btn.click(do_check, [editor, language], [suggestions, pending, side], api_name=False)

    def do_apply(chosen, state, doc_id, lang, k, ttl):
        if not state["suggestions"]:
            raise gr.Error("No suggestions yet: click Rewrite or Check first.")
        try:
            text = apply_suggestions(state["original"], state["suggestions"], chosen or [])
        except LLMEcoError as exc:
            raise _error(exc) from None
        n = len(chosen or [])
        doc_id = keep(doc_id, text, detect_language(text) if text.strip() else lang, k, ttl,
                      f"accepted {n} of {len(state['suggestions'])} suggestions")  # fmt: skip
        state = {**state, "accepted": list(chosen or [])}
        msg = f"Applied {n} of {len(state['suggestions'])} suggestions 已应用"
        return text, state, doc_id, history_rows(doc_id), msg, _readability_md(text)

    apply_btn.click(
        do_apply,
        [suggestions, pending, doc_state, language, kind, title],
        [editor, pending, doc_state, history, side, stats],
        api_name=False,
    )

    def stream_task(events, done_text) -> Iterator:
        try:
            shown = ""
            for ev, value in events:
                if ev == "delta":
                    shown += value
                    yield shown
                else:
                    yield done_text(value)
        except LLMEcoError as exc:
            raise _error(exc) from None

    def do_continue(text, lang):
        base = text or ""
        sep = "" if detect_language(base or "x") == "zh" else " "
        for piece in stream_task(writer.stream_continue(base, 80), lambda r: r["text"]):
            yield base.rstrip() + sep + piece

    def do_summarize(text):
        yield from stream_task(
            writer.stream_summarize(text or "", 60), lambda r: f"**Summary 摘要** ({r['length']}): {r['text']}"
        )

    def do_translate(text):
        yield from stream_task(writer.stream_translate(text or ""), lambda r: f"**Translation 译文**\n\n{r['text']}")

    def do_titles(text):
        try:
            return "**Titles 标题**\n\n" + "\n".join(f"- {t}" for t in writer.titles(text or ""))
        except LLMEcoError as exc:
            raise _error(exc) from None

    ev_continue = continue_btn.click(do_continue, [editor, language], [editor], api_name=False)
    ev_summary = summarize_btn.click(do_summarize, [editor], [side], api_name=False)
    ev_translate = translate_btn.click(do_translate, [editor], [side], api_name=False)
    titles_btn.click(do_titles, [editor], [side], api_name=False)
    stop.click(None, None, None, cancels=[ev_draft, ev_outline, ev_again, ev_make_outline, ev_continue, ev_summary,
                                          ev_translate], api_name=False)  # fmt: skip
    editor.input(lambda t: _count_md(t), [editor], [status], api_name=False, show_progress="hidden")

    def do_save(text, doc_id, lang, k, ttl):
        try:
            doc_id = keep(doc_id, text or "", detect_language(text) if (text or "").strip() else lang, k, ttl, "saved")
            store.rename(doc_id, ttl)
        except LLMEcoError as exc:
            raise _error(exc) from None
        return doc_id, history_rows(doc_id), _readability_md(text or "")

    def do_undo(doc_id):
        if doc_id is None:
            raise gr.Error("Nothing saved yet.")
        try:
            doc = store.undo(doc_id)
        except LLMEcoError as exc:
            raise _error(exc) from None
        return doc.text, history_rows(doc_id), _readability_md(doc.text)

    save_btn.click(do_save, [editor, doc_state, language, kind, title], [doc_state, history, stats], api_name=False)
    undo_btn.click(do_undo, [doc_state], [editor, history, stats], api_name=False)

    def do_export(text, doc_id, state, f, ttl, request: gr.Request):
        return export_file(settings, store, text, doc_id, state, f, ttl, request)

    export_btn.click(do_export, [editor, doc_state, pending, fmt, title], [download], api_name=False)


def export_file(
    settings: Settings,
    store: DocumentStore,
    text: str | None,
    doc_id: int | None,
    state: dict,
    fmt: str,
    title: str | None,
    request: gr.Request | None = None,
) -> str:
    """Write the editor's text as ``fmt`` (md, txt, or docx with the accepted suggestions, else the changes since
    the first version, as tracked changes) and return the file. A stored document's export is in the audit log as
    a read by the UI's user, as ``POST /api/documents/{id}/export`` is."""
    text = text or ""
    if not text.strip():
        raise gr.Error("The document is empty.")
    if doc_id is not None:
        AuditLog.for_settings(settings).ui(request, "export", "document", doc_id, {"format": fmt})
    cache_dir(settings).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="export-", dir=cache_dir(settings)))  # deleted with Gradio's cache
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in (title or "document"))[:60] or "document"
    path = folder / f"{name}.{fmt}"
    if fmt == "docx":
        found = [Suggestion(**{k: s[k] for k in ("id", "offset", "length", "original", "replacement")})
                 for s in state["suggestions"]]  # fmt: skip
        accepted = state["accepted"] if apply_suggestions(state["original"], found, state["accepted"]) == text else []
        if accepted:  # the last accepted suggestions as tracked changes
            path.write_bytes(to_docx(state["original"], found, accepted, title))
        elif doc_id is not None:  # the changes since the first version
            first = store.version(doc_id, 1).text
            changes = diff_suggestions(first, text, detect_language(text))
            path.write_bytes(to_docx(first, changes, [c.id for c in changes], title))
        else:
            path.write_bytes(to_docx(text, title=title))
    else:
        path.write_text((to_markdown if fmt == "md" else to_txt)(text, title), encoding="utf-8")
    return str(path)


def _count_md(text: str) -> str:
    lang = detect_language(text or "")
    return f"{count(text or '', lang)} {unit(lang)}"


def build_ui(settings: Settings, writer: Writer | None = None, store: DocumentStore | None = None) -> gr.Blocks:
    with gr.Blocks(title="Writing assistant 写作助手", **blocks_options(settings)) as blocks:
        gr.Markdown("## Writing assistant 写作助手")
        components(settings, writer, store)
    return blocks


def build(settings: Settings) -> None:
    """The portal tab."""
    components(settings)
