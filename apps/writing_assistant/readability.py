"""Readability and counts. English: Flesch reading ease and Flesch-Kincaid grade, textstat's formulas with
syllables from pyphen's hyphenation dictionary (textstat itself now fetches NLTK's cmudict on first use, which
an offline machine cannot). Chinese has no
standard formula in our dependencies, so we report characters per sentence, the share of long sentences and a
documented grade estimate:

    grade = clamp(1 + characters_per_sentence / 6 + 20 * rare_word_share, 1, 16)

where rare words are words (jieba) outside the 20,000 most frequent of jieba's dictionary. It is a heuristic in
the spirit of published Chinese readability formulas (sentence length + word difficulty), not calibrated against
graded texts: use it to compare drafts, not as an absolute school grade. Reading time: 238 English words or 300
Chinese characters a minute."""

from __future__ import annotations

import functools
import re

from apps.writing_assistant.textutil import Language, check_language, count, detect_language, sentence_spans

WORDS_PER_MINUTE = 238
CHARS_PER_MINUTE = 300
COMMON_ZH_WORDS = 20_000


@functools.cache
def _common_zh() -> frozenset[str]:
    import jieba

    jieba.setLogLevel(60)
    jieba.initialize()
    ranked = sorted(jieba.dt.FREQ.items(), key=lambda kv: -kv[1])
    return frozenset(w for w, _ in ranked[:COMMON_ZH_WORDS])


def readability(text: str, language: Language | None = None, long_words: int = 35, long_chars: int = 60) -> dict:
    lang = check_language(language or detect_language(text))
    spans = sentence_spans(text)
    n_sentences = max(len(spans), 1)
    sentence_texts = [text[a:b] for a, b in spans]
    if lang == "zh":
        import jieba

        common = _common_zh()  # also quiets jieba's start-up log
        chars = count(text, "zh")
        per_sentence = [count(s, "zh") for s in sentence_texts] or [0]
        words = [w for w in jieba.cut(text) if re.search(r"[\u4e00-\u9fff]", w)]
        rare = sum(w not in common for w in words) / max(len(words), 1)
        mean = chars / n_sentences
        return {
            "language": "zh",
            "characters": chars,
            "sentences": len(spans),
            "characters_per_sentence": round(mean, 1),
            "long_sentence_share": round(sum(n > long_chars for n in per_sentence) / n_sentences, 3),
            "rare_word_share": round(rare, 3),
            "grade_estimate": round(min(16.0, max(1.0, 1 + mean / 6 + 20 * rare)), 1),
            "reading_time_min": round(chars / CHARS_PER_MINUTE, 1),
        }
    words = count(text, "en")
    tokens = re.findall(r"[A-Za-z]+(?:'[A-Za-z]+)?", text)
    syllables = sum(_syllables(t) for t in tokens)
    per_sentence, per_word = len(tokens) / n_sentences, syllables / max(len(tokens), 1)
    return {
        "language": "en",
        "words": words,
        "characters": len(text),
        "sentences": len(spans),
        "words_per_sentence": round(words / n_sentences, 1),
        "long_sentence_share": round(sum(len(s.split()) > long_words for s in sentence_texts) / n_sentences, 3),
        "flesch_reading_ease": round(206.835 - 1.015 * per_sentence - 84.6 * per_word, 1) if tokens else None,
        "flesch_kincaid_grade": round(0.39 * per_sentence + 11.8 * per_word - 15.59, 1) if tokens else None,
        "reading_time_min": round(words / WORDS_PER_MINUTE, 1),
    }


@functools.cache
def _hyphenator():
    import pyphen

    return pyphen.Pyphen(lang="en_US")


def _syllables(word: str) -> int:
    return len(_hyphenator().positions(word.lower())) + 1
