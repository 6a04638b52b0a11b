"""Text around speech: Chinese output in Simplified characters with punctuation, and the normalisation used to
score transcripts (WER for English, CER for Chinese).

English scoring normalisation (stated in every eval result): lower case; numbers spelled out the way the
LJSpeech references are written (tacotron2's cleaner: 1455 -> "fourteen fifty-five", 2000 -> "two thousand",
15th -> "fifteenth", 1,000 -> "one thousand", % -> "percent"); hyphens become spaces; apostrophes and all other
punctuation are dropped. Chinese: Traditional -> Simplified, punctuation and spaces dropped, one token per
character."""

from __future__ import annotations

import re
import unicodedata

EN_NORMALISATION = (
    "lowercase; numbers spelled out (years as pairs: 1455 -> fourteen fifty-five; ordinals; thousands separators);"
    " % -> percent; hyphens -> spaces; other punctuation removed"
)
ZH_NORMALISATION = "Traditional -> Simplified (zhconv); punctuation and whitespace removed; one token per character"

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred"))
_ORDINAL = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}


def has_cjk(text: str) -> bool:
    return re.search(f"[{_CJK}]", text) is not None


def to_simplified(text: str) -> str:
    import zhconv

    return zhconv.convert(text, "zh-cn")


def punctuate_zh(segments: list[str]) -> str:
    """Join Chinese segments with full-width punctuation where the model left none: a space between two Chinese
    characters is a pause (-> ，), and the text ends with 。 unless it already ends in punctuation."""
    pieces = []
    for seg in segments:
        seg = re.sub(f"(?<=[{_CJK}])\\s+(?=[{_CJK}])", "，", seg.strip())
        seg = re.sub(r"\s*,\s*", "，", seg)
        if seg:
            pieces.append(seg)
    text = ""
    for seg in pieces:
        if text and not _ends_in_punct(text):
            text += "，"
        text += seg
    if text and not _ends_in_punct(text):
        text += "。"
    return text


def _ends_in_punct(text: str) -> bool:
    return unicodedata.category(text[-1]).startswith("P")


def number_words(n: int) -> str:
    """Cardinal English words: 42 -> forty-two, 1300 -> one thousand three hundred."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else "-" + _ONES[n % 10])
    for value, word in _SCALES:
        if n >= value:
            head, rest = divmod(n, value)
            return f"{number_words(head)} {word}" + ("" if rest == 0 else " " + number_words(rest))
    raise AssertionError(n)


def spoken_number(n: int) -> str:
    """Years are read as pairs (tacotron2's rule for 1000 < n < 3000): 1455 -> fourteen fifty-five."""
    if 1000 < n < 3000 and n != 2000 and not 2000 < n < 2010:
        if n % 100 == 0:
            return f"{number_words(n // 100)} hundred"
        return f"{number_words(n // 100)} {'oh ' if n % 100 < 10 else ''}{number_words(n % 100)}"
    return number_words(n)


def ordinal_words(n: int) -> str:
    words = spoken_number(n)
    head, sep, last = words.rpartition(" ") if " " in words else ("", "", words)
    stem, dash, unit = last.rpartition("-")
    unit = unit or last
    if unit in _ORDINAL:
        unit = _ORDINAL[unit]
    elif unit.endswith("y"):
        unit = unit[:-1] + "ieth"
    else:
        unit += "th"
    return head + sep + (stem + dash if dash else "") + unit


def normalise_en(text: str) -> str:
    text = text.lower().replace("%", " percent")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    text = re.sub(r"\b(\d+)(st|nd|rd|th)\b", lambda m: ordinal_words(int(m.group(1))), text)
    text = re.sub(r"\d+", lambda m: f" {spoken_number(int(m.group()))} ", text)
    text = text.replace("-", " ").replace("'", "").replace("\u2019", "")
    text = "".join(c if c.isalnum() or c.isspace() else " " for c in text)
    return " ".join(text.split())


def normalise_zh(text: str) -> str:
    return "".join(c for c in to_simplified(text) if c.isalnum())


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance over tokens (substitutions + deletions + insertions)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def error_tokens(reference: str, hypothesis: str, language: str) -> tuple[list[str], list[str]]:
    """Scoring tokens: characters for Chinese, words otherwise (after the stated normalisation)."""
    if language == "zh":
        return list(normalise_zh(reference)), list(normalise_zh(hypothesis))
    return normalise_en(reference).split(), normalise_en(hypothesis).split()
