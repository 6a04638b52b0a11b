"""``llmeco write ...``: draft (length-controlled, from an outline), outline, continue, rewrite, summarize,
translate, titles, check, readability, the document store, the personal-style fine-tune, the REST API and the UI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from core.cli import console, settings_from
from core.config import Settings
from core.errors import InvalidRequestError
from core.serving.guard import ui_options

COMMAND = "write"
app = typer.Typer(help="Writing assistant: drafts of a set length, outline first, rewrite, translate, checks.")

MODEL = typer.Option(None, "--model", "-m", help="Chat model (default: the strongest installed).")
JSON = typer.Option(False, "--json", help="One JSON object (a JSON list for check).")
LANGUAGE = typer.Option(None, "--language", "-l", help="en | zh (default: detected from the text).")
SET = typer.Option(None, "--set", help="Setting as key=value (repeatable), e.g. apps.writing_assistant.tolerance=0.1")
TEXT = typer.Argument(..., help="The text, or a .txt/.md/.docx file holding it.")
KIND = typer.Option(..., "--kind", "-k", help="article, report, email, notice, social, product, or yours.")
TOPIC = typer.Option(..., "--topic", "-t")
TONE = typer.Option("neutral", "--tone", help="formal, friendly, persuasive, neutral, ...")
AUDIENCE = typer.Option("general readers", "--audience")
BRIEF_LANGUAGE = typer.Option("en", "--language", "-l", help="en | zh")


def writer_settings(overrides: list[str] | None = None) -> Settings:
    return settings_from(overrides)


def open_writer(model: str | None, overrides: list[str] | None = None):
    from apps.writing_assistant.writer import Writer

    return Writer(writer_settings(overrides), model=model)


def read_input(value: str) -> str:
    """A literal text, or the contents of the file it names (TXT, MD or DOCX)."""
    from apps.writing_assistant.export import read_document

    try:
        path = Path(value)
        is_file = len(value) < 4096 and "\n" not in value and path.is_file()
    except OSError:
        is_file = False
    if not is_file:
        return value
    return read_document(path.read_bytes(), str(path))


def emit(result: Any, as_json: bool, text_key: str = "text") -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False), flush=True)
    else:
        print(result[text_key] if isinstance(result, dict) else result, flush=True)


def stream_to_terminal(events, as_json: bool) -> Any:
    """Print deltas as they come (unless --json); return the final result."""
    result = None
    for kind, value in events:
        if kind == "delta" and not as_json:
            print(value, end="", flush=True)
        elif kind == "done":
            result = value
    if not as_json:
        print()
    return result


def read_outline(path: Path) -> list[str]:
    """An edited outline: a JSON list of titles, JSON {"sections": [...]}, or one title per line."""
    from apps.writing_assistant.writer import parse_outline

    if not path.is_file():
        raise InvalidRequestError(f"{path}: no such outline file")
    raw = path.read_text(encoding="utf-8-sig")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        return parse_outline(raw)
    sections = data.get("sections") if isinstance(data, dict) else data
    if not isinstance(sections, list) or not all(isinstance(s, str) for s in sections):
        raise InvalidRequestError(f"{path}: an outline is a JSON list of section titles or one title per line")
    return sections


@app.command()
def draft(
    kind: str = KIND,
    topic: str = TOPIC,
    tone: str = TONE,
    audience: str = AUDIENCE,
    language: str = BRIEF_LANGUAGE,
    length: int = typer.Option(300, "--length", "-n", help="Target: English words or Chinese characters."),
    outline: Path | None = typer.Option(None, "--outline", help="Edited outline (JSON list or one title a line)."),
    save: str | None = typer.Option(None, "--save", help="Keep the draft in the document store under this title."),
    model: str | None = MODEL,
    as_json: bool = JSON,
    overrides: list[str] = SET,
) -> None:
    """Draft a text of a set length (within ±15%), section by section; --json: text, length, language, model."""
    from apps.writing_assistant.writer import Brief

    writer = open_writer(model, overrides)
    brief = Brief(kind, topic, tone, audience, language, length)  # type: ignore[arg-type]
    sections = read_outline(outline) if outline else None
    writer.validate(brief)
    result = stream_to_terminal(writer.stream_draft(brief, sections), as_json).to_dict()
    if save is not None:
        from apps.writing_assistant.store import DocumentStore

        doc = DocumentStore.for_settings(writer.settings).create(save, result["text"], language, kind, "draft")
        result["document_id"] = doc.id
    if as_json:
        emit(result, True)
    else:
        console.print(f"[dim]{result['length']} {result['unit']} (target {length}) · {result['model']}[/dim]")


@app.command("outline")
def outline_command(
    kind: str = KIND,
    topic: str = TOPIC,
    tone: str = TONE,
    audience: str = AUDIENCE,
    language: str = BRIEF_LANGUAGE,
    length: int = typer.Option(600, "--length", "-n"),
    sections: int | None = typer.Option(None, "--sections", help="How many sections (default: from the length)."),
    model: str | None = MODEL,
    as_json: bool = JSON,
    overrides: list[str] = SET,
) -> None:
    """Section titles to edit; pass the edited file to `write draft --outline FILE`."""
    from apps.writing_assistant.writer import Brief

    writer = open_writer(model, overrides)
    titles = writer.outline(Brief(kind, topic, tone, audience, language, length), sections)  # type: ignore[arg-type]
    result = {"sections": titles, "kind": kind, "topic": topic, "language": language, "model": writer.model_name}
    if as_json:
        emit(result, True)
    else:
        print("\n".join(titles))


@app.command("continue")
def continue_command(
    text: str = TEXT,
    length: int = typer.Option(80, "--length", "-n"),
    language: str | None = LANGUAGE,
    model: str | None = MODEL,
    as_json: bool = JSON,
) -> None:
    """Continue a text with about --length more words (characters)."""
    writer = open_writer(model)
    result = stream_to_terminal(writer.stream_continue(read_input(text), length, language), as_json)
    if as_json:
        emit(result, True)  # with its "model": the version that wrote it, for a registered name


@app.command()
def rewrite(
    text: str = TEXT,
    mode: str = typer.Option("polish", "--mode", help="polish | grammar | shorten | expand | simplify | tone"),
    tone: str | None = typer.Option(None, "--tone", help="For --mode tone: formal, friendly, persuasive, ..."),
    language: str | None = LANGUAGE,
    model: str | None = MODEL,
    as_json: bool = JSON,
) -> None:
    """Rewrite a selection; --json adds the per-change suggestions (accept/reject them in the UI or API)."""
    writer = open_writer(model)
    result = stream_to_terminal(writer.stream_rewrite(read_input(text), mode, tone, language), as_json)
    if as_json:
        emit(result, True)  # with its "model": the version that wrote it, for a registered name


@app.command()
def summarize(
    text: str = TEXT,
    length: int = typer.Option(60, "--length", "-n"),
    language: str | None = LANGUAGE,
    model: str | None = MODEL,
    as_json: bool = JSON,
) -> None:
    """Summarise a text in about --length words (characters)."""
    writer = open_writer(model)
    result = stream_to_terminal(writer.stream_summarize(read_input(text), length, language), as_json)
    if as_json:
        emit(result, True)  # with its "model": the version that wrote it, for a registered name


@app.command()
def translate(
    text: str = TEXT,
    to: str | None = typer.Option(None, "--to", help="en | zh (default: the other one)."),
    model: str | None = MODEL,
    as_json: bool = JSON,
) -> None:
    """Translate English <-> Chinese."""
    writer = open_writer(model)
    result = stream_to_terminal(writer.stream_translate(read_input(text), to), as_json)
    if as_json:
        emit(result, True)  # with its "model": the version that wrote it, for a registered name


@app.command()
def titles(
    text: str = TEXT,
    n: int = typer.Option(5, "--n", help="How many."),
    email: bool = typer.Option(False, "--email", help="E-mail subject lines."),
    language: str | None = LANGUAGE,
    model: str | None = MODEL,
    as_json: bool = JSON,
) -> None:
    """Title ideas (or e-mail subject lines) for a topic or a text."""
    writer = open_writer(model)
    found = writer.titles(read_input(text), n, email, language)
    if as_json:
        emit({"titles": found, "model": writer.model_name}, True)
    else:
        print("\n".join(found))


@app.command()
def check(
    text: str = TEXT,
    language: str | None = LANGUAGE,
    as_json: bool = JSON,
    overrides: list[str] = SET,
) -> None:
    """Spelling, grammar and style checks; --json prints LanguageTool-shaped issues (offset, length, message,
    replacements, rule, category)."""
    from apps.writing_assistant.checks import check as run_checks
    from apps.writing_assistant.config import WriterConfig

    config = WriterConfig.from_settings(writer_settings(overrides))
    content = read_input(text)
    if len(content) > config.max_text_chars:
        raise InvalidRequestError(f"the text has {len(content):,} characters; at most {config.max_text_chars:,}")
    issues = run_checks(content, language, config.long_sentence_words, config.long_sentence_chars)  # type: ignore[arg-type]
    if as_json:
        print(json.dumps([i.to_dict() for i in issues], ensure_ascii=False))
        return
    for i in issues:
        fix = f" -> {', '.join(repr(r) for r in i.replacements[:3])}" if i.replacements else ""
        console.print(f"{i.offset}:{i.length} [{i.category}] {i.message}{fix}", soft_wrap=True)
    console.print(f"[dim]{len(issues)} issue(s)[/dim]")


@app.command()
def readability(text: str = TEXT, language: str | None = LANGUAGE, as_json: bool = JSON) -> None:
    """Readability, counts and reading time (Flesch for English; sentence length and a grade estimate for Chinese)."""
    from apps.writing_assistant.readability import readability as measure

    result = measure(read_input(text), language)  # type: ignore[arg-type]
    if as_json:
        emit(result, True)
    else:
        for k, v in result.items():
            print(f"{k}: {v}")


docs_app = typer.Typer(help="The document store: every version of every document.")
app.add_typer(docs_app, name="docs")


def _store():
    from apps.writing_assistant.store import DocumentStore

    return DocumentStore.for_settings(writer_settings())


def _audit(action: str, doc_id: int, detail: dict | None = None) -> None:
    from core.governance.audit import cli_actor, record

    record(writer_settings(), cli_actor(), action, "document", str(doc_id), detail)


@docs_app.command("list")
def docs_list(as_json: bool = JSON) -> None:
    rows = _store().list()
    if as_json:
        emit(rows, True)
        return
    for r in rows:
        print(f"{r['id']:>4}  v{r['versions']:<3} {r['language']}  {r['updated_at']}  {r['title']}")


@docs_app.command("add")
def docs_add(
    text: str = TEXT,
    title: str = typer.Option("Untitled", "--title"),
    language: str | None = LANGUAGE,
    as_json: bool = JSON,
) -> None:
    """Add a text or a TXT/MD/DOCX file as a new document."""
    from apps.writing_assistant.textutil import detect_language

    content = read_input(text)
    doc = _store().create(title, content, language or detect_language(content), None, "imported")
    emit(doc.to_dict() if as_json else f"document {doc.id} (v{doc.version})", as_json)


@docs_app.command("show")
def docs_show(doc_id: int, version: int | None = typer.Option(None, "--version", "-v"), as_json: bool = JSON) -> None:
    store = _store()
    result = store.version(doc_id, version).to_dict() if version else store.get(doc_id).to_dict()
    _audit("read", doc_id)
    emit(result, as_json)


@docs_app.command("history")
def docs_history(doc_id: int, as_json: bool = JSON) -> None:
    versions = _store().versions(doc_id)
    _audit("read", doc_id, {"versions": True})
    if as_json:
        emit([v.to_dict() for v in versions], True)
        return
    for v in versions:
        print(f"v{v.number:<3} from v{v.parent or '-':<3} {v.created_at}  {v.note}")


@docs_app.command("undo")
def docs_undo(doc_id: int) -> None:
    doc = _store().undo(doc_id)
    console.print(f"document {doc.id}: undone, now at v{doc.version}")


@docs_app.command("export")
def docs_export(
    doc_id: int,
    fmt: str = typer.Option("md", "--format", "-f", help="md | txt | docx"),
    output: Path = typer.Option(..., "--output", "-o"),
) -> None:
    """Export the current version (DOCX: the changes since the first version as tracked changes)."""
    from apps.writing_assistant.export import FORMATS, to_docx, to_markdown, to_txt
    from apps.writing_assistant.suggestions import diff_suggestions

    if fmt not in FORMATS:
        raise InvalidRequestError(f"--format must be one of {', '.join(FORMATS)}")
    store = _store()
    doc = store.get(doc_id)
    if fmt == "docx":
        first = store.version(doc_id, 1).text
        changes = diff_suggestions(first, doc.text, doc.language)  # type: ignore[arg-type]
        output.write_bytes(to_docx(first, changes, [c.id for c in changes], doc.title))
    else:
        output.write_text((to_markdown if fmt == "md" else to_txt)(doc.text, doc.title), encoding="utf-8")
    _audit("export", doc_id, {"format": fmt})
    console.print(f"wrote {output}")


@app.command("style-train")
def style_train(
    files: list[Path] = typer.Argument(..., help="Your own documents: TXT, MD or DOCX."),
    name: str = typer.Option(..., "--name", help="Register the run under this model name."),
    base: str = typer.Option("smollm2-135m-instruct", "--base", help="Base model (transformers-loadable)."),
    steps: int | None = typer.Option(None, "--steps", help="Training steps (default: chosen from the data)."),
    as_json: bool = JSON,
) -> None:
    """Fine-tune a writing model on your documents (LoRA through core) and register it; then `--model NAME`."""
    from apps.writing_assistant.style import train_style

    result = train_style(files, name, writer_settings(), base=base, max_steps=steps, progress=not as_json)
    emit(result, as_json, "name")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8200, "--port", "-p"),
    model: str | None = MODEL,
    overrides: list[str] = SET,
) -> None:
    """REST API (/api/..., docs at /docs; generation streamed as server-sent events) with the UI at /ui."""
    import gradio as gr

    from apps.writing_assistant.api import create_api
    from apps.writing_assistant.ui import build_ui
    from core.serving.metrics import serve as run_server

    writer = open_writer(model, overrides)
    uploads = ui_options(writer.settings, writer.config.max_request_mb)
    api = gr.mount_gradio_app(create_api(writer), build_ui(writer.settings, writer), path="/ui", **uploads)
    console.print(f"writing assistant API at http://{host}:{port}/docs, UI at http://{host}:{port}/ui")
    run_server(api, host, port, writer.settings.log_format, "warning")


@app.command()
def ui(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(7862, "--port", "-p"),
    open_browser: bool = typer.Option(True, "--open/--no-open"),
    model: str | None = MODEL,
    overrides: list[str] = SET,
) -> None:
    """The web UI alone: editor, outline, suggestions, readability, versions, export."""
    from apps.writing_assistant.ui import build_ui

    writer = open_writer(model, overrides)
    console.print(f"writing assistant UI at http://{host}:{port}")
    build_ui(writer.settings, writer).queue(default_concurrency_limit=4).launch(
        server_name=host,
        server_port=port,
        inbrowser=open_browser,
        **ui_options(writer.settings, writer.config.max_request_mb),
    )
