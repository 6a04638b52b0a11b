"""Knowledge-base files into entries: FAQ tables (CSV, XLSX, JSONL, JSON) give one entry per question; documents
(Markdown, HTML, TXT, PDF, DOCX) are read as headings, paragraphs and tables and chunked on that structure.

Every problem a user can fix raises :class:`KBError` naming the file (and line or row) and what to do."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from apps.support_bot.kb.chunking import Block, chunk_blocks, detect_lang, markdown_table
from apps.support_bot.kb.types import Entry, KBError
from core.data.archives import unzipped_size_problem

__all__ = ["SUPPORTED_SUFFIXES", "Parsed", "detect_lang", "parse_file"]

FAQ_SUFFIXES = (".csv", ".xlsx", ".jsonl", ".json")
DOC_SUFFIXES = (".md", ".markdown", ".html", ".htm", ".txt", ".pdf", ".docx")
SUPPORTED_SUFFIXES: tuple[str, ...] = FAQ_SUFFIXES + DOC_SUFFIXES

# FAQ column names (compared lower-cased and stripped) -> field.
_COLUMNS = {
    "question": "question",
    "问题": "question",
    "answer": "answer",
    "答案": "answer",
    "回答": "answer",
    "id": "id",
    "编号": "id",
    "category": "category",
    "分类": "category",
    "类别": "category",
    "paraphrases": "paraphrases",
    "similar questions": "paraphrases",
    "相似问题": "paraphrases",
}
_FAQ_HINT = (
    "FAQ files need the columns question and answer (or 问题 and 答案); id, category and paraphrases (other ways to "
    "ask, separated by | or new lines) are optional"
)


@dataclass
class Parsed:
    """What one file yielded: its kind, its entries and facts worth showing (rows, pages, chunks)."""

    kind: Literal["faq", "doc"]
    entries: list[Entry]
    meta: dict = field(default_factory=dict)


def parse_file(path: str | Path, source_id: str | None = None, data: bytes | None = None) -> Parsed:
    """Parse one knowledge-base file. ``data`` holds the bytes of an upload (``path`` then only gives the name
    and suffix); ``source_id`` defaults to the file name and prefixes generated entry ids."""
    path = Path(path)
    name = path.name
    source_id = source_id or name
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        kinds = ", ".join(SUPPORTED_SUFFIXES)
        raise KBError(f"{name}: unsupported file type {suffix or '(no suffix)'!r}; use one of {kinds}")
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise KBError(f"{name}: cannot be read ({exc.strerror or exc}); check the path") from None
    if not data.strip():
        raise KBError(f"{name}: the file is empty; add content or remove it")
    if suffix in FAQ_SUFFIXES:
        records, meta = _FAQ_READERS[suffix](name, data)
        entries = _faq_entries(name, source_id, records)
        if not entries:
            raise KBError(f"{name}: no FAQ rows found; {_FAQ_HINT}")
        return Parsed("faq", entries, {**meta, "rows": len(entries)})
    blocks, meta = _DOC_READERS[suffix](name, data)
    entries = chunk_blocks(blocks, source_id, meta.pop("title", None) or path.stem)
    if not entries:
        raise KBError(f"{name}: no text found; the document holds only headings, markup or nothing readable")
    return Parsed("doc", entries, {**meta, "chunks": len(entries)})


# ---------------------------------------------------------------- FAQ files


@dataclass
class _Record:
    where: str  # "line 4", "row 7", "item 2": how the user finds it in the file
    fields: dict[str, str]


def _faq_entries(name: str, source_id: str, records: list[_Record]) -> list[Entry]:
    entries: list[Entry] = []
    seen: dict[str, str] = {}
    for n, record in enumerate(records, start=1):
        f = record.fields
        missing = [col for col in ("question", "answer") if not f.get(col)]
        if missing:
            raise KBError(f"{name}: {record.where} has no {' or '.join(missing)}; fill it in or delete the row")
        entry_id = f.get("id") or f"{source_id}#{n}"
        if entry_id in seen:
            raise KBError(
                f"{name}: {record.where} repeats id {entry_id!r} (first used on {seen[entry_id]}); ids must be unique"
            )
        seen[entry_id] = record.where
        question, answer = f["question"], f["answer"]
        entries.append(
            Entry(
                id=entry_id,
                source_id=source_id,
                kind="faq",
                title=question,
                text=f"{question}\n{answer}",
                question=question,
                answer=answer,
                category=f.get("category") or None,
                lang=detect_lang(f"{question} {answer}"),
                paraphrases=[p.strip() for p in re.split(r"[|\n]", f.get("paraphrases", "")) if p.strip()],
            )
        )
    return entries


def _header_map(name: str, header: Iterable[object], where: str) -> dict[int, str]:
    """Column index -> field; fails naming the columns found when question or answer is missing."""
    found = [_text(h) for h in header]
    columns = {i: _COLUMNS[h.lower()] for i, h in enumerate(found) if h.lower() in _COLUMNS}
    missing = [c for c in ("question", "answer") if c not in columns.values()]
    if missing:
        shown = ", ".join(repr(h) for h in found if h) or "none"
        raise KBError(f"{name}: header ({where}) has no {' or '.join(missing)} column (found {shown}); {_FAQ_HINT}")
    return columns


def _rows_to_records(name: str, rows: Iterable[tuple[str, list[object]]]) -> tuple[list[_Record], dict]:
    """Tabular rows (where, cells) with the first non-blank one as header; blank rows are skipped and counted."""
    columns: dict[int, str] | None = None
    records: list[_Record] = []
    skipped = 0
    for where, cells in rows:
        if not any(_text(c) for c in cells):
            if columns is not None:
                skipped += 1
            continue
        if columns is None:
            columns = _header_map(name, cells, where)
            continue
        fields = {col: _text(cells[i]) for i, col in columns.items() if i < len(cells)}
        records.append(_Record(where, fields))
    return records, {"skipped": skipped}


def _read_csv(name: str, data: bytes) -> tuple[list[_Record], dict]:
    text = _decode(name, data)
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        rows = [(f"line {reader.line_num}", row) for row in reader]
    except csv.Error as exc:
        raise KBError(f"{name}: line {reader.line_num} is not valid CSV ({exc}); check its quotes") from None
    return _rows_to_records(name, rows)


def _read_xlsx(name: str, data: bytes) -> tuple[list[_Record], dict]:
    import openpyxl

    if problem := unzipped_size_problem(data, name):
        raise KBError(problem)
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and XML errors for damaged files
        raise KBError(f"{name}: not a readable .xlsx workbook ({type(exc).__name__}); re-save it from Excel") from None
    try:
        sheet = book.worksheets[0]
        cells = sheet.iter_rows(values_only=True)
        rows = [(f"row {i} of sheet {sheet.title!r}", list(row)) for i, row in enumerate(cells, start=1)]
    finally:
        book.close()
    return _rows_to_records(name, rows)


def _read_jsonl(name: str, data: bytes) -> tuple[list[_Record], dict]:
    records: list[_Record] = []
    for n, line in enumerate(_decode(name, data).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise KBError(f"{name}: line {n} is not valid JSON ({exc.msg}); write one JSON object per line") from None
        except RecursionError:
            raise KBError(f"{name}: line {n} is JSON nested too deeply; write one flat object per line") from None
        records.append(_object_record(name, obj, f"line {n}"))
    return records, {"skipped": 0}


def _read_json(name: str, data: bytes) -> tuple[list[_Record], dict]:
    try:
        items = json.loads(_decode(name, data))
    except json.JSONDecodeError as exc:
        raise KBError(f"{name}: not valid JSON (line {exc.lineno}: {exc.msg}); fix the syntax") from None
    except RecursionError:
        raise KBError(f"{name}: JSON nested too deeply; give a flat list of question/answer objects") from None
    if not isinstance(items, list):
        raise KBError(f"{name}: expected a JSON list of objects with question and answer; got {type(items).__name__}")
    return [_object_record(name, obj, f"item {n}") for n, obj in enumerate(items, start=1)], {"skipped": 0}


def _object_record(name: str, obj: object, where: str) -> _Record:
    if not isinstance(obj, dict):
        raise KBError(f"{name}: {where} is not a JSON object; {_FAQ_HINT}")
    fields = {
        _COLUMNS[k.strip().lower()]: "\n".join(map(_text, v)) if isinstance(v, list) else _text(v)
        for k, v in obj.items()
        if k.strip().lower() in _COLUMNS
    }
    return _Record(where, fields)


def _text(value: object) -> str:
    """A cell as text: None is empty, whole floats lose their ".0" (Excel stores 12 as 12.0)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().lstrip("\ufeff")


