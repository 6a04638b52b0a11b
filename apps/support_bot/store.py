"""The bot's persistent store: conversations, messages, feedback and handoff tickets (SQLAlchemy 2.0).

SQLite (the default, one file under ``$LLMECO_HOME/support_bot``) serves a single server; PostgreSQL (by URL) lets
several replicas share one store. Every free text goes through ``redact_pii`` before it is written, so the store
never holds raw e-mail addresses, phone numbers, card numbers or ID numbers."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    create_engine,
    delete,
    event,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, aliased, mapped_column, sessionmaker

from apps.support_bot.config import BotConfig, bot_home
from core.config import Settings
from core.data.pii import redact_pii
from core.errors import ConfigError, InvalidRequestError, LLMEcoError
from core.governance.sqlite import scrub
from core.logs import current_request_id

ROLES = ("user", "assistant")
ACTIONS = ("answer", "clarify", "handoff")
TICKET_STATUSES = ("open", "resolved")
MAX_SESSION_ID = 64
ANON_PREFIX = "anon-"  # the session ids of anonymised conversations (llmeco data purge --anonymise)
_SCHEMA_LOCK = 0x6C6C6D65636F  # PostgreSQL advisory lock: replicas starting together create the tables once


class NotFoundError(InvalidRequestError):
    """An id that names no row (the REST API answers 404)."""


class StoreUnavailableError(LLMEcoError):
    """The database stopped answering after the store opened (the REST API answers 503)."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


class _UTC(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite has no time zones): stored naive in UTC, read back aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.astimezone(timezone.utc).replace(tzinfo=None) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=timezone.utc) if value is not None else None


class _Base(DeclarativeBase):
    pass


class _Conversation(_Base):
    __tablename__ = "conversations"
    session_id: Mapped[str] = mapped_column(String(MAX_SESSION_ID), primary_key=True)
    kb: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(_UTC)
    updated_at: Mapped[datetime] = mapped_column(_UTC)
    user_id: Mapped[str | None] = mapped_column(String(200), index=True)  # the customer, when the caller names one


class _Message(_Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_created_at", "created_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("conversations.session_id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    action: Mapped[str | None] = mapped_column(String(16))
    intent: Mapped[str | None] = mapped_column(String(100))
    confidence: Mapped[float | None] = mapped_column(Float)
    sources: Mapped[list | None] = mapped_column(JSON)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(_UTC)
    request_id: Mapped[str | None] = mapped_column(String(128))  # the X-Request-ID of the request that wrote it
    model: Mapped[str | None] = mapped_column(String(200))  # the chat model asked for a reply: "name@v3", a version


class _Feedback(_Base):
    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), unique=True)
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(_UTC, index=True)


