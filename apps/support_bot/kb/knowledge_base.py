"""A knowledge base on disk: sources (files), their entries, their vectors and a BM25 index, searched hybrid.

Each entry is scored by a weighted sum of views: its FAQ question (and known paraphrases: written in the FAQ file or
learned when a customer picks a suggested question), its whole text (question + answer, or a document chunk), and
BM25. The encoder depends on the language: an English-strong one (MiniLM) for English queries on English entries,
the multilingual one (USE) for Chinese and cross-lingual matches. Measured on StackFAQ (125 web-apps FAQs, 1,250
human rephrasings; ``benchmarks/support_bot_retrieval.py``): MiniLM on the question alone 94.5% hit@1, on question +
answer 92.8%, the sum with the text view at 0.5 95.8% (flat from 0.4 to 0.6); USE and BM25 only lowered it, while
on Chinese paraphrases BM25 over characters adds to USE (see ENVIRONMENT notes), hence the per-language weights.
The in-memory index is an immutable snapshot swapped in one assignment, so searches never wait for an ingest and
never see half of one; writers (ingest, delete, learn) take a lock, shared with other processes through ``.lock``
(the API's replicas, ``llmeco data forget``), and start from what is on disk; a search reloads the index when
another process changed it.

On disk under ``root``: ``sources.json``, ``entries.jsonl``, ``vectors.npy`` (multilingual text vectors, float32),
``english.npy`` (English-encoder text vectors), ``questions.npz`` (each distinct question text with its vectors),
``learned.jsonl`` (paraphrases learned from customers, with the session each came from, so forgetting the
customer removes them), ``profile.json`` (company names, optional) and ``meta.json``
(format, models, dimension, digest of ``entries.jsonl``), each written to a temporary file and moved into place,
``meta.json`` last: a crash leaves either the old index or a digest mismatch that the next open repairs.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import io
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PureWindowsPath
from typing import IO, Literal

import numpy as np

from apps.support_bot.config import BotConfig, bot_home
from apps.support_bot.kb.bm25 import BM25, top_k
from apps.support_bot.kb.parsers import SUPPORTED_SUFFIXES, detect_lang, parse_file
from apps.support_bot.kb.tokenize import tokens
from apps.support_bot.kb.types import Entry, Hit, KBError, Source
from core.config import Settings
from core.embeddings import Embedder, load_embedder
from core.filestamp import Stamp, file_stamp

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
# Older formats whose entries.jsonl and sources.json still load: opened by re-embedding, then saved as the current one.
UPGRADABLE_FORMATS = (1,)
# Weights of the views per query language (the question view weighs 1). English: see the module docstring. Chinese:
# USE's question and text views with BM25 over characters/bigrams/jieba words, which carries Chinese paraphrases that
# USE misses (BM25 votes only for entries that hold MIN_COVERAGE of the query's IDF mass, so one shared character
# does not count).
TEXT_WEIGHT = {"en": 0.5, "zh": 0.5}
BM25_WEIGHT = {"en": 0.0, "zh": 0.3}
MIN_COVERAGE = 0.2
EMBED_BATCH = 256
SearchMode = Literal["hybrid", "dense", "bm25"]
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass
class IngestResult:
    """What happened to one file; ``error`` is the user-facing reason when ``status`` is "error"."""

    name: str
    status: Literal["added", "updated", "unchanged", "error"]
    entries: int = 0
    error: str | None = None


@dataclass(frozen=True)
class _Questions:
    """The question view of one encoder: a row per FAQ question or paraphrase, ``owners`` its entry row (ascending,
    so each entry's rows are contiguous and a max per entry is one ``maximum.reduceat``)."""

    vectors: np.ndarray
    owners: np.ndarray
    starts: np.ndarray  # first row of each owner

    @classmethod
    def build(cls, vectors: np.ndarray, owners: np.ndarray) -> _Questions:
        starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]]) if len(owners) else owners
        return cls(vectors, owners, starts)

    def scores(self, query: np.ndarray, n_entries: int) -> np.ndarray:
        """Per entry: the best cosine of the query with its questions (0 for entries without one)."""
        out = np.zeros(n_entries, dtype=np.float32)
        if len(self.owners):
            out[self.owners[self.starts]] = np.maximum.reduceat(cosines(self.vectors, query), self.starts)
        return out


