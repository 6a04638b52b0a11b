"""Structure-aware chunking: parsers turn a document into blocks (headings, text, tables); this packs them into
retrievable chunks that never cross a heading or a page and never split a table, so every chunk can be cited
under one heading path."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from apps.support_bot.kb.types import Entry

MAX_CHARS = 700  # characters of body per chunk (a Chinese character counts as one); tables may exceed it
TITLE_SEP = " > "

# A sentence runs to its end mark (plus closing quotes/brackets); English marks need following space or the end,
# so "1.5 kg" and "$49.99" stay whole. Anything left without an end mark is the final sentence.
_SENTENCE = re.compile(r".+?(?:[。！？]+[”’」』）)]*|[.!?]+[\"'”’)\]]*(?=\s|$)|$)\s*", re.DOTALL)


@dataclass(frozen=True)
class Block:
    """One structural unit of a parsed document. ``level`` orders headings (0 = document title, 1 = h1, …);
    ``page`` (PDF) keeps chunks from spanning pages so a citation can name the page."""

    kind: Literal["heading", "text", "table"]
    text: str
    level: int = 0
    page: int | None = None


def detect_lang(text: str) -> str:
    """ "zh" when CJK characters outnumber Latin words (one Chinese character carries about a word), else "en"."""
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf")
    words = len(re.findall(r"[A-Za-z]+", text))
    return "zh" if cjk > words else "en"


def split_sentences(text: str) -> list[str]:
    """Sentences with their end marks (。！？.!?) and trailing whitespace, so joining them restores the text."""
    return [m.group(0) for m in _SENTENCE.finditer(text) if m.group(0)]


def split_long(text: str, max_chars: int = MAX_CHARS) -> list[str]:
    """Pieces of at most ``max_chars``: cut at line breaks first (lists, wrapped text), then at sentence ends,
    and only as a last resort inside a sentence."""
    if len(text) <= max_chars:
        return [text]
    if "\n" in text.strip():
        units, glue = [line for line in text.split("\n") if line.strip()], "\n"
    else:
        units, glue = split_sentences(text), ""
        if len(units) == 1:  # no sentence end to cut at: cut at the limit
            cuts = (text[i : i + max_chars].strip() for i in range(0, len(text), max_chars))
            return [cut for cut in cuts if cut]
    pieces: list[str] = []
    current = ""
    for unit in units:
        for part in split_long(unit, max_chars):
            candidate = f"{current}{glue}{part}" if current else part
            if len(candidate.strip()) <= max_chars:
                current = candidate
            else:
                pieces.append(current.strip())
                current = part
    if current.strip():
        pieces.append(current.strip())
    return pieces


def markdown_table(rows: list[list[str]]) -> str:
    """A Markdown table from rows of cell texts, the first row as header; ragged rows are padded."""
    rows = [[_cell(c) for c in row] for row in rows if any(c.strip() for c in row)]
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    lines = ["| " + " | ".join(rows[0]) + " |", "| " + " | ".join(["---"] * width) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def chunk_blocks(blocks: list[Block], source_id: str, doc_title: str, max_chars: int = MAX_CHARS) -> list[Entry]:
    """Pack blocks into ``doc`` entries titled by their heading path (``doc_title`` before the first heading).

    Each entry's text is its title line followed by the body, so retrieval sees the section a passage belongs
    to (as FAQ text carries its question); the body is at most ``max_chars`` unless it is a single table."""
    entries: list[Entry] = []
    path: list[tuple[int, str]] = []
    body: list[str] = []
    page: int | None = None

    def flush() -> None:
        if not body:
            return
        title = TITLE_SEP.join(text for _, text in path) or doc_title
        if page is not None:
            title = f"{title} (p. {page})"
        text = "\n\n".join(body)
        entries.append(
            Entry(
                id=f"{source_id}#{len(entries) + 1}",
                source_id=source_id,
                kind="doc",
                title=title,
                text=f"{title}\n{text}",
                lang=detect_lang(f"{title} {text}"),
            )
        )
        body.clear()

    for block in blocks:
        if block.page != page:
            flush()
            page = block.page
        if block.kind == "heading":
            flush()
            while path and path[-1][0] >= block.level:
                path.pop()
            path.append((block.level, block.text))
            continue
        pieces = [block.text] if block.kind == "table" else split_long(block.text, max_chars)
        for piece in pieces:
            if body and len("\n\n".join([*body, piece])) > max_chars:
                flush()
            body.append(piece)
    flush()
    return entries
