"""``llmeco bot ...``: ask, ingest and manage knowledge bases, train and evaluate intents, calibrate the policy,
work the handoff queue, and serve the REST API + web UI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from apps.support_bot.config import SHARED_DATA, BotConfig
from core.cli import console, settings_from
from core.config import Settings
from core.errors import InvalidRequestError
from core.serving.guard import ui_options

COMMAND = "bot"
app = typer.Typer(help="Customer-service bot: cited answers from your knowledge base, clarify, or hand over.")

KB_OPTION = typer.Option(None, "--kb", help="Knowledge base name (default: apps.support_bot.kb, 'demo').")
SET_OPTION = typer.Option(None, "--set", help="Setting as key=value (repeatable), e.g. apps.support_bot.top_k=6")


def bot_settings(kb: str | None = None, overrides: list[str] | None = None) -> Settings:
    return settings_from(overrides, **{"apps.support_bot.kb": kb})


def demo_kb_files() -> list[Path]:
    """The demo company's FAQ and policy documents in ``shared_data/support_bot/kb``."""
    from apps.support_bot.kb.parsers import SUPPORTED_SUFFIXES

    folder = SHARED_DATA / "kb"
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in SUPPORTED_SUFFIXES and p.name != "README.md")


def setup(settings: Settings) -> None:
    """One-time work for the demo (idempotent): the intent model, the demo knowledge base and its profile,
    thresholds calibrated on the demo's labelled questions."""
    from apps.support_bot.bot import SupportBot, thresholds_file
    from apps.support_bot.intents import ensure_intent_model
    from apps.support_bot.kb.knowledge_base import KnowledgeBase

    with console.status("support bot: intent model ..."):
        ensure_intent_model(settings)
    config = BotConfig.from_settings(settings)
    kb = KnowledgeBase.open(config.kb, settings)
    if config.kb == "demo":
        with console.status("support bot: demo knowledge base ..."):
            results = kb.ingest(demo_kb_files())
            kb.set_profile(**json.loads((SHARED_DATA / "profile.json").read_text(encoding="utf-8")))
        changed = [r for r in results if r.status != "unchanged"]
        for r in changed:
            console.print(f"  {r.status:9} {r.name} ({r.entries} entries){' ' + r.error if r.error else ''}")
        if changed or not thresholds_file(kb).is_file():
            bot = SupportBot(settings, kb=kb)
            for lang, cal in bot.calibrate(SHARED_DATA / "policy_val.jsonl").items():
                console.print(
                    f"  calibrated thresholds ({lang}): accuracy {cal.default_accuracy:.3f} -> {cal.accuracy:.3f}"
                )
    console.print(f"[green]ready[/green] support bot: knowledge base {config.kb!r} ({len(kb)} entries)")


def open_bot(settings: Settings):
    """The bot, with the demo knowledge base filled on first use."""
    from apps.support_bot.bot import SupportBot
    from apps.support_bot.kb.knowledge_base import KnowledgeBase

    config = BotConfig.from_settings(settings)
    kb = KnowledgeBase.open(config.kb, settings)
    if not len(kb):
        if config.kb != "demo":
            raise InvalidRequestError(
                f"knowledge base {config.kb!r} is empty: add files with `llmeco bot ingest FILE... --kb {config.kb}`"
            )
        setup(settings)
    return SupportBot(settings, kb=kb)


@app.command("setup")
def setup_command(kb: str | None = KB_OPTION, overrides: list[str] = SET_OPTION) -> None:
    """Train the demo intent model, ingest the demo knowledge base and calibrate the policy (idempotent)."""
    setup(bot_settings(kb, overrides))


