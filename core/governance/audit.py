"""The audit log: who read or exported stored conversations, tickets and documents, and every model registration,
promotion and rollback. Append-only in the database itself: triggers refuse UPDATE and DELETE (and TRUNCATE on
PostgreSQL), so not even code with the database open can rewrite history.

SQLite under ``$LLMECO_HOME/governance/audit.db`` by default; ``governance.audit_url`` points replicas at one
PostgreSQL database."""

from __future__ import annotations

import getpass
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Integer, String, create_engine, event, select
from sqlalchemy import text as sql_text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from core.config import Settings
from core.errors import ConfigError, InvalidRequestError, LLMEcoError
from core.models import user_models

ACTIONS = ("read", "export", "register", "canary", "canary_stop", "promote", "rollback", "purge", "forget", "restore")
APPEND_ONLY = "the audit log is append-only"

_SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
    for verb in ("UPDATE", "DELETE")
]
_POSTGRES_TRIGGERS = [
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$",
    "CREATE OR REPLACE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    "CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
]


class _Base(DeclarativeBase):
    pass


class _Entry(_Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[str] = mapped_column(String(40), index=True)  # ISO 8601 UTC: sorts as text on every backend
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(40))  # conversation, ticket, document, model, data, ...
    target: Mapped[str] = mapped_column(String(300))
    detail: Mapped[dict | None] = mapped_column(JSON)


@dataclass
class AuditEntry:
    id: int
    at: str
    actor: str
    action: str
    kind: str
    target: str
    detail: dict | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_url(settings: Settings) -> str:
    return settings.governance.audit_url or f"sqlite:///{settings.home / 'governance' / 'audit.db'}"


def _login() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        return None


def cli_actor() -> str:
    """The actor of a command-line read or change: ``cli:<login>``."""
    login = _login()
    return f"cli:{login}" if login else "cli"


def ui_actor(request: Any | None) -> str:
    """The actor of a web UI read or change: ``ui:<user>`` when the UI has a login (``gr.Request.username``), else
    ``ui:client:<address>``, else ``ui``."""
    if request is None:
        return "ui"
    if getattr(request, "username", None):
        return f"ui:{request.username}"
    client = getattr(request, "client", None)
    return f"ui:client:{client.host}" if getattr(client, "host", None) else "ui"


_ACTOR: ContextVar[str | None] = ContextVar("audit_actor", default=None)


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Changes recorded without an explicit actor inside the block (model registry changes, see
    :func:`_audit_model_change`) are ``actor``'s: the CLI acts as ``cli:<login>``, a web UI as its user."""
    token = _ACTOR.set(actor)
    try:
        yield
    finally:
        _ACTOR.reset(token)


def current_actor() -> str:
    """The innermost :func:`acting_as` actor, else ``python:<login>`` (a script calling the Python API)."""
    return _ACTOR.get() or f"python:{_login() or 'unknown'}"


def request_actor(request: Any) -> str:
    """The actor of a REST request: ``key:<12 hex digits of the key's SHA-256>`` (the key itself is never logged)
    when the caller sent an API key, else ``client:<address>``."""
    headers = request.headers
    key = (headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")).strip()
    if key:
        return f"key:{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    return f"client:{request.client.host if request.client else 'unknown'}"


class AuditLog:
    """Thread-safe: every call is one short transaction."""

    def __init__(self, url: str) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise ConfigError(f"governance.audit_url {url!r} is not a database URL") from None
        backend = parsed.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise ConfigError(f"governance.audit_url must be a SQLite or PostgreSQL URL; got {backend!r}")
        if backend == "sqlite":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30})

            @event.listens_for(engine, "connect")
            def _connect(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.close()
        else:
            engine = create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10})
        try:
            with engine.begin() as conn:
                _Base.metadata.create_all(conn)
                for statement in _SQLITE_TRIGGERS if backend == "sqlite" else _POSTGRES_TRIGGERS:
                    conn.execute(sql_text(statement))
        except OperationalError as exc:
            engine.dispose()
            raise ConfigError(f"cannot open the audit log: {str(exc.orig).strip()} (governance.audit_url)") from None
        self.url = parsed.render_as_string(hide_password=True)
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def for_settings(cls, settings: Settings) -> AuditLog:
        return _open(default_url(settings))

    def record(self, actor: str, action: str, kind: str, target: str, detail: dict | None = None) -> int:
        if action not in ACTIONS:
            raise InvalidRequestError(f"audit action must be one of {', '.join(ACTIONS)}; got {action!r}")
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        row = _Entry(at=now, actor=actor[:200], action=action, kind=kind[:40], target=str(target)[:300], detail=detail)
        try:
            with self._sessions.begin() as session:
                session.add(row)
                session.flush()
                return row.id
        except OperationalError as exc:
            raise LLMEcoError(f"the audit log is not answering ({str(exc.orig).strip()})") from None

    def request(self, request: Any, action: str, kind: str, target: Any, detail: dict | None = None) -> int:
        """Record a REST read or export by the caller of ``request`` (see :func:`request_actor`)."""
        return self.record(request_actor(request), action, kind, str(target), detail)

    def ui(self, request: Any | None, action: str, kind: str, target: Any, detail: dict | None = None) -> int:
        """Record a web UI read or export by the user of ``request`` (a ``gr.Request``, see :func:`ui_actor`)."""
        return self.record(ui_actor(request), action, kind, str(target), detail)

    def entries(self, since: datetime | None = None, limit: int | None = None) -> list[AuditEntry]:
        """Oldest first; ``since``: entries at or after that time."""
        query = select(_Entry).order_by(_Entry.id)
        if since is not None:
            query = query.where(_Entry.at >= since.astimezone(timezone.utc).isoformat(timespec="milliseconds"))
        with self._sessions() as session:
            rows = session.scalars(query).all()
        rows = rows[-limit:] if limit else rows
        return [AuditEntry(r.id, r.at, r.actor, r.action, r.kind, r.target, r.detail) for r in rows]

    def close(self) -> None:
        self._engine.dispose()


_logs: dict[str, AuditLog] = {}
_lock = threading.Lock()


def _open(url: str) -> AuditLog:
    """One log per URL per process: API routes and CLI commands share its connection pool."""
    with _lock:
        if url not in _logs:
            _logs[url] = AuditLog(url)
        return _logs[url]


def record(settings: Settings, actor: str, action: str, kind: str, target: str, detail: dict | None = None) -> int:
    """Append one entry to the settings' audit log, e.g. ``record(settings, cli_actor(), "promote", "model",
    "support-bot", {"version": 3})``."""
    return AuditLog.for_settings(settings).record(actor, action, kind, target, detail)


def _audit_model_change(settings: Settings, event: dict) -> None:
    """One entry per change to the model registry (register, canary, promote, rollback), however it was made."""
    detail = {k: v for k, v in event.items() if k not in ("name", "action", "time", "by")}
    record(settings, current_actor(), event["action"], "model", event["name"], detail)


# Subscribed once, when this module is first imported: ``user_models`` imports it before it reports a change.
user_models.on_change(_audit_model_change)
