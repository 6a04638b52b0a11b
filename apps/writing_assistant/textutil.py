"""Language, length and sentence boundaries, the units every task shares: English counts whitespace-separated
words, Chinese counts non-whitespace characters."""

from __future__ import annotations

import re
from typing import Literal

Language = Literal["en", "zh"]
LANGUAGES: tuple[Language, ...] = ("en", "zh")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# A sentence ends at . ! ? (English, before whitespace) or 。！？ (Chinese, with any closing quotes), or a line end.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|(?<=[。！？])[”’」』）]*|\n+")


def detect_language(text: str) -> Language:
    """zh when at least a fifth of the letters are CJK characters (mixed Chinese text keeps Latin words)."""
    cjk = len(_CJK.findall(text))
    letters = sum(ch.isalpha() for ch in text)
    return "zh" if letters and cjk / letters >= 0.2 else "en"


def check_language(language: str) -> Language:
    from core.errors import InvalidRequestError

    if language not in LANGUAGES:
        raise InvalidRequestError(f"language must be en or zh; got {language!r}")
    return language  # type: ignore[return-value]


def count(text: str, language: Language) -> int:
    """English: whitespace-separated words. Chinese: non-whitespace characters (punctuation included)."""
    if language == "zh":
        return sum(not ch.isspace() for ch in text)
    return len(text.split())


def unit(language: Language) -> str:
    return "characters" if language == "zh" else "words"


def sentences(text: str) -> list[str]:
    """Split at sentence ends, keeping each sentence's own punctuation; blank pieces dropped."""
    pieces, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        end = m.end()
        if end > start:
            pieces.append(text[start:end])
        start = end
    pieces.append(text[start:])
    return [p.strip() for p in pieces if p.strip()]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of each sentence in ``text`` (whitespace around it excluded)."""
    spans, start = [], 0
    for m in [*_SENTENCE_END.finditer(text), None]:
        end = m.end() if m else len(text)
        piece = text[start:end]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + lead, start + len(piece.rstrip())))
        start = end
    return spans


_ENDED = re.compile(r"[.!?。！？\"'”’」』）)\]:：]$")


def complete_sentences(text: str) -> str:
    """Drop a trailing fragment a generation cut off mid-sentence (keeps the text when it is all one fragment)."""
    spans = sentence_spans(text)
    if len(spans) > 1 and not _ENDED.search(text[: spans[-1][1]]):
        return text[: spans[-2][1]]
    return text.strip()


def last_sentence(text: str) -> str:
    spans = sentence_spans(text)
    return text[spans[-1][0] : spans[-1][1]] if spans else ""