@app.command()
def ask(
    question: str | None = typer.Argument(None, help="The customer's message."),
    kb: str | None = KB_OPTION,
    session: str | None = typer.Option(None, "--session", help="Continue this session id."),
    file: Path | None = typer.Option(None, "--file", "-f", help="Answer one question per line of FILE."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per answer."),
    overrides: list[str] = SET_OPTION,
) -> None:
    """Ask the bot; --file answers a batch (one JSON object per line with --json)."""
    if (question is None) == (file is None):
        raise InvalidRequestError("give a question or --file FILE (one question per line), not both")
    if file is not None:
        if not file.is_file():
            raise InvalidRequestError(f"{file}: no such file")
        questions = [q.strip() for q in file.read_text(encoding="utf-8-sig").splitlines() if q.strip()]
        if not questions:
            raise InvalidRequestError(f"{file}: no questions (one per line)")
    else:
        questions = [question]
    bot = open_bot(bot_settings(kb, overrides))
    for q in questions:
        if as_json:
            print(json.dumps(bot.ask(q, session).to_dict(), ensure_ascii=False), flush=True)
            continue
        reply = None
        for kind, value in bot.stream(q, session):
            if kind == "delta":
                print(value, end="", flush=True)
            else:
                reply = value
        print()
        console.print(
            f"[dim]{reply.action} ({reply.mode}) · intent {reply.intent['name']} {reply.intent['confidence']:.2f}"
            f" · session {reply.session_id}[/dim]"
        )
        for i, s in enumerate(reply.sources, 1):
            console.print(f"[dim]  [{i}] {s['title']} ({s['source']}, score {s['score']:.3f})[/dim]")


@app.command()
def ingest(
    paths: list[Path] = typer.Argument(..., help="FAQ files (CSV/XLSX/JSONL) and documents (MD/HTML/TXT/PDF/DOCX)."),
    kb: str | None = KB_OPTION,
    company: str | None = typer.Option(None, "--company", help="Who the bot speaks for (default: the KB name)."),
    company_zh: str | None = typer.Option(None, "--company-zh", help="The company's Chinese name."),
) -> None:
    """Add or update files in a knowledge base (a changed file replaces its old entries), then calibrate the
    bot's thresholds on the knowledge base itself, per language."""
    from rich.progress import Progress

    from apps.support_bot.bot import ensure_self_calibration
    from apps.support_bot.kb.knowledge_base import KnowledgeBase

    settings = bot_settings(kb)
    config = BotConfig.from_settings(settings)
    base = KnowledgeBase.open(config.kb, settings)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("ingesting", total=len(paths))
        results = base.ingest(
            paths, progress=lambda done, total, name: progress.update(task, completed=done, description=name)
        )
    if company or company_zh:
        base.set_profile(company=company, company_zh=company_zh)
    for r in results:
        colour = "red" if r.status == "error" else "green"
        detail = r.error if r.error else f"{r.entries} entries"
        console.print(f"[{colour}]{r.status:9}[/{colour}] {r.name}: {detail}", soft_wrap=True)
    console.print(f"knowledge base {base.name!r}: {len(base)} entries in {len(base.sources())} sources")
    with console.status("calibrating on the knowledge base's own questions ..."):
        calibration = ensure_self_calibration(base, config)
    for lang, cal in calibration["languages"].items():
        t, r = cal["thresholds"], cal["report"]
        console.print(
            f"  {lang}: answer from an FAQ at question match >= {t['faq_direct']:.2f}, from passages at "
            f">= {t['grounded']:.2f}; on {r['questions']} calibration questions: wrong answers "
            f"{r['wrong_answer_rate']:.1%} of answers, right FAQ withheld {r['withheld_right_rate']:.1%}"
        )
    if any(r.status == "error" for r in results):
        sys.exit(1)


@app.command("sources")
def sources(kb: str | None = KB_OPTION, as_json: bool = typer.Option(False, "--json")) -> None:
    """List a knowledge base's sources."""
    from apps.support_bot.kb.knowledge_base import KnowledgeBase

    settings = bot_settings(kb)
    found = KnowledgeBase.open(BotConfig.from_settings(settings).kb, settings).sources()
    if as_json:
        print(json.dumps([s.to_dict() for s in found], ensure_ascii=False))
        return
    table = Table("source", "kind", "entries", "ingested", "sha256")
    for s in found:
        table.add_row(s.id, s.kind, str(s.entries), s.ingested_at, s.sha256[:12])
    console.print(table)


@app.command("delete")
def delete(
    source_id: str = typer.Argument(..., help="A source name from `llmeco bot sources`."), kb: str | None = KB_OPTION
) -> None:
    """Remove a source and its entries from a knowledge base."""
    from apps.support_bot.kb.knowledge_base import KnowledgeBase

    settings = bot_settings(kb)
    removed = KnowledgeBase.open(BotConfig.from_settings(settings).kb, settings).delete(source_id)
    console.print(f"deleted {removed.id} ({removed.entries} entries)")


@app.command("train-intents")
def train_intents(
    data: Path = typer.Option(..., "--data", "-d", help="CSV with text and label (or category) columns."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Model folder (default: the bot's)."),
) -> None:
    """Fine-tune the intent classifier on your data; the bot uses it from its next start."""
    from apps.support_bot.intents import train_intents as run

    folder = run(data, settings_from(), output)
    console.print(f"[green]intent model ready[/green] {folder}")


@app.command("eval-intents")
def eval_intents(
    train: Path = typer.Option(..., "--train", help="Training CSV (text, label|category)."),
    test: Path = typer.Option(..., "--test", help="Test CSV (text, label|category)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Train on --train, report accuracy and macro-F1 on --test (e.g. Banking77)."""
    from apps.support_bot.intents import evaluate_intents

    result = evaluate_intents(train, test, settings_from(), progress=not as_json)
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    console.print(f"accuracy {result['accuracy']:.4f} · macro-F1 {result['macro_f1']:.4f}")
    console.print(
        {k: v for k, v in result.items() if k not in ("accuracy", "macro_f1") and not isinstance(v, dict | list)}
    )


@app.command()
def calibrate(
    data: Path = typer.Option(SHARED_DATA / "policy_val.jsonl", "--data", help="Labelled questions (JSONL)."),
    kb: str | None = KB_OPTION,
) -> None:
    """Choose the answer/clarify/handoff thresholds per language on labelled questions and save them for the KB."""
    bot = open_bot(bot_settings(kb))
    for lang, result in bot.calibrate(data).items():
        console.print(
            f"{lang}: action accuracy {result.default_accuracy:.3f} -> {result.accuracy:.3f} on {result.n} questions"
        )
        console.print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))


@app.command()
def choose(
    entry_id: str = typer.Argument(..., help="The id of a question the bot offered (a source with choice: true)."),
    session: str = typer.Option(..., "--session", help="The session the bot offered it in."),
    kb: str | None = KB_OPTION,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Pick one of the questions a clarifying reply offered: get its answer; your question is learned for it."""
    reply = open_bot(bot_settings(kb)).choose(session, entry_id)
    print(json.dumps(reply.to_dict(), ensure_ascii=False) if as_json else reply.answer)


@app.command("eval-policy")
def eval_policy(
    data: Path = typer.Option(SHARED_DATA / "policy_test.jsonl", "--data", help="Labelled questions (JSONL)."),
    kb: str | None = KB_OPTION,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Action accuracy and retrieval hit rate on held-out labelled questions, per language."""
    report = open_bot(bot_settings(kb)).evaluate_policy(data)
    if as_json:
        print(json.dumps(report, ensure_ascii=False))
        return
    for lang in ("all", "en", "zh"):
        if lang in report:
            r = report[lang]
            console.print(
                f"{lang:3} n={r['n']:3} action accuracy {r['action_accuracy']:.3f} · hit@k {r['retrieval_hit_at_k']}"
            )
    for e in report["errors"]:
        console.print(f"[dim]  expected {e['expected']:8} got {e['got']:8} {e['question']}[/dim]")


@app.command()
def tickets(
    status: str = typer.Option("open", "--status", help="open | resolved | all"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The handoff queue."""
    from apps.support_bot.store import Store
    from core.governance.audit import cli_actor, record

    settings = settings_from()
    found = Store.for_settings(settings).tickets(None if status == "all" else status)
    record(settings, cli_actor(), "read", "tickets", status)
    if as_json:
        print(json.dumps([t.to_dict() for t in found], ensure_ascii=False))
        return
    table = Table("#", "status", "created", "session", "reason", "last customer message")
    for t in found:
        last = next((m["text"] for m in reversed(t.transcript) if m["role"] == "user"), "")
        table.add_row(str(t.id), t.status, f"{t.created_at:%Y-%m-%d %H:%M}", t.session_id[:12], t.reason, last[:60])
    console.print(table)


@app.command("export-training")
def export_training(
    output: Path = typer.Option(..., "--output", "-o", help="Chat JSONL to write (for `llmeco train --data`)."),
    min_rating: int = typer.Option(1, "--min-rating", help="Only replies rated at least this (+1: thumbs up)."),
) -> None:
    """Export rated conversations as training data, with a sidecar (FILE.sources.json) naming their sessions, so
    `llmeco data forget` can tell which runs learned from a customer."""
    from apps.support_bot.governance import export_training as run
    from apps.support_bot.store import Store
    from core.governance.audit import cli_actor, record

    settings = settings_from()
    sessions = run(Store.for_settings(settings), output, min_rating)
    record(settings, cli_actor(), "export", "conversations", str(output), {"sessions": len(sessions)})
    console.print(f"wrote {output} from {len(sessions)} conversations (sources: {output.name}.sources.json)")


@app.command()
def resolve(
    ticket_id: int = typer.Argument(...),
    note: str = typer.Option("", "--note", help="Internal note on how it was resolved."),
    agent: str | None = typer.Option(None, "--agent"),
    reply: str | None = typer.Option(
        None, "--reply", help="What you answered the customer: becomes a suggestion for the knowledge base."
    ),
    kb: str | None = KB_OPTION,
) -> None:
    """Mark a handoff ticket resolved; with --reply, queue what the bot can learn from it."""
    from apps.support_bot.store import Store

    if reply is None:
        t = Store.for_settings(settings_from()).resolve_ticket(ticket_id, note, agent)
        console.print(f"ticket #{t.id} {t.status}")
        return
    from apps.support_bot.learning import Learning

    bot = open_bot(bot_settings(kb))
    t = bot.store.resolve_ticket(ticket_id, note, agent, reply=reply)
    console.print(f"ticket #{t.id} {t.status}")
    _print_suggestions(Learning(bot).from_ticket(t, reply), title="suggested")


suggestions_app = typer.Typer(help="The review queue of what the bot learns from handoffs and thumbs-down replies.")
app.add_typer(suggestions_app, name="suggestions")


def _print_suggestions(found: list, title: str = "suggestions", as_json: bool = False) -> None:
    if as_json:
        print(json.dumps([s.to_dict() for s in found], ensure_ascii=False))
        return
    table = Table("#", "kind", "status", "question", "answer / entry / label", "from", title=title)
    for s in found:
        target = {"faq": s.answer or "(no answer yet)", "paraphrase": s.entry_id, "intent": s.label}[s.kind]
        table.add_row(str(s.id), s.kind, s.status, s.question[:60], (target or "")[:60], s.origin)
    console.print(table)


@suggestions_app.command("list")
def suggestions_list(
    status: str = typer.Option("pending", "--status", help="pending | approved | rejected | all"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The suggestions waiting for review (or those with another status)."""
    from apps.support_bot.store import Store

    _print_suggestions(
        Store.for_settings(settings_from()).suggestions(None if status == "all" else status), as_json=as_json
    )


@suggestions_app.command("refresh")
def suggestions_refresh(kb: str | None = KB_OPTION, as_json: bool = typer.Option(False, "--json")) -> None:
    """Make suggestions from every replied ticket and thumbs-down reply that has none yet."""
    from apps.support_bot.learning import Learning

    _print_suggestions(Learning(open_bot(bot_settings(kb))).refresh(), title="new suggestions", as_json=as_json)


@suggestions_app.command("approve")
def suggestions_approve(
    suggestion_id: int = typer.Argument(...),
    question: str | None = typer.Option(None, "--question", help="Edit the question."),
    answer: str | None = typer.Option(None, "--answer", help="Edit (or write) a new FAQ entry's answer."),
    entry: str | None = typer.Option(None, "--entry", help="Edit the FAQ entry a paraphrase belongs to."),
    label: str | None = typer.Option(None, "--label", help="Edit an intent example's label."),
    kb: str | None = KB_OPTION,
) -> None:
    """Approve a suggestion (with edits): FAQ entries and paraphrases go into the knowledge base at once, intent
    examples into the next `llmeco bot retrain`."""
    from apps.support_bot.learning import Learning

    s = Learning(open_bot(bot_settings(kb))).approve(
        suggestion_id, question=question, answer=answer, entry_id=entry, label=label
    )
    where = "the intent data (run `llmeco bot retrain`)" if s.kind == "intent" else f"knowledge base {s.kind}"
    console.print(f"[green]approved[/green] #{s.id} ({s.kind}): added to {where}")


@suggestions_app.command("reject")
def suggestions_reject(suggestion_id: int = typer.Argument(...)) -> None:
    """Reject a suggestion: nothing is learned from it."""
    from apps.support_bot.store import Store

    s = Store.for_settings(settings_from()).review_suggestion(suggestion_id, "rejected")
    console.print(f"rejected #{s.id} ({s.kind})")


@app.command()
def retrain(
    kb: str | None = KB_OPTION,
    calibration_data: Path | None = typer.Option(
        None, "--calibration-data", help="Also recalibrate on labelled questions (JSONL, e.g. policy_val.jsonl)."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Retrain the intent model with the approved intent examples and recalibrate the thresholds."""
    from apps.support_bot.learning import Learning

    bot = open_bot(bot_settings(kb))
    with console.status("retraining the intent model ..."):
        report = Learning(bot).retrain(calibration_data)
    if as_json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
        return
    console.print(
        f"[green]retrained[/green] on {report.train_rows} examples ({report.learned_examples} learned) in "
        f"{report.seconds:.0f} s: {report.folder}"
    )


@app.command()
def serve(
    kb: str | None = KB_OPTION,
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8100, "--port", "-p"),
    overrides: list[str] = SET_OPTION,
) -> None:
    """REST API (/api/..., docs at /docs) with the web UI at /ui."""
    import gradio as gr

    from apps.support_bot.api import create_api
    from apps.support_bot.ui import build_ui
    from core.serving.metrics import serve as run_server

    bot = open_bot(bot_settings(kb, overrides))
    uploads = ui_options(bot.settings, bot.config.max_upload_mb)
    api = gr.mount_gradio_app(create_api(bot), build_ui(bot), path="/ui", **uploads)
    console.print(f"support bot API at http://{host}:{port}/docs, UI at http://{host}:{port}/ui")
    run_server(api, host, port, bot.settings.log_format, "warning")


@app.command()
def ui(
    kb: str | None = KB_OPTION,
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(7861, "--port", "-p"),
    open_browser: bool = typer.Option(True, "--open/--no-open"),
    overrides: list[str] = SET_OPTION,
) -> None:
    """The web UI alone: chat, knowledge base, handoff queue, analytics."""
    from apps.support_bot.ui import build_ui

    bot = open_bot(bot_settings(kb, overrides))
    console.print(f"support bot UI at http://{host}:{port}")
    build_ui(bot).queue(default_concurrency_limit=8).launch(
        server_name=host, server_port=port, inbrowser=open_browser, **ui_options(bot.settings, bot.config.max_upload_mb)
    )
