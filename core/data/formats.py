"""Recognise a dataset's format from its records' keys and turn records into examples.

Supported shapes (extra keys are ignored):
chat ``{"messages": [{"role", "content"}, ...]}``, alpaca ``{"instruction", "input"?, "output"}``,
text ``{"text"}``, classification ``{"text", "label" | "category"}`` (Banking77's CSVs use ``category``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from core.data.examples import ChatExample, ClassificationExample, DataError, Example, TextExample
from core.data.loaders import Record

FORMATS = ("chat", "alpaca", "text", "classification")
SUPPORTED = (
    'supported formats: chat {"messages": [{"role", "content"}, ...]}, alpaca {"instruction", "input", "output"},'
    ' text {"text"}, classification {"text", "label" or "category"}'
)
ROLES = ("system", "user", "assistant")


def _shape(data: dict) -> str | None:
    if "messages" in data:
        return "chat"
    if "instruction" in data and "output" in data:
        return "alpaca"
    if "text" in data:
        return "classification" if "label" in data or "category" in data else "text"
    return None


def detect_format(records: Sequence[Record]) -> str:
    """The one format all records share; a classification dataset is recognised even if some rows lack a label,
    so that those rows are reported as such rather than as a mix of formats."""
    if not records:
        raise DataError(f"no records to detect a format from; {SUPPORTED}")
    shapes = [_shape(r.data) for r in records]
    fmt = "classification" if shapes[0] == "text" and "classification" in shapes else shapes[0]
    for record, shape in zip(records, shapes, strict=True):
        if shape is None:
            raise DataError(f"{record.where}: keys {sorted(record.data)} match no format; {SUPPORTED}")
        if shape == fmt:
            continue
        if fmt == "classification" and shape == "text":
            raise DataError(f"{record.where}: classification row has no label ('label' or 'category')")
        raise DataError(
            f"{record.where}: a {shape} record, but {records[0].where} is {fmt}: mixed formats; {SUPPORTED}"
        )
    return fmt


def _string(record: Record, key: str) -> str:
    value = record.data.get(key)
    if not isinstance(value, str):
        raise DataError(f"{record.where}: {key!r} must be a string, got {type(value).__name__}")
    return value


def _chat(record: Record) -> ChatExample:
    messages = record.data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise DataError(f"{record.where}: 'messages' must be a non-empty list of {{role, content}} objects")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise DataError(f"{record.where}: message {i} needs role system|user|assistant and string content")
        out.append({"role": m["role"], "content": m["content"]})
    if not any(m["role"] == "assistant" for m in out):
        raise DataError(f"{record.where}: the conversation has no assistant message to learn from")
    if out[0]["role"] == "assistant":  # nothing to render as its prompt
        raise DataError(f"{record.where}: the conversation opens with an assistant message; start with system or user")
    return ChatExample(out, record.source, record.line)


def _alpaca(record: Record) -> ChatExample:
    prompt = _string(record, "instruction")
    extra = record.data.get("input")
    if extra is not None and not isinstance(extra, str):
        raise DataError(f"{record.where}: 'input' must be a string, got {type(extra).__name__}")
    if extra and extra.strip():
        prompt += "\n\n" + extra
    messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": _string(record, "output")}]
    return ChatExample(messages, record.source, record.line)


def _text(record: Record) -> TextExample:
    return TextExample(_string(record, "text"), record.source, record.line)


def _classification(record: Record) -> ClassificationExample:
    label = record.data.get("label", record.data.get("category"))
    if label is None or (isinstance(label, str) and not label.strip()):
        raise DataError(f"{record.where}: classification row has no label ('label' or 'category')")
    if not isinstance(label, str | int):
        raise DataError(f"{record.where}: the label must be a string or an integer, got {type(label).__name__}")
    return ClassificationExample(_string(record, "text"), str(label).strip(), record.source, record.line)


_CONVERTERS: dict[str, Callable[[Record], Example]] = {
    "chat": _chat,
    "alpaca": _alpaca,
    "text": _text,
    "classification": _classification,
}


def to_examples(records: Sequence[Record], fmt: str) -> list[Example]:
    """Convert every record; alpaca becomes a user/assistant ``ChatExample``."""
    convert = _CONVERTERS.get(fmt)
    if convert is None:
        raise DataError(f"unknown format {fmt!r}; {SUPPORTED}")
    examples = [convert(r) for r in records]
    if fmt == "classification":
        labels = sorted({e.label for e in examples})
        if len(labels) < 2:
            where = records[0].source if records else "the dataset"
            raise DataError(f"{where}: classification needs at least 2 distinct labels, found {labels}")
    return examples