def _decode(name: str, data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030, the superset of the GBK that Chinese Excel writes."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding).replace("\x00", "")  # NUL: no meaning in text, refused by PostgreSQL
        except UnicodeDecodeError:
            continue
    raise KBError(f"{name}: not UTF-8 or GB18030 text; save it as UTF-8")


_FAQ_READERS: dict[str, Callable[[str, bytes], tuple[list[_Record], dict]]] = {
    ".csv": _read_csv,
    ".xlsx": _read_xlsx,
    ".jsonl": _read_jsonl,
    ".json": _read_json,
}


# ---------------------------------------------------------------- documents

_HEADING_TAGS = {f"h{i}": i for i in range(1, 7)}
_BLOCK_TAGS = {
    *_HEADING_TAGS,
    *("p", "div", "section", "article", "main", "header", "footer", "aside", "body", "html", "ul", "ol", "li"),
    *("table", "tr", "td", "th", "thead", "tbody", "pre", "blockquote", "dl", "dt", "dd", "figure", "figcaption"),
    *("address", "details", "summary", "form", "fieldset", "hr", "center"),
}
_DROP_TAGS = ["script", "style", "nav", "noscript", "template", "svg", "iframe", "head"]
_BR = "\ue000"  # stands for <br> while whitespace is collapsed


def _read_markdown(name: str, data: bytes) -> tuple[list[Block], dict]:
    from markdown_it import MarkdownIt

    text = _decode(name, data)
    lines = text.splitlines()
    if lines and lines[0].strip() == "---" and "---" in (s.strip() for s in lines[1:]):  # YAML front matter
        end = next(i for i, s in enumerate(lines[1:], 1) if s.strip() == "---")
        lines[: end + 1] = [""] * (end + 1)
    tokens = MarkdownIt("commonmark").enable("table").parse("\n".join(lines))
    blocks: list[Block] = []
    for i, tok in enumerate(tokens):
        if tok.level != 0 or tok.nesting == -1 or tok.map is None or tok.type == "hr":
            continue
        if tok.type == "heading_open":
            inline = tokens[i + 1].children or []
            title = "".join(" " if "break" in c.type else c.content for c in inline if c.type != "html_inline")
            if title.strip():
                blocks.append(Block("heading", " ".join(title.split()), int(tok.tag[1])))
        else:
            source = "\n".join(lines[tok.map[0] : tok.map[1]]).strip()
            if source:
                blocks.append(Block("table" if tok.type == "table_open" else "text", source))
    return blocks, {}


def _read_html(name: str, data: bytes) -> tuple[list[Block], dict]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_decode(name, data), "html.parser")
    title = _clean(soup.title.get_text()) if soup.title else ""
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with(_BR)
    blocks: list[Block] = []
    inline: list[str] = []
    _walk_html(soup, blocks, inline)
    _flush_inline(inline, blocks)
    return blocks, {"title": title}


