"""``llmeco data purge | forget | audit | backup | restore``. The commands are core's; the stores come from the
apps (``stores_for``), so an app adds its data by providing ``apps/<name>/governance.py``."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import typer
from rich.table import Table

from core.cli import console, settings_from
from core.config import Settings
from core.errors import InvalidRequestError
from core.governance import DataStore
from core.governance.audit import AuditLog, cli_actor
from core.governance.retention import Report

JSON = typer.Option(False, "--json", help="One JSON object.")


def _print_report(report: Report, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
        return
    table = Table("store", "removed" if report.action != "anonymise" else "anonymised", title=report.action)
    for s in report.stores:
        table.add_row(s.store, ", ".join(f"{k} {v}" for k, v in s.counts.items() if v) or "nothing")
    console.print(table)
    for run, sessions in report.runs.items():
        console.print(f"[yellow]run {run} was trained on {len(sessions)} of them: retrain it without them[/yellow]")


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequestError(
            f"--since takes a date or time such as 2026-01-31 or 2026-01-31T08:00; got {value!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def build_app(stores_for: Callable[[Settings], Sequence[DataStore]]) -> typer.Typer:
    app = typer.Typer(help="Data governance: retention, forgetting a customer, the audit log, backups.")

    @app.command()
    def purge(
        older_than: float | None = typer.Option(
            None, "--older-than", help="Age in days (default: governance.retention_days).", min=0
        ),
        anonymise: bool | None = typer.Option(
            None, "--anonymise/--delete", help="Anonymise instead of deleting (default: governance.anonymise)."
        ),
        as_json: bool = JSON,
    ) -> None:
        """Delete (or anonymise) conversations, tickets, feedback, documents and audio older than the age."""
        from core.governance.retention import purge as run

        settings = settings_from()
        _print_report(run(settings, stores_for(settings), older_than, anonymise, actor=cli_actor()), as_json)

    @app.command()
    def forget(
        session: str | None = typer.Option(None, "--session", help="A session id."),
        user: str | None = typer.Option(None, "--user", help="A customer's user id (every session of theirs)."),
        as_json: bool = JSON,
    ) -> None:
        """Delete one customer's data everywhere; the report names the training runs that used it."""
        from core.governance.retention import forget as run

        settings = settings_from()
        _print_report(run(settings, stores_for(settings), session, user, actor=cli_actor()), as_json)

    @app.command()
    def audit(
        since: str | None = typer.Option(None, "--since", help="From this date or time (UTC unless it says)."),
        limit: int | None = typer.Option(None, "--limit", help="Only the last N entries.", min=1),
        as_json: bool = JSON,
    ) -> None:
        """Who read or exported stored conversations, tickets and documents; model promotions and rollbacks."""
        entries = AuditLog.for_settings(settings_from()).entries(_since(since), limit)
        if as_json:
            print(json.dumps([e.to_dict() for e in entries], ensure_ascii=False))
            return
        table = Table("#", "at (UTC)", "actor", "action", "kind", "target", "detail")
        for e in entries:
            detail = json.dumps(e.detail, ensure_ascii=False) if e.detail else ""
            table.add_row(str(e.id), e.at[:19], e.actor, e.action, e.kind, e.target, detail[:80])
        console.print(table)

    @app.command()
    def backup(
        output: Path = typer.Option(..., "--output", "-o", help="A new or empty folder."), as_json: bool = JSON
    ) -> None:
        """Back up everything under LLMECO_HOME (stores, knowledge bases, runs, registry) and PostgreSQL stores."""
        from core.governance.backup import backup as run

        settings = settings_from()
        summary = run(settings, output, stores_for(settings), actor=cli_actor())
        if as_json:
            print(json.dumps(summary.to_dict()))
        else:
            dumps = f" and PostgreSQL ({', '.join(summary.databases)})" if summary.databases else ""
            console.print(f"backed up {summary.files} files ({summary.bytes / 2**20:.1f} MB){dumps} to {output}")

    @app.command()
    def restore(
        folder: Path = typer.Argument(..., help="A folder `llmeco data backup` wrote."), as_json: bool = JSON
    ) -> None:
        """Verify a backup's checksums, then restore it (stop the apps first)."""
        from core.governance.backup import restore as run

        settings = settings_from()
        summary = run(settings, folder, stores_for(settings), actor=cli_actor())
        if as_json:
            print(json.dumps(summary.to_dict()))
        else:
            console.print(f"restored {summary.files} files from {folder} into {settings.home}")

    return app
