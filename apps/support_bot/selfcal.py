"""Thresholds for a knowledge base nobody labelled: each KB builds its own calibration questions when it is ingested,
per language, and the policy's answer thresholds are set from them.

- Positives: each FAQ question rewritten by rules (lower-cased and wrapped, or cut to its content words the way
  people type into a search box); right when the bot's first FAQ is that FAQ.
- In-domain negatives ("the FAQ is not there"): the same search with the right FAQ left out. Entries are scored
  independently, so the best other entry is exactly what the bot would see if that FAQ did not exist.
- Out-of-domain negatives: everyday questions no support KB answers (``OUT_OF_DOMAIN``).

The answer thresholds are the pair that answers the most positives rightly while wrong answers (a wrong FAQ, or
anything for a negative) stay at most ``max_wrong`` of the answers; the "suggest" threshold (offer the closest FAQ
questions when clarifying) sits at the 90th percentile of the out-of-domain scores."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from apps.support_bot.config import Thresholds
from apps.support_bot.kb.tokenize import EN_STOPWORDS, ZH_STOPCHARS
from apps.support_bot.kb.types import Entry, Hit

MAX_FAQS = 200  # FAQ questions per language used as positives (spread over the KB)
GRID = np.round(np.arange(0.20, 1.001, 0.01), 3)
# Never answer with an FAQ verbatim below this question match: a small KB gives few calibration questions, and on
# the bike-rental test KB (4 FAQs) its calibration alone allowed 0.40, where "Who pays if the bike gets damaged?"
# got the answer of "Do you rent electric bikes?".
MIN_FAQ_DIRECT = 0.5

OUT_OF_DOMAIN = {
    "en": [
        "What's the weather like tomorrow?",
        "Tell me a joke.",
        "Who won the football world cup in 2018?",
        "How do I bake sourdough bread?",
        "Write me a poem about the sea.",
        "What is the capital of Australia?",
        "Can you recommend a good movie for tonight?",
        "How many calories are in a banana?",
        "What time is it in Tokyo right now?",
        "Should I buy Tesla stock?",
        "How far is the moon from the earth?",
        "Translate good morning into French.",
        "Who painted the Mona Lisa?",
        "What's a good name for a puppy?",
        "How do I fix a leaking kitchen tap?",
        "What is the meaning of life?",
        "Solve 37 times 43.",
        "Which planet is the largest?",
        "How do I grow tomatoes on a balcony?",
        "What are the rules of chess?",
        "hello are you a robot",
        "asdf qwerty",
        "I like turtles",
        "How tall is Mount Everest?",
    ],
    "zh": [
        "明天天气怎么样？",
        "给我讲个笑话。",
        "2018年世界杯冠军是谁？",
        "红烧肉怎么做？",
        "帮我写一首关于大海的诗。",
        "澳大利亚的首都是哪里？",
        "推荐一部今晚看的电影。",
        "一根香蕉有多少卡路里？",
        "东京现在几点？",
        "现在应该买特斯拉的股票吗？",
        "月亮离地球有多远？",
        "“早上好”用法语怎么说？",
        "蒙娜丽莎是谁画的？",
        "给小狗起个什么名字好？",
        "厨房水龙头漏水怎么修？",
        "人生的意义是什么？",
        "37乘以43等于多少？",
        "太阳系最大的行星是哪个？",
        "阳台上怎么种西红柿？",
        "国际象棋的规则是什么？",
        "你是机器人吗",
        "啊啊啊啊",
        "我喜欢乌龟",
        "珠穆朗玛峰有多高？",
    ],
}


@dataclass
class Question:
    text: str
    expected: str | None  # the FAQ id a right answer comes from; None: nothing in the KB answers it
    exclude: str | None = None  # score as if this FAQ were not in the KB (in-domain negative)


def paraphrase(question: str, lang: str, variant: int) -> str:
    """A rule-based rewrite: 0 wraps the lower-cased question, 1 keeps only its content words."""
    q = question.strip().rstrip("?？!！.。 ")
    if lang == "zh":
        if variant == 0:
            return f"请问{q}？"
        return "".join(ch for ch in q if ch not in ZH_STOPCHARS and ch not in "吗请问我你您")
    if variant == 0:
        return f"I'd like to know: {q[:1].lower()}{q[1:]}?"
    words = [w for w in re.findall(r"[\w'+.-]+", q) if w.lower() not in EN_STOPWORDS]
    return " ".join(words) or q


def _spread(items: list[Entry]) -> list[Entry]:
    if len(items) <= MAX_FAQS:
        return items
    return [items[i] for i in np.linspace(0, len(items) - 1, MAX_FAQS).astype(int)]


def first_sentence(entry: Entry, max_words: int = 12) -> str:
    """A document passage's first sentence without its heading path, cut to ``max_words`` words."""
    body = entry.text.removeprefix(entry.title).strip()
    sentence = re.split(r"(?<=[.!?。！？])\s*", body, maxsplit=1)[0]
    return " ".join(sentence.split()[:max_words]) if entry.lang != "zh" else sentence[:30]