def _walk_html(node, blocks: list[Block], inline: list[str]) -> None:
    """Document-order walk: headings and tables become their own blocks, inline runs gather into paragraphs."""
    from bs4 import NavigableString, Tag

    for child in node.children:
        if not isinstance(child, Tag):
            if type(child) is NavigableString:  # not comments, doctypes or CDATA
                inline.append(str(child))
            continue
        if child.name not in _BLOCK_TAGS:
            inline.append(child.get_text())
            continue
        _flush_inline(inline, blocks)
        if child.name in _HEADING_TAGS:
            if heading := _clean(child.get_text()):
                blocks.append(Block("heading", heading, _HEADING_TAGS[child.name]))
        elif child.name == "table":
            rows = [[_clean(c.get_text(" ")) for c in tr.find_all(["th", "td"])] for tr in child.find_all("tr")]
            if table := markdown_table(rows):
                blocks.append(Block("table", table))
        elif child.name in ("ul", "ol"):
            items = [_clean(li.get_text(" ")) for li in child.find_all("li", recursive=False)]
            marks = [f"{n}." for n in range(1, len(items) + 1)] if child.name == "ol" else ["-"] * len(items)
            if lines := [f"{m} {item}" for m, item in zip(marks, items, strict=True) if item]:
                blocks.append(Block("text", "\n".join(lines)))
        elif child.name == "pre":
            if text := child.get_text().replace(_BR, "\n").strip():
                blocks.append(Block("text", text))
        elif child.find(list(_BLOCK_TAGS)):
            _walk_html(child, blocks, inline)
            _flush_inline(inline, blocks)
        elif text := _clean(child.get_text()):
            blocks.append(Block("text", text))


def _flush_inline(inline: list[str], blocks: list[Block]) -> None:
    if text := _clean("".join(inline)):
        blocks.append(Block("text", text))
    inline.clear()


def _clean(text: str) -> str:
    """HTML whitespace rules: runs collapse to one space, <br> stays a line break."""
    lines = (" ".join(part.split()) for part in text.split(_BR))
    return "\n".join(line for line in lines if line)