class _Ticket(_Base):
    __tablename__ = "tickets"
    # At most one open ticket per session, enforced by the database so concurrent handoffs cannot open two.
    __table_args__ = (
        Index(
            "uq_tickets_open_session",
            "session_id",
            unique=True,
            sqlite_where=sql_text("status = 'open'"),
            postgresql_where=sql_text("status = 'open'"),
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("conversations.session_id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    transcript: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(_UTC)
    resolved_at: Mapped[datetime | None] = mapped_column(_UTC)
    resolution: Mapped[str | None] = mapped_column(Text)
    agent: Mapped[str | None] = mapped_column(String(200))


# ----- learning loop (apps/support_bot/learning.py): agents' replies and the review queue of suggestions ---------
SUGGESTION_KINDS = ("faq", "paraphrase", "intent")
SUGGESTION_STATUSES = ("pending", "approved", "rejected")


class _TicketReply(_Base):
    """What the agent answered the customer when resolving a ticket (the answer a new FAQ entry is made from)."""

    __tablename__ = "ticket_replies"
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(_UTC)


class _Suggestion(_Base):
    __tablename__ = "suggestions"
    # One suggestion of each kind per origin, so refreshing the queue never duplicates one.
    __table_args__ = (Index("uq_suggestions_origin_kind", "origin", "kind", unique=True),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    origin: Mapped[str] = mapped_column(String(64))  # "ticket:ID" | "feedback:MESSAGE_ID"
    session_id: Mapped[str] = mapped_column(ForeignKey("conversations.session_id"), index=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)  # faq: the answer to add
    entry_id: Mapped[str | None] = mapped_column(String(200))  # paraphrase: the FAQ entry it is another wording of
    label: Mapped[str | None] = mapped_column(String(100))  # intent: the example's label
    lang: Mapped[str] = mapped_column(String(8))
    note: Mapped[str | None] = mapped_column(Text)  # why it was suggested
    created_at: Mapped[datetime] = mapped_column(_UTC)
    reviewed_at: Mapped[datetime | None] = mapped_column(_UTC)


@dataclass
class Suggestion:
    id: int
    kind: str  # faq | paraphrase | intent
    status: str  # pending | approved | rejected
    origin: str
    session_id: str
    question: str
    answer: str | None
    entry_id: str | None
    label: str | None
    lang: str
    note: str | None
    created_at: datetime
    reviewed_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "created_at": _iso(self.created_at), "reviewed_at": _iso(self.reviewed_at)}


@dataclass
class Disliked:
    """A thumbs-down reply with the customer question it answered."""

    message_id: int
    session_id: str
    question: str
    answer: str
    intent: str | None
    confidence: float | None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass
class StoredMessage:
    id: int
    session_id: str
    role: str
    text: str
    action: str | None
    intent: str | None
    confidence: float | None
    sources: list[dict]
    latency_ms: float | None
    created_at: datetime
    request_id: str | None = None
    model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "created_at": _iso(self.created_at)}


@dataclass
class Ticket:
    id: int
    session_id: str
    reason: str
    status: str
    transcript: list[dict]  # [{role, text, created_at (ISO)}] at the time of the (last) handoff
    created_at: datetime
    resolved_at: datetime | None
    resolution: str | None
    agent: str | None

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "created_at": _iso(self.created_at), "resolved_at": _iso(self.resolved_at)}


@dataclass
class DayVolume:
    day: date
    messages: int
    conversations: int  # sessions with at least one message that day

    def to_dict(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "messages": self.messages, "conversations": self.conversations}


@dataclass
class Unanswered:
    text: str  # the most frequent wording of the question
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "count": self.count}


@dataclass
class ModelFeedback:
    replies: int
    thumbs_up: int
    thumbs_down: int

    @property
    def satisfaction(self) -> float | None:
        rated = self.thumbs_up + self.thumbs_down
        return self.thumbs_up / rated if rated else None


@dataclass
class Stats:
    days: int
    since: datetime
    daily: list[DayVolume]  # one entry per day of the window, oldest first, zeros included
    conversations: int
    actions: dict[str, int]  # replies per action: answer, clarify, handoff
    unanswered: list[Unanswered]  # user questions the bot met with clarify/handoff, most frequent first
    thumbs_up: int
    thumbs_down: int
    open_tickets: int  # open now, whatever their age
    # per chat model asked for replies ("name@v3" per version during a canary): replies, thumbs up / down
    by_model: dict[str, ModelFeedback] = field(default_factory=dict)

    @property
    def messages(self) -> int:
        return sum(d.messages for d in self.daily)

    @property
    def action_rates(self) -> dict[str, float]:
        total = sum(self.actions.values())
        return {a: (n / total if total else 0.0) for a, n in self.actions.items()}

    @property
    def satisfaction(self) -> float | None:
        """Share of thumbs up among rated replies; None before the first rating."""
        rated = self.thumbs_up + self.thumbs_down
        return self.thumbs_up / rated if rated else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "since": _iso(self.since),
            "messages": self.messages,
            "conversations": self.conversations,
            "daily": [d.to_dict() for d in self.daily],
            "actions": self.actions,
            "action_rates": self.action_rates,
            "unanswered": [u.to_dict() for u in self.unanswered],
            "thumbs_up": self.thumbs_up,
            "thumbs_down": self.thumbs_down,
            "satisfaction": self.satisfaction,
            "open_tickets": self.open_tickets,
            "by_model": {m: {**asdict(f), "satisfaction": f.satisfaction} for m, f in self.by_model.items()},
        }


_TRAILING = re.compile(r"[\s\W_]+$")