def questions_for(entries: Sequence[Entry], lang: str) -> list[Question]:
    """Positives and in-domain negatives from the FAQ questions in ``lang`` (at most ``MAX_FAQS``, evenly spread),
    questions about its document passages (their first sentences: answered rightly only from that passage, never
    by an FAQ), plus the out-of-domain negatives."""
    out = []
    for i, e in enumerate(_spread([e for e in entries if e.kind == "faq" and e.question and e.lang == lang])):
        text = paraphrase(e.question, lang, i % 2)
        out += [Question(text, e.id), Question(text, None, exclude=e.id)]
    docs = _spread([e for e in entries if e.kind == "doc" and e.lang == lang])
    out += [Question(text, e.id) for e in docs if (text := first_sentence(e))]
    return out + [Question(q, None) for q in OUT_OF_DOMAIN.get(lang, [])]


@dataclass
class Scored:
    best_faq: float  # question match of the first FAQ hit
    best_any: float  # best text similarity
    first: str | None  # id of the first hit (what a passage answer quotes or the FAQ path answers)
    first_faq: str | None
    first_is_doc: bool
    expected: str | None
    out_of_domain: bool


def score(questions: Sequence[Question], search: Callable[[str], list[Hit]], lang: str) -> list[Scored]:
    """The policy's signals for each question, from the entries in ``lang`` (the bot answers from the customer's
    language first; a translation of the left-out FAQ is not a wrong answer)."""
    out = []
    for q in questions:
        hits = [h for h in search(q.text) if h.entry.id != q.exclude and h.entry.lang == lang]
        faqs = [h for h in hits if h.entry.kind == "faq"]
        out.append(
            Scored(
                faqs[0].question_match if faqs else 0.0,
                max((h.dense for h in hits), default=0.0),
                hits[0].entry.id if hits else None,
                faqs[0].entry.id if faqs else None,
                bool(hits) and hits[0].entry.kind == "doc",
                q.expected,
                q.expected is None and q.exclude is None,
            )
        )
    return out


def choose(scored: Sequence[Scored], start: Thresholds, max_wrong: float) -> tuple[Thresholds, dict]:
    """The (faq_direct, grounded) pair answering the most positives rightly with wrong answers <= ``max_wrong`` of
    all answers (ties: the more lenient pair), plus what it does on these questions."""
    faq = np.array([s.best_faq for s in scored])[:, None, None]
    text = np.array([s.best_any for s in scored])[:, None, None]
    by_faq = faq >= GRID[None, :, None]
    by_text = ~by_faq & (text >= GRID[None, None, :])
    right_faq = np.array([s.expected is not None and s.first_faq == s.expected for s in scored])[:, None, None]
    right_text = np.array([s.expected is not None and s.first == s.expected for s in scored])[:, None, None]
    # A passage from a document answering an in-domain question is neither counted right nor wrong: the rules
    # cannot tell whether the document covers what the FAQ says.
    doc_text = np.array([not s.out_of_domain and s.first_is_doc for s in scored])[:, None, None]
    answered = (by_faq | by_text).sum(0)
    right = (by_faq & right_faq).sum(0) + (by_text & right_text).sum(0)
    wrong = answered - right - (by_text & doc_text & ~right_text).sum(0)
    ok = wrong <= max_wrong * np.maximum(answered, 1)
    # Most right answers; among equals the most lenient pair the wrong-answer bound allows: the rule-made
    # paraphrases are easier than real ones, so a threshold at the top of the plateau would withhold real ones.
    gain = np.where(ok, right, -1) * 10_000 - GRID[None, :] * 100 - GRID[:, None]
    i, j = np.unravel_index(np.argmax(gain), gain.shape)
    i = max(i, int(np.searchsorted(GRID, MIN_FAQ_DIRECT)))
    ood = [s for s in scored if s.out_of_domain]
    suggest = float(np.percentile([max(s.best_faq, s.best_any) for s in ood], 90)) if ood else start.suggest
    update = {"faq_direct": float(GRID[i]), "grounded": float(GRID[j]), "suggest": round(suggest, 3)}
    positives = sum(s.expected is not None for s in scored)
    if not positives:  # no FAQ in this language (documents only): passages answer above the out-of-domain scores
        i, j = (
            len(GRID) - 1,
            int(np.searchsorted(GRID, np.percentile([s.best_any for s in ood], 100 * (1 - max_wrong)))),
        )
        j = min(j, len(GRID) - 1)
        update |= {"faq_direct": start.faq_direct, "grounded": float(GRID[j])}
    chosen = start.model_copy(update=update)
    retrievable = sum(s.expected is not None and s.expected in (s.first_faq, s.first) for s in scored)
    report = {
        "questions": len(scored),
        "positives": positives,
        "negatives": len(scored) - positives,
        "answered": int(answered[i, j]),
        "wrong_answer_rate": round(float(wrong[i, j] / max(answered[i, j], 1)), 4),
        # the right entry ranked first but the bot clarified instead of answering
        "withheld_right_rate": round(1 - float(right[i, j]) / max(retrievable, 1), 4),
    }
    return chosen, report


def self_calibrate(
    entries: Sequence[Entry], search: Callable[[str], list[Hit]], start: dict[str, Thresholds], max_wrong: float
) -> dict[str, dict]:
    """Per language present in the KB: {"thresholds": {...}, "report": {...}}."""
    result = {}
    for lang in sorted({e.lang for e in entries}):
        thresholds, report = choose(score(questions_for(entries, lang), search, lang), start[lang], max_wrong)
        result[lang] = {"thresholds": thresholds.model_dump(), "report": report}
    return result
