"""Export to Markdown, TXT and DOCX, and read DOCX back. In DOCX, suggestions appear as real tracked changes
(``w:del`` / ``w:ins`` revisions that Word and LibreOffice show and let the reader accept or reject)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from apps.writing_assistant.suggestions import Suggestion
from core.data.archives import unzipped_size_problem
from core.errors import InvalidRequestError

FORMATS = ("md", "txt", "docx")
AUTHOR = "llmeco writing assistant"
_HEADING = re.compile(r"^(#{1,6})\s+")


def to_markdown(text: str, title: str | None = None) -> str:
    body = text.strip()
    return f"# {title}\n\n{body}\n" if title else body + "\n"


def to_txt(text: str, title: str | None = None) -> str:
    """Plain text: Markdown heading marks dropped."""
    body = "\n".join(_HEADING.sub("", line) for line in text.strip().splitlines())
    return f"{title}\n\n{body}\n" if title else body + "\n"


def _segments(original: str, suggestions: Iterable[Suggestion], accepted: set[int]) -> list[tuple[str, str]]:
    """(kind, text) pieces in order: "eq" unchanged, "del"/"ins" for each accepted suggestion."""
    out, pos = [], 0
    for s in sorted(suggestions, key=lambda s: s.offset):
        if s.id not in accepted:
            continue
        out.append(("eq", original[pos : s.offset]))
        if s.original:
            out.append(("del", s.original))
        if s.replacement:
            out.append(("ins", s.replacement))
        pos = s.offset + s.length
    out.append(("eq", original[pos:]))
    return [(k, t) for k, t in out if t]


def to_docx(
    original: str,
    suggestions: Iterable[Suggestion] = (),
    accepted: Iterable[int] = (),
    title: str | None = None,
    author: str = AUTHOR,
) -> bytes:
    """A DOCX of ``original`` where each accepted suggestion is a tracked deletion and insertion (unaccepted ones
    leave the text as it was). With no suggestions it is a plain document."""
    from docx import Document
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    doc = Document()
    if title:
        doc.add_heading(title, level=1)
    date = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    revision = 0

    def run(text: str, deleted: bool = False):
        r = OxmlElement("w:r")
        t = OxmlElement("w:delText" if deleted else "w:t")
        t.set(qn("xml:space"), "preserve")
        t.text = text
        r.append(t)
        return r

    def revision_mark(tag: str, text: str):
        nonlocal revision
        revision += 1
        mark = OxmlElement(tag)
        mark.set(qn("w:id"), str(revision))
        mark.set(qn("w:author"), author)
        mark.set(qn("w:date"), date)
        mark.append(run(text, deleted=tag == "w:del"))
        return mark

    # Split the segments into paragraphs at newlines (blank lines separate paragraphs in Markdown).
    paragraphs: list[list[tuple[str, str]]] = [[]]
    for kind, text in _segments(original, suggestions, set(accepted)):
        for i, piece in enumerate(text.split("\n")):
            if i:
                paragraphs.append([])
            if piece:
                paragraphs[-1].append((kind, piece))
    for pieces in paragraphs:
        if not pieces:
            continue
        style = None
        if pieces[0][0] == "eq" and (m := _HEADING.match(pieces[0][1])):
            style = f"Heading {min(len(m.group(1)), 3)}"
            pieces[0] = ("eq", pieces[0][1][m.end() :])
        paragraph = doc.add_paragraph(style=style)
        for kind, text in pieces:
            paragraph._p.append(run(text) if kind == "eq" else revision_mark(f"w:{kind}", text))
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


def _open_docx(data: bytes | Path, name: str):
    from docx import Document

    if isinstance(data, bytes) and (problem := unzipped_size_problem(data, name)):
        raise InvalidRequestError(problem)
    try:
        return Document(io.BytesIO(data) if isinstance(data, bytes) else str(data))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InvalidRequestError(f"{name}: not a readable DOCX file ({type(exc).__name__}: {exc})") from None
    except Exception as exc:  # lxml parse errors inside a damaged package
        raise InvalidRequestError(f"{name}: not a readable DOCX file ({type(exc).__name__})") from None


def read_docx(data: bytes | Path, name: str = "document.docx", accept: bool = True) -> str:
    """The text of a DOCX, one line per paragraph (headings as Markdown): tracked insertions kept and deletions
    dropped (``accept``), or the reverse (the text before the changes)."""
    from docx.oxml.ns import qn

    doc = _open_docx(data, name)
    lines = []
    for p in doc.paragraphs:
        parts = []
        for el in p._p.iter():
            kept = el.tag == qn("w:t") and (accept or not _inside(el, "w:ins"))
            if kept or (el.tag == qn("w:delText") and not accept):
                parts.append(el.text or "")
        text = "".join(parts)
        style = (p.style.name if p.style is not None else "") or ""
        level = style.removeprefix("Heading ").strip()
        lines.append(f"{'#' * int(level)} {text}" if style.startswith("Heading") and level.isdigit() else text)
    return "\n\n".join(line for line in lines if line.strip())


def tracked_changes(data: bytes | Path, name: str = "document.docx") -> list[dict]:
    """Every tracked change in document order: ``{"type": "ins"|"del", "text", "author", "date"}``."""
    from docx.oxml.ns import qn

    doc = _open_docx(data, name)
    found = []
    for el in doc.element.body.iter(qn("w:ins"), qn("w:del")):
        text_tag = qn("w:delText") if el.tag == qn("w:del") else qn("w:t")
        found.append(
            {
                "type": "del" if el.tag == qn("w:del") else "ins",
                "text": "".join(t.text or "" for t in el.iter(text_tag)),
                "author": el.get(qn("w:author")),
                "date": el.get(qn("w:date")),
            }
        )
    return found


def _inside(el, tag: str) -> bool:
    from docx.oxml.ns import qn

    parent = el.getparent()
    while parent is not None:
        if parent.tag == qn(tag):
            return True
        parent = parent.getparent()
    return False


def read_document(data: bytes, name: str) -> str:
    """A user's file as text: TXT / MD as UTF-8, DOCX through python-docx; anything else is a clear error."""
    suffix = Path(name).suffix.lower()
    if suffix == ".docx":
        return read_docx(data, name)
    if suffix in (".txt", ".md", ".markdown"):
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidRequestError(f"{name}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    raise InvalidRequestError(f"{name}: unsupported file type {suffix or '(none)'}; use .txt, .md or .docx")