@dataclass(frozen=True)
class _Index:
    """One consistent state of the knowledge base; replaced whole, never mutated."""

    sources: dict[str, Source]
    entries: list[Entry]
    vectors: np.ndarray  # (len(entries), dimension) float32, L2-normalised: the multilingual encoder
    english: np.ndarray  # (len(entries), english dimension): the English encoder (zero columns without one)
    terms: list[list[str]]  # BM25 tokens per entry, kept so a rebuild never re-tokenises
    learned: dict[str, list[str]]  # entry id -> paraphrases learned from customers
    learned_by: dict[tuple[str, str], str]  # (entry id, paraphrase) -> the session it was learned from, when known
    questions: dict[str, _Questions]  # "multilingual" / "english" question views
    bm25: BM25
    rows: dict[str, int]
    kinds: np.ndarray
    is_faq: np.ndarray
    langs: np.ndarray


@dataclass
class _Pending:
    source: Source
    entries: list[Entry]
    vectors: np.ndarray
    english: np.ndarray
    terms: list[list[str]]


def questions_of(entry: Entry, learned: dict[str, list[str]]) -> list[str]:
    """An FAQ's question, the paraphrases its file lists and those learned from customers (distinct, in order)."""
    if entry.kind != "faq" or not entry.question:
        return []
    return list(dict.fromkeys([entry.question, *entry.paraphrases, *learned.get(entry.id, [])]))


