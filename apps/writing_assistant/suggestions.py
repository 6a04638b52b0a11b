"""A model's rewrite as per-change suggestions: the writer accepts or rejects each one and the text is assembled
from the accepted ones. English is compared word by word, Chinese character by character."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from difflib import SequenceMatcher

from apps.writing_assistant.textutil import Language
from core.errors import InvalidRequestError

_EN_TOKEN = re.compile(r"\s+|[\w'’-]+|[^\w\s]")


@dataclass(frozen=True)
class Suggestion:
    """Replace ``original`` (``length`` characters at ``offset`` of the original text) with ``replacement``."""

    id: int
    offset: int
    length: int
    original: str
    replacement: str

    @property
    def kind(self) -> str:
        return "insert" if not self.original else "delete" if not self.replacement else "replace"

    def to_dict(self) -> dict:
        return {**asdict(self), "kind": self.kind}


def tokens(text: str, language: Language) -> list[str]:
    """Words, spaces and punctuation (English) or single characters (Chinese); they concatenate to ``text``."""
    return list(text) if language == "zh" else _EN_TOKEN.findall(text)


def diff_suggestions(original: str, revised: str, language: Language) -> list[Suggestion]:
    """One suggestion per contiguous change between the two texts, in text order."""
    a, b = tokens(original, language), tokens(revised, language)
    starts = [0]
    for t in a:
        starts.append(starts[-1] + len(t))
    found: list[Suggestion] = []
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        found.append(Suggestion(len(found), starts[i1], starts[i2] - starts[i1], "".join(a[i1:i2]), "".join(b[j1:j2])))
    return found


def apply_suggestions(original: str, suggestions: Iterable[Suggestion | dict], accepted: Iterable[int]) -> str:
    """The original text with the accepted suggestions (by id) applied; the rest keep the original wording."""
    chosen = set(accepted)
    items = [s if isinstance(s, Suggestion) else Suggestion(**_fields(s)) for s in suggestions]
    unknown = chosen - {s.id for s in items}
    if unknown:
        raise InvalidRequestError(f"no suggestion with id {sorted(unknown)}; ids run 0..{len(items) - 1}")
    out, pos = [], 0
    for s in sorted(items, key=lambda s: s.offset):
        if s.offset < pos or original[s.offset : s.offset + s.length] != s.original:
            raise InvalidRequestError(f"suggestion {s.id} does not match the text at offset {s.offset}")
        if s.id in chosen:
            out.append(original[pos : s.offset])
            out.append(s.replacement)
            pos = s.offset + s.length
    out.append(original[pos:])
    return "".join(out)


def _fields(d: dict) -> dict:
    return {k: d[k] for k in ("id", "offset", "length", "original", "replacement")}
