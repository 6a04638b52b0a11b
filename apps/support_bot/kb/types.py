"""What a knowledge base holds: sources (files) and the entries (FAQ pairs, document chunks) parsed from them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from core.errors import LLMEcoError


@dataclass
class Entry:
    """One retrievable unit. FAQ entries carry ``question``/``answer``; document chunks carry ``text`` under a
    ``title`` (the heading path, e.g. "Returns policy > Refund times")."""

    id: str  # stable across re-ingests: the FAQ's own id, else derived from source and position
    source_id: str
    kind: Literal["faq", "doc"]
    title: str
    text: str  # what is indexed and shown: FAQ "question\nanswer", document chunk text
    question: str | None = None
    answer: str | None = None
    category: str | None = None
    lang: str = "en"  # "en" | "zh" (detected from the text)
    paraphrases: list[str] = field(default_factory=list)  # FAQ: other ways to ask the question (from the file)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Source:
    """One ingested file. ``sha256`` of its bytes decides whether a re-ingest changes anything."""

    id: str  # the file name, unique within a knowledge base (re-ingesting the same name replaces it)
    name: str
    kind: Literal["faq", "doc"]
    sha256: str
    entries: int
    ingested_at: str  # ISO 8601 UTC
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Hit:
    """A retrieved entry with its fused score and the per-retriever scores behind it."""

    entry: Entry
    score: float  # reciprocal-rank-fusion score
    dense: float  # cosine similarity with the query (computed for every hit, also those only BM25 found)
    bm25: float  # BM25 score (0 when no term matched)
    rank: int = 0
    question_match: float = 0.0  # FAQ entries: cosine of the query with the FAQ's question alone

    def to_dict(self) -> dict:
        return {
            "id": self.entry.id,
            "source": self.entry.source_id,
            "kind": self.entry.kind,
            "title": self.entry.title,
            "question": self.entry.question,
            "score": round(self.score, 4),
            "dense": round(self.dense, 4),
            "bm25": round(self.bm25, 4),
            "question_match": round(self.question_match, 4),
        }


class KBError(LLMEcoError):
    """A file or request the knowledge base cannot take; the message names the file (and line) and the fix."""
