"""Read data files into records: JSONL, JSON, CSV, saved Hugging Face ``datasets`` folders, or a folder of
data files. Every record keeps its file and 1-based line so later errors can point at the exact row."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.data.examples import DataError


@dataclass(frozen=True)
class Record:
    data: dict[str, Any]
    source: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.source} line {self.line}"


def load_records(path: str | Path) -> list[Record]:
    """All records of a file or folder; folders are a saved ``datasets`` folder or data files read in name order."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{p}: no such file or folder")
    records = _load_folder(p) if p.is_dir() else _load_file(p)
    if not records:
        raise DataError(f"{p} holds no records")
    return records


def _load_file(p: Path) -> list[Record]:
    loader = _LOADERS.get(p.suffix.lower())
    if loader is None:
        raise DataError(f"{p}: unsupported file type {p.suffix!r}; use .jsonl, .json, .csv or a datasets folder")
    return loader(p)


def _load_folder(p: Path) -> list[Record]:
    if (p / "state.json").is_file() or (p / "dataset_dict.json").is_file():
        return _load_saved_dataset(p)
    files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in _LOADERS and f.name[0] != ".")
    if not files:
        raise DataError(f"{p} holds no .jsonl, .json or .csv files and is not a saved datasets folder")
    return [record for f in files for record in _load_file(f)]


def _load_saved_dataset(p: Path) -> list[Record]:
    try:
        import datasets
    except ImportError:
        raise DataError(f"{p} is a saved datasets folder: install the `datasets` package to read it") from None
    try:
        ds = datasets.load_from_disk(str(p))
    except (OSError, ValueError) as exc:
        raise DataError(f"{p}: cannot load the datasets folder ({exc})") from None
    if isinstance(ds, datasets.DatasetDict):
        raise DataError(f"{p} holds the splits {', '.join(ds)}: pass one split's folder, e.g. {p / next(iter(ds))}")
    class_labels = {name: f for name, f in ds.features.items() if isinstance(f, datasets.ClassLabel)}
    return [Record(_label_names(row, class_labels), str(p), n) for n, row in enumerate(ds, 1)]


def _label_names(row: dict[str, Any], class_labels: dict[str, Any]) -> dict[str, Any]:
    """ClassLabel columns store integers; records carry the label names (-1 marks a missing label)."""
    out = dict(row)
    for name, feature in class_labels.items():
        value = out[name]
        out[name] = feature.int2str(value) if isinstance(value, int) and value >= 0 else None
    return out


def _read_text(p: Path) -> str:
    raw = p.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{p} line {line}: not UTF-8 text ({exc.reason})") from None


def _as_record(obj: Any, source: str, line: int) -> Record:
    if not isinstance(obj, dict):
        raise DataError(f"{source} line {line}: expected a JSON object, got {type(obj).__name__}")
    return Record(obj, source, line)


def _invalid_json(p: Path, line: int, exc: json.JSONDecodeError) -> DataError:
    return DataError(f"{p} line {line}: invalid JSON ({exc.msg} at column {exc.colno})")


def _too_deep(p: Path, line: int) -> DataError:
    """Python's JSON parser recurses per nesting level: hostile input hits the recursion limit."""
    return DataError(f"{p} line {line}: JSON nested too deeply to be a record")


def _load_jsonl(p: Path) -> list[Record]:
    records = []
    for n, text in enumerate(_read_text(p).split("\n"), 1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _invalid_json(p, n, exc) from None
        except RecursionError:
            raise _too_deep(p, n) from None
        records.append(_as_record(obj, str(p), n))
    return records


def _load_json(p: Path) -> list[Record]:
    text = _read_text(p)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _invalid_json(p, exc.lineno, exc) from None
    except RecursionError:
        raise _too_deep(p, 1) from None
    if isinstance(doc, dict) and isinstance(doc.get("data"), list):
        items = doc["data"]
    elif isinstance(doc, list):
        items = doc
    else:
        raise DataError(f'{p}: expected a JSON list of objects or {{"data": [...]}}')
    return [_as_record(obj, str(p), line) for obj, line in zip(items, _item_lines(text, doc), strict=True)]


_WS = " \t\r\n"


def _skip(text: str, pos: int, also: str = "") -> int:
    while pos < len(text) and text[pos] in _WS + also:
        pos += 1
    return pos


def _item_lines(text: str, doc: list | dict) -> list[int]:
    """The line where each item of the records array starts (``text`` is already known to be valid JSON)."""
    decoder = json.JSONDecoder()
    pos = _skip(text, 0) + 1  # past the opening "[" or "{"
    if isinstance(doc, dict):  # walk the top-level keys to the "data" array
        while True:
            key, pos = decoder.raw_decode(text, _skip(text, pos, ","))
            pos = _skip(text, pos, ":")
            if key == "data":
                pos += 1
                break
            _, pos = decoder.raw_decode(text, pos)
    lines, line, counted = [], 1, 0
    while text[pos := _skip(text, pos, ",")] != "]":
        line += text.count("\n", counted, pos)
        counted = pos
        lines.append(line)
        _, pos = decoder.raw_decode(text, pos)
    return lines


def _load_csv(p: Path) -> list[Record]:
    reader = csv.reader(io.StringIO(_read_text(p), newline=""))
    records = []
    try:
        header = [name.strip() for name in next(reader, [])]
        if "" in header or len(set(header)) != len(header):
            raise DataError(f"{p} line 1: the header row needs distinct, non-empty column names")
        start = reader.line_num + 1
        for row in reader:
            if row:  # blank lines are skipped
                if len(row) != len(header):
                    raise DataError(f"{p} line {start}: {len(row)} fields, but the header has {len(header)}")
                records.append(Record(dict(zip(header, row, strict=True)), str(p), start))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"{p} line {reader.line_num}: malformed CSV ({exc})") from None
    return records


_LOADERS: dict[str, Callable[[Path], list[Record]]] = {".jsonl": _load_jsonl, ".json": _load_json, ".csv": _load_csv}
