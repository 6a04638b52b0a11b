"""Documents and every version of them (SQLAlchemy 2.0, SQLite under ``$LLMECO_HOME/writing_assistant``, the
support bot's conventions: WAL, a busy timeout, writers take the lock up front, and ``secure_delete`` so a deleted
document's text is overwritten on disk). A save never rewrites a version: undo adds a version too, so nothing a
writer had is ever lost."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, create_engine, event, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from apps.writing_assistant.config import WriterConfig, writer_home
from apps.writing_assistant.textutil import LANGUAGES
from core.config import Settings
from core.data.pii import redact_pii
from core.errors import InvalidRequestError
from core.governance.sqlite import scrub


class NotFoundError(InvalidRequestError):
    """An id that names no document or version (the REST API answers 404)."""


class _Base(DeclarativeBase):
    pass


class _Document(_Base):
    __tablename__ = "documents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    language: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[str] = mapped_column(String(40))


class _Version(_Base):
    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("document_id", "number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    parent: Mapped[int | None] = mapped_column(Integer)  # the version this one was made from (undo walks back)
    text: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[str] = mapped_column(String(40))


@dataclass
class Version:
    number: int
    parent: int | None
    text: str
    note: str
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Document:
    id: int
    title: str
    language: str
    kind: str | None
    created_at: str
    updated_at: str
    version: int  # the current (latest) version number
    text: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_CURRENT = object()  # save(): the new version is made from the current one


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class DocumentStore:
    """Thread-safe: every call is one short transaction."""

    def __init__(self, path: Path, max_text_chars: int = 1_000_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_text_chars = max_text_chars
        self._engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(self._engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            for pragma in ("journal_mode=WAL", "busy_timeout=30000", "foreign_keys=ON", "secure_delete=ON"):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        @event.listens_for(self._engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        _Base.metadata.create_all(self._engine)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)

    @classmethod
    def for_settings(cls, settings: Settings) -> DocumentStore:
        config = WriterConfig.from_settings(settings)
        return cls(writer_home(settings) / "documents.db", config.max_text_chars)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def _check(self, text: str) -> None:
        if not isinstance(text, str):
            raise InvalidRequestError("a document's text must be a string")
        if len(text) > self.max_text_chars:
            raise InvalidRequestError(
                f"the text has {len(text):,} characters; a document holds at most {self.max_text_chars:,}"
                " (apps.writing_assistant.max_text_chars). Nothing was saved."
            )

    def create(self, title: str, text: str, language: str, kind: str | None = None, note: str = "created") -> Document:
        title = (title or "").strip() or "Untitled"
        if language not in LANGUAGES:
            raise InvalidRequestError(f"language must be en or zh; got {language!r}")
        self._check(text)
        now = _now()
        with self._session() as session:
            doc = _Document(title=title[:300], language=language, kind=kind, created_at=now, updated_at=now)
            session.add(doc)
            session.flush()
            session.add(_Version(document_id=doc.id, number=1, parent=None, text=text, note=note, created_at=now))
            doc_id = doc.id
        return self.get(doc_id)

    def save(self, doc_id: int, text: str, note: str = "edited", parent: int | None | object = _CURRENT) -> Document:
        """Add a version made from ``parent`` (default: the current one; None: no parent) and make it current."""
        self._check(text)
        now = _now()
        with self._session() as session:
            doc = self._doc(session, doc_id)
            latest = self._latest(session, doc_id)
            session.add(
                _Version(
                    document_id=doc_id,
                    number=latest.number + 1,
                    parent=latest.number if parent is _CURRENT else parent,
                    text=text,
                    note=note[:300],
                    created_at=now,
                )
            )
            doc.updated_at = now
        return self.get(doc_id)

    def undo(self, doc_id: int) -> Document:
        """Back to the version the current one was made from, as a new version (repeat to go further back)."""
        with self._session() as session:
            current = self._latest(session, doc_id)
            if current.parent is None:
                raise InvalidRequestError(f"document {doc_id} is at its first version: nothing to undo")
            earlier = self._version(session, doc_id, current.parent)
            text, number, grandparent = earlier.text, earlier.number, earlier.parent
        return self.save(doc_id, text, f"undo: back to version {number}", parent=grandparent)

    def restore(self, doc_id: int, number: int) -> Document:
        with self._session() as session:
            text = self._version(session, doc_id, number).text
        return self.save(doc_id, text, f"restored version {number}", parent=number)

    def rename(self, doc_id: int, title: str) -> Document:
        with self._session() as session:
            self._doc(session, doc_id).title = (title or "").strip()[:300] or "Untitled"
        return self.get(doc_id)

    def get(self, doc_id: int) -> Document:
        with self._session() as session:
            doc = self._doc(session, doc_id)
            latest = self._latest(session, doc_id)
            return Document(
                doc.id, doc.title, doc.language, doc.kind, doc.created_at, doc.updated_at, latest.number, latest.text
            )

    def versions(self, doc_id: int) -> list[Version]:
        with self._session() as session:
            self._doc(session, doc_id)
            rows = session.scalars(select(_Version).where(_Version.document_id == doc_id).order_by(_Version.number))
            return [Version(r.number, r.parent, r.text, r.note, r.created_at) for r in rows]

    def version(self, doc_id: int, number: int) -> Version:
        with self._session() as session:
            r = self._version(session, doc_id, number)
            return Version(r.number, r.parent, r.text, r.note, r.created_at)

    def list(self) -> list[dict[str, Any]]:
        """Every document, newest first: id, title, language, kind, versions, updated_at."""
        query = (
            select(_Document, func.max(_Version.number))
            .join(_Version, _Version.document_id == _Document.id)
            .group_by(_Document.id)
            .order_by(_Document.updated_at.desc(), _Document.id.desc())
        )
        with self._session() as session:
            return [
                {"id": d.id, "title": d.title, "language": d.language, "kind": d.kind, "versions": n,
                 "updated_at": d.updated_at}
                for d, n in session.execute(query).all()
            ]  # fmt: skip

    def delete(self, doc_id: int) -> None:
        """Remove a document and all its versions (overwritten on disk: ``secure_delete``)."""
        with self._session() as session:
            doc = self._doc(session, doc_id)
            for v in session.scalars(select(_Version).where(_Version.document_id == doc_id)):
                session.delete(v)
            session.delete(doc)

    def purge(self, before: datetime, anonymise: bool = False) -> dict[str, int]:
        """Documents last changed before ``before``: deleted with every version (overwritten on disk), or anonymised
        (personal data redacted from titles and every version). Rows per table."""
        old = select(_Document.id).where(
            _Document.updated_at < before.astimezone(timezone.utc).isoformat("T", "seconds")
        )
        with self._session() as session:
            ids = list(session.scalars(old))
            versions = session.scalars(select(_Version).where(_Version.document_id.in_(ids))).all()
            for v in versions:
                if anonymise:
                    v.text, v.note = redact_pii(v.text), redact_pii(v.note)
                else:
                    session.delete(v)
            for doc in session.scalars(select(_Document).where(_Document.id.in_(ids))):
                if anonymise:
                    doc.title = redact_pii(doc.title)
                else:
                    session.delete(doc)
        scrub(self._engine)
        return {"documents": len(ids), "versions": len(versions)}

    def _doc(self, session: Session, doc_id: int) -> _Document:
        doc = session.get(_Document, doc_id)
        if doc is None:
            raise NotFoundError(f"no document with id {doc_id}")
        return doc

    def _latest(self, session: Session, doc_id: int) -> _Version:
        self._doc(session, doc_id)
        return session.scalars(
            select(_Version).where(_Version.document_id == doc_id).order_by(_Version.number.desc()).limit(1)
        ).one()

    def _version(self, session: Session, doc_id: int, number: int) -> _Version:
        row = session.scalars(
            select(_Version).where(_Version.document_id == doc_id, _Version.number == number)
        ).one_or_none()
        if row is None:
            raise NotFoundError(f"document {doc_id} has no version {number}")
        return row

    def close(self) -> None:
        self._engine.dispose()