class KnowledgeBase:
    """Sources, entries and their index under ``root``; loads what is on disk (or starts empty). ``english`` is an
    optional English-strong encoder used for English queries on English entries."""

    def __init__(self, root: Path, embedder: Embedder, english: Embedder | None = None):
        self.root = Path(root)
        self.name = self.root.name
        self.embedder = embedder
        self.embedder_name = embedder.model_name
        self.english = english
        self._question_cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # text -> (multilingual, english)
        self._write_lock = threading.Lock()
        self._seen: Stamp | None = None  # meta.json as last loaded or saved here (see _stamp)
        self._index = self._build({}, [], self._no_vectors(0), self._no_vectors(0, english=True), [], {}, {})
        if (self.root / "meta.json").exists():
            with self._writing():  # loads it
                pass

    @classmethod
    def open(cls, name: str, settings: Settings, embedder: Embedder | None = None) -> KnowledgeBase:
        """The knowledge base ``name`` under the bot's home, with the configured embedding models by default."""
        if not _NAME.fullmatch(name):
            raise KBError(
                f"invalid knowledge base name {name!r}; use up to 64 letters, digits, '.', '_' or '-' (e.g. 'demo')"
            )
        config = BotConfig.from_settings(settings)
        english = None
        if embedder is None:
            embedder = load_embedder(config.embedding_model, settings)
            if config.english_embedding_model:
                english = load_embedder(config.english_embedding_model, settings)
        return cls(bot_home(settings) / "kb" / name, embedder, english)

    def __len__(self) -> int:
        return len(self._index.entries)

    def sources(self) -> list[Source]:
        return sorted(self._index.sources.values(), key=lambda s: s.id)

    def check_room(self, names: Sequence[str], limit: int) -> None:
        """KBError when adding files named ``names`` (new or replacing a source) would make more than ``limit``
        sources: the API and the web UI refuse such an upload before reading it."""
        would_hold = len({s.id for s in self.sources()} | {PureWindowsPath(n).name for n in names})
        if would_hold > limit:
            setting = "apps.support_bot.max_kb_files"
            raise KBError(f"the knowledge base would hold {would_hold} files; the limit is {limit} ({setting})")

    def entries(self, source_id: str | None = None) -> list[Entry]:
        """All entries in index order, or those of one source."""
        return [e for e in self._index.entries if source_id is None or e.source_id == source_id]

    def entry(self, entry_id: str) -> Entry:
        index = self._index
        if entry_id not in index.rows:
            raise KBError(f"unknown entry {entry_id!r} in knowledge base {self.name!r}")
        return index.entries[index.rows[entry_id]]

    def learned(self) -> dict[str, list[str]]:
        """Paraphrases learned from customers, per entry id."""
        return {k: list(v) for k, v in self._index.learned.items()}

    @property
    def digest(self) -> str:
        """Changes whenever the entries or learned paraphrases change (keys self-calibration)."""
        index = self._index
        h = hashlib.sha256()
        for e in index.entries:
            h.update(f"{e.id}\0{e.text}\0{'|'.join(questions_of(e, index.learned))}\n".encode())
        return h.hexdigest()

    # ------------------------------------------------------------------ profile

    def profile(self) -> dict:
        """What the owner said about this knowledge base (``company``, ``company_zh``, ``topics``, ``topics_zh``)."""
        path = self.root / "profile.json"
        return _read(path, self.root, json.loads) if path.is_file() else {}

    def set_profile(self, **fields: object) -> dict:
        """Update the profile; a None value removes that field."""
        with self._writing():
            profile = {k: v for k, v in {**self.profile(), **fields}.items() if v is not None}
            _write_all([(self.root / "profile.json", lambda f: f.write(_json_bytes(profile)))])
        return profile

    # ------------------------------------------------------------------ writing

    def ingest(
        self,
        paths: Sequence[str | Path],
        uploads: dict[str, bytes] | None = None,
        progress: Callable[[int, int, str], None] | None = None,
    ) -> list[IngestResult]:
        """Add or replace sources: files and folders (their supported files) from ``paths``, plus ``uploads``
        ({file name: bytes}). A file whose name and bytes are already indexed is "unchanged" (not re-embedded);
        a known name with new bytes replaces that source's entries. Each file succeeds or fails on its own;
        ``progress(done, total, name)`` is called after each one."""
        items = [(p.name, p, None) for p in _expand(paths)]
        # An upload's name is only a name: "..\\x.csv" and "../x.csv" both become "x.csv" (Windows or POSIX).
        items += [(PureWindowsPath(name).name, Path(name), data) for name, data in (uploads or {}).items()]
        results: list[IngestResult] = []
        with self._writing():
            pending: dict[str, _Pending] = {}
            for done, (name, path, data) in enumerate(items, start=1):
                results.append(self._prepare(name, path, data, pending))
                if progress:
                    progress(done, len(items), name)
            if pending:
                self._apply(pending, drop=set())
        return results

    def delete(self, source_id: str) -> Source:
        """Remove a source and its entries."""
        with self._writing():
            source = self._index.sources.get(source_id)
            if source is None:
                known = ", ".join(sorted(self._index.sources)) or "none (the knowledge base is empty)"
                raise KBError(f"unknown source {source_id!r} in knowledge base {self.name!r}; known sources: {known}")
            self._apply({}, drop={source_id})
        return source

    def learn(self, entry_id: str, paraphrase: str, session_id: str | None = None) -> bool:
        """Record ``paraphrase`` as another way to ask FAQ ``entry_id`` (a customer picked it from suggestions);
        it is matched from the next search on. ``session_id``: the conversation whose words it is, so that
        forgetting the customer removes it (:func:`forget_sessions`). False when it was already known."""
        paraphrase = " ".join(paraphrase.split())
        with self._writing():
            entry = self.entry(entry_id)
            if entry.kind != "faq":
                raise KBError(f"entry {entry_id!r} is a document passage; only FAQ entries learn paraphrases")
            old = self._index
            if not paraphrase or paraphrase in questions_of(entry, old.learned):
                return False
            learned = {**old.learned, entry_id: [*old.learned.get(entry_id, []), paraphrase]}
            learned_by = {**old.learned_by, **({(entry_id, paraphrase): session_id} if session_id else {})}
            self._index = self._build(
                old.sources, old.entries, old.vectors, old.english, old.terms, learned, learned_by
            )
            self._save()
        return True

    def _prepare(self, name: str, path: Path, data: bytes | None, pending: dict[str, _Pending]) -> IngestResult:
        """Read, parse, check and embed one file into ``pending``; any failure becomes that file's error."""
        try:
            if data is None:
                try:
                    data = path.read_bytes()
                except OSError as exc:
                    raise KBError(f"{name}: cannot be read ({exc.strerror or exc}); check the path") from None
            sha = hashlib.sha256(data).hexdigest()
            old = self._index.sources.get(name)
            if name not in pending and old is not None and old.sha256 == sha:
                return IngestResult(name, "unchanged", old.entries)
            parsed = parse_file(path, source_id=name, data=data)
            self._check_ids(name, parsed.entries, pending)
            texts = [e.text for e in parsed.entries]
            vectors, english = self._embed(self.embedder, texts), self._embed_english(parsed.entries)
        except KBError as exc:
            return IngestResult(name, "error", error=str(exc))
        except Exception as exc:  # a parser or embedder bug must not stop the other files
            log.exception("ingesting %s failed", name)
            return IngestResult(name, "error", error=f"{name}: could not be ingested ({type(exc).__name__}: {exc})")
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        source = Source(name, name, parsed.kind, sha, len(parsed.entries), now, parsed.meta)
        pending[name] = _Pending(source, parsed.entries, vectors, english, [tokens(e.text) for e in parsed.entries])
        return IngestResult(name, "updated" if old is not None else "added", len(parsed.entries))

    def _check_ids(self, name: str, entries: list[Entry], pending: dict[str, _Pending]) -> None:
        owners = {e.id: e.source_id for e in self._index.entries if e.source_id != name and e.source_id not in pending}
        owners.update((e.id, p.source.id) for p in pending.values() if p.source.id != name for e in p.entries)
        for e in entries:
            if e.id in owners:
                raise KBError(
                    f"{name}: entry id {e.id!r} is already used by source {owners[e.id]!r}; ids must be unique "
                    f"across the knowledge base — rename the id in one of the two files"
                )

    def _no_vectors(self, n: int, english: bool = False) -> np.ndarray:
        encoder = self.english if english else self.embedder
        return np.zeros((n, encoder.dimension if encoder else 0), dtype=np.float32)

    def _embed(self, encoder: Embedder, texts: list[str]) -> np.ndarray:
        """Vectors of ``Entry.text``: an FAQ's question with its answer, a chunk's heading path with its text."""
        parts = [encoder.embed(texts[i : i + EMBED_BATCH]) for i in range(0, len(texts), EMBED_BATCH)]
        return np.vstack(parts).astype(np.float32) if parts else np.zeros((0, encoder.dimension), np.float32)

    def _embed_english(self, entries: list[Entry]) -> np.ndarray:
        """English-encoder vectors of the English entries (the others keep zeros: they are never compared)."""
        out = self._no_vectors(len(entries), english=True)
        rows = [i for i, e in enumerate(entries) if e.lang == "en"]
        if self.english is not None and rows:
            out[rows] = self._embed(self.english, [entries[i].text for i in rows])
        return out

    def _question_vectors(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(multilingual, English) vectors of question texts, each text embedded once per knowledge base."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._question_cache]
        if missing:
            multi = self._embed(self.embedder, missing)
            english = self._embed(self.english, missing) if self.english else np.zeros((len(missing), 0), np.float32)
            self._question_cache.update(zip(missing, zip(multi, english, strict=True), strict=True))
        multi_dim, english_dim = self.embedder.dimension, self.english.dimension if self.english else 0
        if not texts:
            return np.zeros((0, multi_dim), np.float32), np.zeros((0, english_dim), np.float32)
        pairs = [self._question_cache[t] for t in texts]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])

    def _build(self, sources, entries, vectors, english, terms, learned, learned_by) -> _Index:
        pairs = [(row, q) for row, e in enumerate(entries) for q in questions_of(e, learned)]
        owners = np.array([row for row, _ in pairs], dtype=np.int64)
        multi, eng = self._question_vectors([q for _, q in pairs])
        return _Index(
            sources=sources,
            entries=entries,
            vectors=vectors,
            english=english,
            terms=terms,
            learned=learned,
            learned_by=learned_by,
            questions={"multilingual": _Questions.build(multi, owners), "english": _Questions.build(eng, owners)},
            bm25=BM25().build(terms),
            rows={e.id: i for i, e in enumerate(entries)},
            kinds=np.array([e.kind for e in entries], dtype="<U3"),
            is_faq=np.array([e.kind == "faq" for e in entries], dtype=bool),
            langs=np.array([e.lang for e in entries], dtype="<U2"),
        )

    def _apply(self, pending: dict[str, _Pending], drop: set[str]) -> None:
        """Swap in a new snapshot without the ``drop`` sources and with ``pending`` ones (replacing same names)."""
        old = self._index
        gone = drop | set(pending)
        keep = [i for i, e in enumerate(old.entries) if e.source_id not in gone]
        new = list(pending.values())
        sources = {k: s for k, s in old.sources.items() if k not in gone} | {p.source.id: p.source for p in new}
        entries = [old.entries[i] for i in keep] + [e for p in new for e in p.entries]
        ids = {e.id for e in entries}
        self._index = self._build(
            sources,
            entries,
            np.vstack([old.vectors[keep]] + [p.vectors for p in new]),
            np.vstack([old.english[keep]] + [p.english for p in new]),
            [old.terms[i] for i in keep] + [t for p in new for t in p.terms],
            {k: v for k, v in old.learned.items() if k in ids},  # a paraphrase outlives a re-ingest of its FAQ
            {k: v for k, v in old.learned_by.items() if k[0] in ids},
        )
        self._save()

    # ------------------------------------------------------------------ persistence

    def _save(self) -> None:
        index = self._index
        self.root.mkdir(parents=True, exist_ok=True)
        lines = "".join(json.dumps(e.to_dict(), ensure_ascii=False) + "\n" for e in index.entries).encode()
        meta = {
            "format": FORMAT_VERSION,
            "embedding_model": self.embedder_name,
            "english_model": self.english.model_name if self.english else None,
            "dimension": int(index.vectors.shape[1]),
            "entries": len(index.entries),
            "entries_sha256": hashlib.sha256(lines).hexdigest(),
        }
        learned = _learned_bytes(
            [
                {"entry": k, "text": t, "session": index.learned_by.get((k, t))}
                for k, v in index.learned.items()
                for t in v
            ]
        )
        texts = list(dict.fromkeys(q for e in index.entries for q in questions_of(e, index.learned)))
        multi, eng = self._question_vectors(texts)
        sources = [s.to_dict() for s in self.sources()]
        _write_all(
            [  # replaced in this order; meta.json last marks the set complete
                (self.root / "entries.jsonl", lambda f: f.write(lines)),
                (self.root / "vectors.npy", lambda f: np.save(f, index.vectors)),
                (self.root / "english.npy", lambda f: np.save(f, index.english)),
                (self.root / "questions.npz", lambda f: np.savez(f, texts=np.array(texts), multi=multi, english=eng)),
                (self.root / "learned.jsonl", lambda f: f.write(learned)),
                (self.root / "sources.json", lambda f: f.write(_json_bytes(sources))),
                (self.root / "meta.json", lambda f: f.write(_json_bytes(meta))),
            ]
        )
        self._seen = self._stamp()

    def _stamp(self) -> Stamp | None:
        """Identifies the last write of the files: every write replaces ``meta.json`` with a new file."""
        return file_stamp(self.root / "meta.json")

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """A writer's locks (this process's, then the files'), starting from what is on disk: another process may
        have written since this one loaded (a replica learning a paraphrase, ``llmeco data forget``)."""
        with self._write_lock, _files_lock(self.root):
            if self._stamp() != self._seen:
                self._load()
            yield

    def _reload_if_changed(self) -> None:
        """Before a search: load what another process wrote, unless a write is in progress (the search then uses
        the snapshot it has, and a later one reloads)."""
        stamp = self._stamp()
        if stamp in (self._seen, None) or not self._write_lock.acquire(blocking=False):
            return
        try:
            with _files_lock(self.root, wait=False) as held:
                if held and self._stamp() != self._seen:
                    self._load()
        finally:
            self._write_lock.release()

    def _load(self) -> None:
        meta_path = self.root / "meta.json"
        if not meta_path.exists():
            return
        meta = _read(meta_path, self.root, lambda b: json.loads(b))
        upgrade = meta.get("format") in UPGRADABLE_FORMATS
        if meta.get("format") != FORMAT_VERSION and not upgrade:
            raise KBError(
                f"{meta_path}: index format {meta.get('format')!r} is not {FORMAT_VERSION}; "
                f"delete {self.root} and ingest the files again"
            )
        raw, entries = _read(
            self.root / "entries.jsonl", self.root, lambda b: (b, [Entry(**json.loads(x)) for x in b.splitlines()])
        )
        sources = _read(self.root / "sources.json", self.root, lambda b: {s["id"]: Source(**s) for s in json.loads(b)})
        learned: dict[str, list[str]] = {}
        learned_by: dict[tuple[str, str], str] = {}
        if not upgrade:  # format 1 had no learned paraphrases
            for row in _read_learned(self.root):
                learned.setdefault(row["entry"], []).append(row["text"])
                if row.get("session"):  # rows written before sessions were kept have none
                    learned_by[row["entry"], row["text"]] = row["session"]
        english_name = self.english.model_name if self.english else None
        vectors = english = None
        if hashlib.sha256(raw).hexdigest() != meta.get("entries_sha256"):
            log.warning("%s: the last write was interrupted; repairing the index from entries.jsonl", self.root)
            entries, sources = _reconcile(entries, sources)
        elif upgrade:
            log.warning(
                "%s: index format %s -> %s: re-embedding %d entries",
                self.root,
                meta["format"],
                FORMAT_VERSION,
                len(entries),
            )
        elif (meta.get("embedding_model"), meta.get("english_model"), meta.get("dimension")) != (
            self.embedder_name,
            english_name,
            self.embedder.dimension,
        ):
            log.warning(
                "%s: built with %s/%s, configured %s/%s: re-embedding %d entries",
                self.root,
                meta.get("embedding_model"),
                meta.get("english_model"),
                self.embedder_name,
                english_name,
                len(entries),
            )
        else:
            vectors = _read(self.root / "vectors.npy", self.root, lambda b: np.load(io.BytesIO(b)))
            english = _read(self.root / "english.npy", self.root, lambda b: np.load(io.BytesIO(b)))
            stored = _read(self.root / "questions.npz", self.root, lambda b: dict(np.load(io.BytesIO(b))))
            self._question_cache = {
                str(t): (m, e) for t, m, e in zip(stored["texts"], stored["multi"], stored["english"], strict=True)
            }
            if vectors.shape != (len(entries), self.embedder.dimension) or len(english) != len(entries):
                log.warning("%s: vectors do not match entries.jsonl; re-embedding", self.root)
                vectors = english = None
                self._question_cache = {}
        fresh = vectors is None
        if fresh:
            vectors = self._embed(self.embedder, [e.text for e in entries])
            english = self._embed_english(entries)
        terms = [tokens(e.text) for e in entries]
        self._index = self._build(
            sources, entries, np.asarray(vectors, np.float32), english, terms, learned, learned_by
        )
        self._seen = self._stamp()
        if fresh:
            self._save()

    # ------------------------------------------------------------------ search

    def search(self, query: str, k: int = 4, kind: str | None = None, mode: SearchMode = "hybrid") -> list[Hit]:
        """The ``k`` best entries for ``query``. "hybrid" sums the views (question, text, BM25) with the query
        language's weights, each entry scored by the encoder for its language pair; "dense" (the multilingual text
        view) and "bm25" rank by one plain retriever, for comparison. Every hit carries its score, its text cosine
        (``dense``), its question cosine (``question_match``, FAQ entries) and its raw BM25 score; ``kind`` keeps
        "faq" or "doc"."""
        if kind not in (None, "faq", "doc"):
            raise KBError(f"unknown kind {kind!r}; use 'faq', 'doc' or none")
        if mode not in ("hybrid", "dense", "bm25"):
            raise KBError(f"unknown search mode {mode!r}; use 'hybrid', 'dense' or 'bm25'")
        if k < 1:
            raise KBError(f"k must be at least 1 (got {k})")
        query = query.strip()
        if not query:
            raise KBError("the query is empty; type a question")
        self._reload_if_changed()
        index = self._index
        n = len(index.entries)
        if not n:
            return []
        lang = detect_lang(query)
        # English queries on English entries use the English encoder; every other pair the multilingual one.
        english_rows = (index.langs == "en") if self.english is not None and lang == "en" else np.zeros(n, bool)
        text, question = np.zeros(n, np.float32), np.zeros(n, np.float32)
        if english_rows.any():
            q = self.english.embed([query], kind="query")[0]
            text[english_rows] = cosines(index.english, q)[english_rows]
            question[english_rows] = index.questions["english"].scores(q, n)[english_rows]
        if not english_rows.all() or mode == "dense":
            q = self.embedder.embed([query], kind="query")[0]
            multi = cosines(index.vectors, q)
            if mode == "dense":
                text = multi
            else:
                text[~english_rows] = multi[~english_rows]
                question[~english_rows] = index.questions["multilingual"].scores(q, n)[~english_rows]
        bm25, coverage = index.bm25.match(tokens(query))
        if mode == "bm25":
            score = bm25
        elif mode == "dense":
            score = text
        else:
            w = TEXT_WEIGHT.get(lang, 0.5)
            score = np.where(index.is_faq, (question + w * text) / (1 + w), text)
            if (wb := BM25_WEIGHT.get(lang, 0.0)) and bm25.max() > 0:
                score = score + wb * np.where(coverage >= MIN_COVERAGE, bm25, 0) / bm25.max()
        if kind:
            score = np.where(index.kinds == kind, score, -np.inf)
        ranked = top_k(score, k, positive=mode == "bm25")
        return [
            Hit(index.entries[r], float(score[r]), float(text[r]), float(bm25[r]), rank, float(question[r]))
            for rank, (r, _) in enumerate(ranked, 1)
            if np.isfinite(score[r])
        ]