# Plain-text headings: "1. Title" / "2.3 Title" (short, no sentence end), "一、标题", "（二）标题", "第三章 标题",
# short ALL-CAPS lines, and a line underlined with === or ---.
_NUMBERED = re.compile(r"^(\d+(?:\.\d+)*)[.、)]?\s+\S")
_ZH_NUMBERED = re.compile(r"^(?:[一二三四五六七八九十百]+、|第[一二三四五六七八九十百\d]+[章节部分条])")
_ZH_SUB = re.compile(r"^[（(][一二三四五六七八九十]+[）)]")


def _heading_level(line: str) -> int | None:
    line = line.strip()
    if not line or len(line) > 80 or line[-1] in ".。!！?？;；,，:：":
        return None
    if m := _NUMBERED.match(line):
        return m.group(1).count(".") + 1
    if _ZH_NUMBERED.match(line):
        return 1
    if _ZH_SUB.match(line):
        return 2
    if len(line) <= 60 and line.isupper() and re.search(r"[A-Z]{2}", line):
        return 0  # an all-caps line is a title or major part: numbered headings nest under it
    return None


def _opens_section(lines: list[str]) -> bool:
    """A heading-like first line heads a section unless the next line is heading-like too (then it is a list)."""
    return len(lines) == 1 or _heading_level(lines[1]) is None


def _text_blocks(text: str, page: int | None = None) -> list[Block]:
    """Paragraphs split at blank lines; a heading-like line starts a section when it stands alone or opens a
    paragraph (a run of numbered lines is a list, not headings)."""
    blocks: list[Block] = []
    for para in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = [line.rstrip() for line in para.split("\n") if line.strip()]
        if len(lines) >= 2 and re.fullmatch(r"\s*(=+|-+)\s*", lines[1]) and len(lines[0].strip()) <= 80:
            blocks.append(Block("heading", lines[0].strip(), 0 if "=" in lines[1] else 1, page))
            lines = lines[2:]
        elif lines and (level := _heading_level(lines[0])) is not None and _opens_section(lines):
            blocks.append(Block("heading", lines[0].strip(), level, page))
            lines = lines[1:]
        if body := "\n".join(lines).strip():
            blocks.append(Block("text", body, page=page))
    return blocks


def _read_txt(name: str, data: bytes) -> tuple[list[Block], dict]:
    return _text_blocks(_decode(name, data)), {}


def _read_pdf(name: str, data: bytes) -> tuple[list[Block], dict]:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise KBError(f"{name}: the PDF is password-protected; remove the password and upload it again")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = _text((reader.metadata or {}).get("/Title"))
    except KBError:
        raise
    except Exception as exc:  # pypdf raises many error types for damaged files
        raise KBError(f"{name}: not a readable PDF ({type(exc).__name__}); re-export it as PDF") from None
    if not any(p.strip() for p in pages):
        raise KBError(f"{name}: no extractable text in {len(pages)} page(s); it looks scanned — run OCR on it first")
    blocks = [block for n, text in enumerate(pages, start=1) for block in _text_blocks(text, page=n)]
    return blocks, {"pages": len(pages), "title": title}


def _read_docx(name: str, data: bytes) -> tuple[list[Block], dict]:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    if problem := unzipped_size_problem(data, name):
        raise KBError(problem)
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises zipfile, KeyError and XML errors for damaged files
        raise KBError(f"{name}: not a readable .docx document ({type(exc).__name__}); re-save it from Word") from None
    blocks: list[Block] = []
    in_list = False  # consecutive Word list paragraphs form one list block, as in Markdown
    for element in document.element.body.iterchildren():
        tag = element.tag.rsplit("}", 1)[-1]
        if tag == "tbl":
            rows = [[cell.text for cell in row.cells] for row in Table(element, document).rows]
            if table := markdown_table(rows):
                blocks.append(Block("table", table))
            in_list = False
        elif tag == "p":
            para = Paragraph(element, document)
            if not (text := para.text.strip()):
                continue
            style = para.style.name if para.style is not None else ""
            heading = re.fullmatch(r"Heading (\d)", style)
            if style == "Title" or heading:
                blocks.append(Block("heading", text, int(heading.group(1)) if heading else 0))
            elif style.startswith("List") and in_list:
                blocks[-1] = Block("text", f"{blocks[-1].text}\n- {text}")
            else:
                blocks.append(Block("text", f"- {text}" if style.startswith("List") else text))
            in_list = style.startswith("List")
    return blocks, {"title": document.core_properties.title or ""}


_DOC_READERS: dict[str, Callable[[str, bytes], tuple[list[Block], dict]]] = {
    ".md": _read_markdown,
    ".markdown": _read_markdown,
    ".html": _read_html,
    ".htm": _read_html,
    ".txt": _read_txt,
    ".pdf": _read_pdf,
    ".docx": _read_docx,
}