def normalise_question(question: str) -> str:
    """Grouping key for questions: NFKC (full-width to half-width), case, spacing and trailing punctuation
    ("Where is my order?" = "where is  my order" ; "退款？" = "退款")."""
    folded = " ".join(unicodedata.normalize("NFKC", question).casefold().split())
    return _TRAILING.sub("", folded)


def _message(row: _Message) -> StoredMessage:
    return StoredMessage(
        id=row.id,
        session_id=row.session_id,
        role=row.role,
        text=row.text,
        action=row.action,
        intent=row.intent,
        confidence=row.confidence,
        sources=row.sources or [],
        latency_ms=row.latency_ms,
        created_at=row.created_at,
        request_id=row.request_id,
        model=row.model,
    )


def _ticket(row: _Ticket) -> Ticket:
    return Ticket(
        id=row.id,
        session_id=row.session_id,
        reason=row.reason,
        status=row.status,
        transcript=row.transcript,
        created_at=row.created_at,
        resolved_at=row.resolved_at,
        resolution=row.resolution,
        agent=row.agent,
    )


def _suggestion(row: _Suggestion) -> Suggestion:
    return Suggestion(**{c.key: getattr(row, c.key) for c in _Suggestion.__table__.columns})


def _choice(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InvalidRequestError(f"{name} must be one of {', '.join(map(str, allowed))}; got {value!r}")


def _check_session_id(session_id: str) -> None:
    if not isinstance(session_id, str) or not 0 < len(session_id) <= MAX_SESSION_ID:
        raise InvalidRequestError(
            f"session_id must be a non-empty string of at most {MAX_SESSION_ID} characters "
            "(Store.new_session_id() makes one)"
        )


def _parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"store_url {url!r} is not a database URL; use sqlite:///PATH/bot.db or "
            "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB (apps.support_bot.store_url)"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"store_url must be a SQLite or PostgreSQL URL; {backend!r} is not supported")
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ConfigError("the store needs a SQLite file, not an in-memory database: use sqlite:///PATH/bot.db")
    return parsed


def _sqlite_engine(url: URL) -> Engine:
    Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        # secure_delete: deleted rows are overwritten on disk (llmeco data purge/forget)
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "busy_timeout=30000",
            "foreign_keys=ON",
            "secure_delete=ON",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # A writer takes the write lock up front: a deferred transaction that reads then writes can fail at once
        # with "database is locked" when another writer got there first, whatever the busy timeout.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")

    return engine


@contextmanager
def _available() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        raise StoreUnavailableError(
            f"the bot store is not answering ({str(exc.orig).strip()}); check that its database is running "
            "and that its disk has free space"
        ) from None


def _add_new_columns(conn: Any) -> None:
    """Stores made before conversations had a user id, or messages a request id or model, get the columns
    (create_all adds tables, not columns)."""
    if "user_id" not in {c["name"] for c in inspect(conn).get_columns("conversations")}:
        conn.execute(sql_text("ALTER TABLE conversations ADD COLUMN user_id VARCHAR(200)"))
        conn.execute(sql_text("CREATE INDEX ix_conversations_user_id ON conversations (user_id)"))
    columns = {c["name"] for c in inspect(conn).get_columns("messages")}
    for name, kind in (("request_id", "VARCHAR(128)"), ("model", "VARCHAR(200)")):
        if name not in columns:
            conn.execute(sql_text(f"ALTER TABLE messages ADD COLUMN {name} {kind}"))


def _stored(text: str) -> str:
    """Free text as it is written: personal data redacted, NUL removed (PostgreSQL refuses it in text)."""
    return redact_pii(text.replace("\x00", ""))