def forget_sessions(root: Path, sessions: Collection[str]) -> int:
    """Remove the paraphrases learned from ``sessions`` (customers' own words, see ``learn``) from the knowledge base
    at ``root``, and their cached vectors; returns how many. Works on the files, without loading the encoders (for
    ``llmeco data forget``): a process with the knowledge base open reloads it before its next search."""
    sessions = set(sessions)
    if not sessions or not (root / "learned.jsonl").is_file():
        return 0
    with _files_lock(root):
        rows = _read_learned(root)
        kept = [r for r in rows if r.get("session") not in sessions]
        if len(kept) == len(rows):
            return 0
        entries = _read(root / "entries.jsonl", root, lambda b: [Entry(**json.loads(x)) for x in b.splitlines()])
        learned: dict[str, list[str]] = {}
        for row in kept:
            learned.setdefault(row["entry"], []).append(row["text"])
        in_use = {q for e in entries for q in questions_of(e, learned)}
        cached = _read(root / "questions.npz", root, lambda b: dict(np.load(io.BytesIO(b))))
        keep = np.array([str(t) in in_use for t in cached["texts"]], dtype=bool)
        meta = (root / "meta.json").read_bytes()
        _write_all(
            [
                (root / "questions.npz", lambda f: np.savez(f, **{k: v[keep] for k, v in cached.items()})),
                (root / "learned.jsonl", lambda f: f.write(_learned_bytes(kept))),
                (root / "meta.json", lambda f: f.write(meta)),  # a new meta.json: open knowledge bases reload
            ]
        )
    return len(rows) - len(kept)


