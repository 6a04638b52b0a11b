"""Cleaning pipeline: text fixes applied to every text field of every example (chat message contents,
text, classification text), then filters that drop examples. Each step is switchable and reported.

Order: HTML stripping, Unicode NFKC, whitespace, PII redaction, then the length filter and duplicate removal,
so that duplicates are found on the cleaned text."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser

from pydantic import BaseModel, ConfigDict, Field

from core.data.dedup import near_duplicates
from core.data.examples import ChatExample, Example
from core.data.pii import redact_pii


class CleaningConfig(BaseModel):
    """Which steps run. The defaults only normalise (NFKC, whitespace) and drop exact duplicates, which is safe
    for any data; the others change content or drop examples by judgement, so they are opt-in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    html: bool = False
    normalize_unicode: bool = True  # NFKC: full-width "ＡＢＣ１２３" -> "ABC123", common in Chinese text
    whitespace: bool = True
    pii: bool = False
    min_chars: int | None = Field(default=None, ge=0)  # all text fields of an example together
    max_chars: int | None = Field(default=None, ge=1)
    dedup_exact: bool = True
    dedup_near: bool = False
    near_threshold: float = Field(default=0.8, gt=0.0, le=1.0)  # Jaccard similarity of character n-grams

    @property
    def length(self) -> bool:
        return self.min_chars is not None or self.max_chars is not None


@dataclass
class StepReport:
    name: str
    removed: int = 0
    modified: int = 0


@dataclass
class CleaningReport:
    before: int
    after: int
    steps: list[StepReport] = field(default_factory=list)

    def summary(self) -> str:
        width = max([len("step"), *(len(s.name) for s in self.steps)])
        lines = [f"{'step':<{width}}  removed  modified"]
        lines += [f"{s.name:<{width}}  {s.removed:>7}  {s.modified:>8}" for s in self.steps]
        lines.append(f"examples: {self.before} -> {self.after}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return asdict(self)


class _TextExtractor(HTMLParser):
    _BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "table", "hr"}
    _SKIP = {"script", "style"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # entities such as &amp; arrive unescaped
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skipping = max(self.skipping - 1, 0)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def strip_html(text: str) -> str:
    """Text content of HTML: tags dropped (block tags become line breaks), script/style removed, entities
    unescaped. Text without markup passes through unchanged."""
    if "<" not in text and "&" not in text:
        return text
    parser = _TextExtractor()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


def normalize_unicode(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


_INNER_SPACE = re.compile(r"(?<=\S)[^\S\n]+(?=\S)")
_BLANK_LINES = re.compile(r"\n{3,}")


def normalize_whitespace(text: str) -> str:
    """Collapse runs of spaces inside lines, drop trailing spaces and extra blank lines, strip the ends.
    Line breaks and indentation survive: they carry meaning in chat replies (lists, code)."""
    lines = [
        _INNER_SPACE.sub(" ", line).rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    ]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _near_dup_text(example: Example) -> str:
    # A system prompt shared by every conversation would make them all look alike.
    if isinstance(example, ChatExample):
        return "\n".join(m["content"] for m in example.messages if m["role"] != "system")
    return "\n".join(example.texts())


def _length(examples: list[Example], config: CleaningConfig) -> list[Example]:
    low, high = config.min_chars or 0, config.max_chars or float("inf")
    return [e for e in examples if low <= sum(len(t) for t in e.texts()) <= high]


def _dedup_exact(examples: list[Example], config: CleaningConfig) -> list[Example]:
    seen: set[tuple] = set()
    out = []
    for e in examples:
        key = (type(e).__name__, e.key())
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def _dedup_near(examples: list[Example], config: CleaningConfig) -> list[Example]:
    dropped = near_duplicates([_near_dup_text(e) for e in examples], config.near_threshold)
    return [e for i, e in enumerate(examples) if i not in dropped]


# Each step is named after the CleaningConfig field that switches it on.
_FIXES: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("html", strip_html),
    ("normalize_unicode", normalize_unicode),
    ("whitespace", normalize_whitespace),
    ("pii", redact_pii),
)
_FILTERS: tuple[tuple[str, Callable[[list[Example], CleaningConfig], list[Example]]], ...] = (
    ("length", _length),
    ("dedup_exact", _dedup_exact),
    ("dedup_near", _dedup_near),
)


def clean(examples: Sequence[Example], config: CleaningConfig | None = None) -> tuple[list[Example], CleaningReport]:
    """Run the enabled steps in order; the report says what each removed and modified."""
    config = config or CleaningConfig()
    current = list(examples)
    report = CleaningReport(before=len(current), after=0)
    for name, fix in _FIXES:
        if getattr(config, name):
            fixed = [e.map_texts(fix) for e in current]
            report.steps.append(StepReport(name, modified=sum(a != b for a, b in zip(current, fixed, strict=True))))
            current = fixed
    for name, keep in _FILTERS:
        if getattr(config, name):
            kept = keep(current, config)
            report.steps.append(StepReport(name, removed=len(current) - len(kept)))
            current = kept
    report.after = len(current)
    return current, report