class Store:
    """Thread-safe: every call runs in its own short transaction on a pooled connection."""

    def __init__(self, url: str) -> None:
        parsed = _parse_url(url)
        self._url = url
        self._postgres = parsed.get_backend_name() == "postgresql"
        try:
            if self._postgres:
                engine = create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10})
            else:
                engine = _sqlite_engine(parsed)
        except ImportError as exc:
            raise ConfigError(
                f"the database driver for {parsed.drivername!r} is not installed ({exc}); "
                "for PostgreSQL use a postgresql+psycopg:// URL"
            ) from None
        except OSError as exc:
            raise ConfigError(f"cannot create the folder of the bot store: {exc}") from None
        self._engine = engine
        writer = engine.execution_options(write=True)
        try:
            with writer.begin() as conn:
                if self._postgres:
                    conn.execute(select(func.pg_advisory_xact_lock(_SCHEMA_LOCK)))
                _Base.metadata.create_all(conn)
                _add_new_columns(conn)
        except OperationalError as exc:
            engine.dispose()
            raise ConfigError(
                f"cannot open the bot store at {parsed.render_as_string(hide_password=True)}: "
                f"{str(exc.orig).strip()}. Check apps.support_bot.store_url and that the database is running."
            ) from None
        self._reads = sessionmaker(engine, expire_on_commit=False)
        self._writes = sessionmaker(writer, expire_on_commit=False)

    @classmethod
    def for_settings(cls, settings: Settings) -> Store:
        url = BotConfig.from_settings(settings).store_url or f"sqlite:///{bot_home(settings) / 'bot.db'}"
        return cls(url)

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with _available(), self._writes.begin() as session:
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with _available(), self._reads() as session:
            yield session

    def _insert(self, table: type[_Base]) -> Any:
        return (pg_insert if self._postgres else sqlite_insert)(table)

    def _touch_conversation(
        self, session: Session, session_id: str, kb: str | None, now: datetime, user_id: str | None = None
    ) -> None:
        """Create the conversation if it is new (concurrent callers cannot collide) and mark it as active."""
        session.execute(
            self._insert(_Conversation)
            .values(session_id=session_id, kb=kb, created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=["session_id"])
        )
        values: dict[str, Any] = {"updated_at": now, **({"kb": kb} if kb else {})}
        if user_id:
            values["user_id"] = user_id
        session.execute(update(_Conversation).where(_Conversation.session_id == session_id).values(**values))

    def new_session_id(self) -> str:
        return uuid.uuid4().hex

    def add_message(
        self,
        session_id: str,
        role: str,
        text: str,
        *,
        kb: str | None = None,
        action: str | None = None,
        intent: str | None = None,
        confidence: float | None = None,
        sources: list[dict] | None = None,
        latency_ms: float | None = None,
        user_id: str | None = None,
        model: str | None = None,
    ) -> int:
        """Store one turn (text redacted); returns its id, which feedback refers to. ``user_id`` names the customer
        the session belongs to (``llmeco data forget --user``); ``model`` the chat model asked for the reply."""
        _check_session_id(session_id)
        _choice("role", role, ROLES)
        _choice("action", action, (*ACTIONS, None))
        if user_id is not None and not 0 < len(user_id) <= 200:
            raise InvalidRequestError("user_id must be a non-empty string of at most 200 characters")
        now = _now()
        with self._write() as session:
            self._touch_conversation(session, session_id, kb, now, user_id)
            row = _Message(
                session_id=session_id,
                role=role,
                text=_stored(text),
                action=action,
                intent=intent,
                confidence=confidence,
                sources=sources or [],
                latency_ms=latency_ms,
                created_at=now,
                request_id=current_request_id(),
                model=model,
            )
            session.add(row)
            session.flush()
            return row.id

    def history(self, session_id: str, limit: int | None = None) -> list[StoredMessage]:
        """The session's messages, oldest first: all of them, or the last ``limit``."""
        if limit is not None and limit < 0:
            raise InvalidRequestError(f"limit must be 0 or more; got {limit}")
        query = select(_Message).where(_Message.session_id == session_id).order_by(_Message.id.desc()).limit(limit)
        with self._read() as session:
            return [_message(row) for row in reversed(session.scalars(query).all())]

    def message_count(self, session_id: str | None = None) -> int:
        query = select(func.count(_Message.id))
        if session_id is not None:
            query = query.where(_Message.session_id == session_id)
        with self._read() as session:
            return session.scalar(query)

    def message(self, message_id: int) -> StoredMessage:
        with self._read() as session:
            row = session.get(_Message, message_id)
            if row is None:
                raise NotFoundError(f"no message with id {message_id}")
            return _message(row)

    def add_feedback(self, message_id: int, rating: int, comment: str | None = None) -> int:
        """Rate one of the bot's replies (+1 / -1). A message keeps one rating: a new one replaces the old."""
        if rating not in (1, -1):
            raise InvalidRequestError(f"rating must be +1 (thumbs up) or -1 (thumbs down); got {rating!r}")
        now = _now()
        with self._write() as session:
            role = session.scalar(select(_Message.role).where(_Message.id == message_id))
            if role is None:
                raise NotFoundError(f"no message with id {message_id}; rate an id returned by the chat API")
            if role != "assistant":
                raise InvalidRequestError(f"message {message_id} is the user's; feedback rates the bot's replies")
            values = {"rating": rating, "comment": _stored(comment) if comment else None, "created_at": now}
            statement = (
                self._insert(_Feedback)
                .values(message_id=message_id, **values)
                .on_conflict_do_update(index_elements=["message_id"], set_=values)
                .returning(_Feedback.id)
            )
            return session.scalar(statement)

    def create_ticket(self, session_id: str, reason: str) -> Ticket:
        """Hand the session to a human: a ticket with a snapshot of the transcript. While a ticket of the session
        is open, a new handoff refreshes that ticket (reason and transcript) rather than opening a second one."""
        _check_session_id(session_id)
        reason = _stored(reason)
        try:
            return self._open_ticket(session_id, reason)
        except IntegrityError:  # a concurrent handoff opened the ticket first: refresh that one
            return self._open_ticket(session_id, reason)

    def _open_ticket(self, session_id: str, reason: str) -> Ticket:
        now = _now()
        with self._write() as session:
            self._touch_conversation(session, session_id, None, now)
            transcript = [
                {"role": m.role, "text": m.text, "created_at": _iso(m.created_at)}
                for m in session.scalars(
                    select(_Message).where(_Message.session_id == session_id).order_by(_Message.id)
                )
            ]
            row = session.scalar(select(_Ticket).where(_Ticket.session_id == session_id, _Ticket.status == "open"))
            if row is None:
                row = _Ticket(session_id=session_id, status="open", created_at=now)
                session.add(row)
            row.reason, row.transcript = reason, transcript
            session.flush()
            return _ticket(row)

    def tickets(self, status: str | None = "open") -> list[Ticket]:
        """Tickets with that status (None: all), oldest first, so agents work through the queue in order."""
        _choice("status", status, (*TICKET_STATUSES, None))
        query = select(_Ticket).order_by(_Ticket.id)
        if status is not None:
            query = query.where(_Ticket.status == status)
        with self._read() as session:
            return [_ticket(row) for row in session.scalars(query)]

    def ticket(self, ticket_id: int) -> Ticket:
        with self._read() as session:
            return _ticket(self._get_ticket(session, ticket_id))

    def _get_ticket(self, session: Session, ticket_id: int) -> _Ticket:
        row = session.get(_Ticket, ticket_id)
        if row is None:
            raise NotFoundError(f"no ticket with id {ticket_id}; list them with the tickets API")
        return row

    def resolve_ticket(
        self, ticket_id: int, note: str = "", agent: str | None = None, reply: str | None = None
    ) -> Ticket:
        """Close a ticket; ``reply`` is what the agent answered the customer, which the learning loop turns into a
        suggested FAQ entry or paraphrase."""
        with self._write() as session:
            row = self._get_ticket(session, ticket_id)
            if row.status != "open":
                raise InvalidRequestError(f"ticket {ticket_id} was already resolved at {_iso(row.resolved_at)}")
            row.status = "resolved"
            row.resolved_at = _now()
            row.resolution = _stored(note)
            row.agent = _stored(agent) if agent else None
            if reply and reply.strip():
                session.add(_TicketReply(ticket_id=ticket_id, text=_stored(reply.strip()), created_at=row.resolved_at))
            session.flush()
            return _ticket(row)

    # ----- learning loop ----------------------------------------------------------------------------------------
    def ticket_reply(self, ticket_id: int) -> str | None:
        """The agent's reply stored when the ticket was resolved (None without one)."""
        with self._read() as session:
            self._get_ticket(session, ticket_id)
            return session.scalar(select(_TicketReply.text).where(_TicketReply.ticket_id == ticket_id))

    def replied_tickets(self) -> list[tuple[Ticket, str]]:
        """Resolved tickets that carry an agent reply, oldest first."""
        query = select(_Ticket, _TicketReply.text).join(_TicketReply, _TicketReply.ticket_id == _Ticket.id)
        with self._read() as session:
            return [(_ticket(t), text) for t, text in session.execute(query.order_by(_Ticket.id))]

    def disliked(self, message_id: int | None = None) -> list[Disliked]:
        """Thumbs-down replies (or the one ``message_id``, if thumbs-down) with the question each answered."""
        reply, prior = _Message, aliased(_Message)
        asked = (
            select(func.max(prior.id))
            .where(prior.session_id == reply.session_id, prior.role == "user", prior.id < reply.id)
            .scalar_subquery()
        )
        question = aliased(_Message)
        query = (
            select(reply, question)
            .join(_Feedback, _Feedback.message_id == reply.id)
            .join(question, question.id == asked)
            .where(_Feedback.rating == -1)
            .order_by(reply.id)
        )
        if message_id is not None:
            query = query.where(reply.id == message_id)
        with self._read() as session:
            return [
                Disliked(r.id, r.session_id, q.text, r.text, q.intent, q.confidence) for r, q in session.execute(query)
            ]

    def add_suggestions(self, rows: list[dict[str, Any]]) -> list[Suggestion]:
        """Queue suggestions (fields of ``Suggestion`` without id/status/times); one of each kind per origin:
        a row whose origin already has that kind is skipped. Returns those added."""
        added = []
        with self._write() as session:
            for row in rows:
                _choice("kind", row.get("kind"), SUGGESTION_KINDS)
                exists = session.scalar(
                    select(_Suggestion.id).where(_Suggestion.origin == row["origin"], _Suggestion.kind == row["kind"])
                )
                if exists is not None:
                    continue
                texts = {k: _stored(row[k]) if row.get(k) else None for k in ("question", "answer", "note")}
                item = _Suggestion(**{**row, **texts, "status": "pending", "created_at": _now()})
                session.add(item)
                session.flush()
                added.append(_suggestion(item))
        return added

    def suggestions(self, status: str | None = "pending") -> list[Suggestion]:
        """The review queue (or every suggestion with status None), oldest first."""
        _choice("status", status, (*SUGGESTION_STATUSES, None))
        query = select(_Suggestion).order_by(_Suggestion.id)
        if status is not None:
            query = query.where(_Suggestion.status == status)
        with self._read() as session:
            return [_suggestion(row) for row in session.scalars(query)]

    def suggestion(self, suggestion_id: int) -> Suggestion:
        with self._read() as session:
            return _suggestion(self._get_suggestion(session, suggestion_id))

    def _get_suggestion(self, session: Session, suggestion_id: int) -> _Suggestion:
        row = session.get(_Suggestion, suggestion_id)
        if row is None:
            raise NotFoundError(f"no suggestion with id {suggestion_id}; list them with `llmeco bot suggestions list`")
        return row

    def review_suggestion(self, suggestion_id: int, status: str, **edits: str | None) -> Suggestion:
        """Approve or reject a pending suggestion, with the reviewer's edits (question, answer, entry_id, label)."""
        _choice("status", status, SUGGESTION_STATUSES[1:])
        with self._write() as session:
            row = self._get_suggestion(session, suggestion_id)
            if row.status != "pending":
                raise InvalidRequestError(f"suggestion {suggestion_id} was already {row.status}")
            for key, value in edits.items():
                if value is not None:
                    setattr(row, key, _stored(value) if key in ("question", "answer") else value)
            row.status, row.reviewed_at = status, _now()
            session.flush()
            return _suggestion(row)

    def replies(self, days: int = 30) -> list[tuple[datetime, str, float | None]]:
        """(time, action, intent confidence) of every reply in the last ``days`` UTC days, oldest first: the
        portal's monitoring page plots them per day."""
        since = datetime.combine(_now().date() - timedelta(days=days - 1), time(), timezone.utc)
        with self._read() as session:
            rows = session.execute(
                select(_Message.created_at, _Message.action, _Message.confidence)
                .where(_Message.created_at >= since, _Message.role == "assistant", _Message.action.is_not(None))
                .order_by(_Message.id)
            ).all()
        return [tuple(r) for r in rows]

    def stats(self, days: int = 30, top: int = 10) -> Stats:
        """Activity over the last ``days`` UTC days (today included), with the ``top`` most frequent questions the
        bot could not answer: the user messages its clarify/handoff replies answered."""
        if days < 1 or top < 0:
            raise InvalidRequestError(f"days must be 1 or more and top 0 or more; got days={days}, top={top}")
        today = _now().date()
        first = today - timedelta(days=days - 1)
        since = datetime.combine(first, time(), timezone.utc)
        recent = _Message.created_at >= since
        day = func.date(_Message.created_at)
        reply, question, prior = _Message, aliased(_Message), aliased(_Message)
        asked = (  # the user message a reply answered: the session's last one before it
            select(func.max(prior.id))
            .where(prior.session_id == reply.session_id, prior.role == "user", prior.id < reply.id)
            .scalar_subquery()
        )
        with self._read() as session:
            per_day = session.execute(
                select(day, func.count(_Message.id), func.count(func.distinct(_Message.session_id)))
                .where(recent)
                .group_by(day)
            ).all()
            conversations = session.scalar(select(func.count(func.distinct(_Message.session_id))).where(recent))
            actions = dict(
                session.execute(
                    select(_Message.action, func.count(_Message.id))
                    .where(recent, _Message.role == "assistant", _Message.action.is_not(None))
                    .group_by(_Message.action)
                ).all()
            )
            unanswered = session.scalars(
                select(question.text)
                .join(reply, question.id == asked)
                .where(reply.created_at >= since, reply.role == "assistant", reply.action.in_(("clarify", "handoff")))
            ).all()
            ratings = dict(
                session.execute(
                    select(_Feedback.rating, func.count(_Feedback.id))
                    .where(_Feedback.created_at >= since)
                    .group_by(_Feedback.rating)
                ).all()
            )
            open_tickets = session.scalar(select(func.count(_Ticket.id)).where(_Ticket.status == "open"))
            per_model = session.execute(
                select(
                    _Message.model,
                    func.count(_Message.id),
                    func.count(_Feedback.id).filter(_Feedback.rating == 1),
                    func.count(_Feedback.id).filter(_Feedback.rating == -1),
                )
                .outerjoin(_Feedback, _Feedback.message_id == _Message.id)
                .where(recent, _Message.model.is_not(None))
                .group_by(_Message.model)
            ).all()
        counted = {str(d): (messages, sessions) for d, messages, sessions in per_day}  # SQLite: str, PostgreSQL: date
        daily = []
        for offset in range(days):
            d = first + timedelta(days=offset)
            messages, sessions = counted.get(d.isoformat(), (0, 0))
            daily.append(DayVolume(d, messages, sessions))
        return Stats(
            days=days,
            since=since,
            daily=daily,
            conversations=conversations,
            actions={a: actions.get(a, 0) for a in ACTIONS},
            unanswered=_group_questions(unanswered)[:top],
            thumbs_up=ratings.get(1, 0),
            thumbs_down=ratings.get(-1, 0),
            open_tickets=open_tickets,
            by_model={m: ModelFeedback(n, up, down) for m, n, up, down in sorted(per_model)},
        )

    # ----- data governance (core/governance): retention, forgetting, training export with lineage ---------------
    def purge(self, before: datetime, anonymise: bool = False) -> dict[str, int]:
        """Delete (or anonymise) every conversation last active before ``before``, with all rows of it in any table;
        rows per table. Anonymised: a random ``anon-`` session id, no user id, free text redacted again (once: already
        anonymised conversations are left as they are, unless deleting)."""
        chosen = select(_Conversation.session_id).where(_Conversation.updated_at < before)
        if anonymise:
            chosen = chosen.where(_Conversation.session_id.not_like(f"{ANON_PREFIX}%"))
        with self._write() as session:
            ids = list(session.scalars(chosen))
            counts = self._anonymise(session, ids) if anonymise else self._delete_sessions(session, ids)
        scrub(self._engine)
        return counts

    def forget(self, session_id: str | None = None, user_id: str | None = None) -> tuple[dict[str, int], list[str]]:
        """Delete one session, or every session of ``user_id``, from every table: (rows per table, session ids)."""
        chosen = select(_Conversation.session_id).where(
            _Conversation.session_id == session_id if session_id is not None else _Conversation.user_id == user_id
        )
        with self._write() as session:
            ids = list(session.scalars(chosen))
            counts = self._delete_sessions(session, ids)
        scrub(self._engine)
        return counts, ids

    @staticmethod
    def _session_rows() -> list[tuple[Any, Any]]:
        """(table, column holding the session id or pointing at a row that holds it), dependents first, for every
        table, including ones added later: a new table that stores a session's data is covered without a change."""
        found = []
        for table in reversed(_Base.metadata.sorted_tables):
            if "session_id" in table.c:
                found.append((table, None))
            found += [
                (table, fk)
                for fk in table.foreign_keys
                if fk.parent.name != "session_id" and "session_id" in fk.column.table.c
            ]
        return found

    def _delete_sessions(self, session: Session, ids: list[str]) -> dict[str, int]:
        counts = dict.fromkeys((table.name for table, _ in self._session_rows()), 0)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for table, fk in self._session_rows():
                if fk is None:
                    where = table.c.session_id.in_(chunk)
                else:
                    parent = fk.column.table
                    where = fk.parent.in_(select(fk.column).where(parent.c.session_id.in_(chunk)))
                removed = session.execute(delete(table).where(where)).rowcount
                counts[table.name] = counts.get(table.name, 0) + removed
        return counts

    def _anonymise(self, session: Session, ids: list[str]) -> dict[str, int]:
        counts = dict.fromkeys((table.name for table, _ in self._session_rows()), 0)
        for old in ids:
            conversation = session.get(_Conversation, old)
            new = f"{ANON_PREFIX}{uuid.uuid4().hex}"
            session.add(
                _Conversation(
                    session_id=new, kb=conversation.kb, created_at=conversation.created_at,
                    updated_at=conversation.updated_at, user_id=None,
                )
            )  # fmt: skip
            session.flush()
            for table, fk in self._session_rows():
                texts = [c for c in table.c if isinstance(c.type, Text)]
                if fk is None:
                    where = table.c.session_id == (new if table is _Conversation.__table__ else old)
                else:
                    where = fk.parent.in_(select(fk.column).where(fk.column.table.c.session_id.in_((old, new))))
                rows = session.execute(select(table.primary_key.columns[0], *texts).where(where)).all()
                for key, *values in rows:
                    changes = {c.name: redact_pii(v) for c, v in zip(texts, values, strict=True) if v}
                    if fk is None and table is not _Conversation.__table__:
                        changes["session_id"] = new
                    if changes:
                        session.execute(update(table).where(table.primary_key.columns[0] == key).values(**changes))
                counts[table.name] = counts.get(table.name, 0) + len(rows)
            session.delete(conversation)
        return counts

    def rated_answers(self, min_rating: int = 1) -> list[tuple[str, str, str]]:
        """(session id, customer question, bot answer) for every reply rated at least ``min_rating``, oldest first:
        conversations worth training on."""
        reply, prior, question = _Message, aliased(_Message), aliased(_Message)
        asked = (
            select(func.max(prior.id))
            .where(prior.session_id == reply.session_id, prior.role == "user", prior.id < reply.id)
            .scalar_subquery()
        )
        query = (
            select(reply.session_id, question.text, reply.text)
            .join(_Feedback, _Feedback.message_id == reply.id)
            .join(question, question.id == asked)
            .where(_Feedback.rating >= min_rating)
            .order_by(reply.id)
        )
        with self._read() as session:
            return [tuple(row) for row in session.execute(query)]

    def database_url(self) -> str | None:
        """The PostgreSQL URL a backup dumps (None for SQLite: its file is under LLMECO_HOME)."""
        return self._url if self._postgres else None

    def close(self) -> None:
        self._engine.dispose()


def _group_questions(questions: list[str]) -> list[Unanswered]:
    """Group by ``normalise_question``; each group shows its most frequent wording. Ties go by text, so the result
    does not depend on the order the database returned rows in."""
    groups: dict[str, Counter[str]] = {}
    for q in questions:
        groups.setdefault(normalise_question(q), Counter())[q.strip()] += 1
    rows = [Unanswered(min(ws, key=lambda w: (-ws[w], w)), ws.total()) for ws in groups.values()]
    return sorted(rows, key=lambda u: (-u.count, u.text))