@contextmanager
def _files_lock(root: Path, wait: bool = True) -> Iterator[bool]:
    """The knowledge base's files, locked across processes; yields False when ``wait`` is off and another holds it."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a") as f:  # released when closed
        try:
            fcntl.flock(f, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held = False
        else:
            held = True
        yield held


def _read_learned(root: Path) -> list[dict]:
    return _read(root / "learned.jsonl", root, lambda b: [json.loads(x) for x in b.splitlines()])


def _learned_bytes(rows: list[dict]) -> bytes:
    """``learned.jsonl``: one ``{"entry", "text", "session"}`` per paraphrase (no session when none is known)."""
    return "".join(
        json.dumps({k: v for k, v in row.items() if v is not None}, ensure_ascii=False) + "\n" for row in rows
    ).encode()


def cosines(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Dot products of unit rows with a unit query, by einsum rather than BLAS: a multi-threaded BLAS gemv waits
    for its threads, and on a busy 2-core machine took 8 ms for 1k rows where einsum takes 0.1 ms (1.5 ms at 10k,
    16 ms at 100k, as fast as single-threaded BLAS)."""
    return np.einsum("ij,j->i", vectors, query)


def _expand(paths: Sequence[str | Path]) -> list[Path]:
    """Files as given; folders become their supported files (recursively, sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUPPORTED_SUFFIXES)
        else:
            out.append(p)
    return out


def _reconcile(entries: list[Entry], sources: dict[str, Source]) -> tuple[list[Entry], dict[str, Source]]:
    """After an interrupted write: keep entries of listed sources; a source whose entry count no longer matches
    loses its digest, so the next ingest of that file re-parses it instead of calling it unchanged."""
    entries = [e for e in entries if e.source_id in sources]
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.source_id] = counts.get(e.source_id, 0) + 1
    fixed = {}
    for sid, s in sources.items():
        if counts.get(sid):
            fixed[sid] = s if counts[sid] == s.entries else dataclasses.replace(s, sha256="", entries=counts[sid])
    return entries, fixed


def _write_all(files: list[tuple[Path, Callable[[IO[bytes]], object]]]) -> None:
    """Write every file to a temporary sibling (flushed to disk) before replacing any, then replace in order."""
    temps = []
    for path, write in files:
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        temps.append((tmp, path))
    for tmp, path in temps:
        os.replace(tmp, path)


def _read(path: Path, root: Path, parse: Callable[[bytes], object]):
    try:
        return parse(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError, KeyError) as exc:
        raise KBError(
            f"{path}: the stored index is damaged ({type(exc).__name__}: {exc}); "
            f"delete {root} and ingest the files again"
        ) from None


def _json_bytes(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, indent=1).encode()
