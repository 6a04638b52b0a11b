"""The one policy that decides answer / clarify / handoff, and its calibration on labelled questions.

Signals: the intent model's prediction, the retrieval scores, and (later, in the bot) whether the chat model
abstained. Thresholds are set per knowledge base and language (``selfcal``); ``calibrate`` picks them on labelled
validation data so that the bot answers what the knowledge base covers and never makes up a confident answer for
the rest."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from apps.support_bot.config import Thresholds
from apps.support_bot.kb.types import Hit, KBError

Action = Literal["answer", "clarify", "handoff"]
# How an answer is produced: an FAQ's own answer, a generated grounded answer, a KB passage quoted as is
# (Chinese without a Chinese-capable chat model), a canned small-talk reply, or no answer.
Mode = Literal["faq", "generate", "passage", "smalltalk", "clarify", "handoff"]

HANDOFF_INTENTS = ("human_agent", "complaint")  # a person handles complaints, as in most support desks
SMALLTALK_INTENTS = ("greeting",)
# Consecutive clarifications after which the bot stops asking and hands over (Rasa's two-stage fallback).
MAX_CLARIFY_STREAK = 2


@dataclass(frozen=True)
class Signals:
    intent: str
    intent_confidence: float
    best_faq: float  # similarity of the query with the first-ranked FAQ's questions (0 when none)
    best_any: float  # best dense similarity of any entry
    clarify_streak: int = 0  # clarifications in a row just before this question


@dataclass(frozen=True)
class Decision:
    action: Action
    mode: Mode
    reason: str


def signals_from(intent: str, confidence: float, hits: Sequence[Hit], clarify_streak: int = 0) -> Signals:
    """``best_faq`` is the question match of the first-ranked FAQ: the one a direct answer would give."""
    faq = next((h.question_match for h in hits if h.entry.kind == "faq"), 0.0)
    return Signals(intent, confidence, faq, max((h.dense for h in hits), default=0.0), clarify_streak)


def decide(s: Signals, t: Thresholds) -> Decision:
    """Answer when the knowledge base covers the question, hand over when the customer asks for a person (or the
    bot has failed to understand twice), otherwise ask to clarify."""
    if s.intent in HANDOFF_INTENTS and s.intent_confidence >= t.intent_handoff:
        return Decision("handoff", "handoff", f"intent {s.intent} ({s.intent_confidence:.2f})")
    if s.best_faq >= t.faq_direct:
        return Decision("answer", "faq", f"FAQ match {s.best_faq:.2f} >= {t.faq_direct:.2f}")
    if s.best_any >= t.grounded:
        return Decision("answer", "generate", f"relevant passages {s.best_any:.2f} >= {t.grounded:.2f}")
    if s.intent in SMALLTALK_INTENTS and s.intent_confidence >= t.intent_smalltalk:
        return Decision("answer", "smalltalk", "greeting")
    if s.clarify_streak >= MAX_CLARIFY_STREAK:
        return Decision("handoff", "handoff", f"could not understand {s.clarify_streak + 1} times in a row")
    return Decision("clarify", "clarify", f"nothing relevant in the knowledge base (best {s.best_any:.2f})")


@dataclass
class LabelledQuestion:
    question: str
    action: Action
    lang: str = "en"
    expected: tuple[str, ...] = ()


def read_labelled(path: str | Path) -> list[LabelledQuestion]:
    """JSONL lines ``{"question", "action", "lang"?, "expected"?}``; errors name the line."""
    p = Path(path)
    if not p.is_file():
        raise KBError(f"{p}: no such file")
    out = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if row["action"] not in ("answer", "clarify", "handoff"):
                raise ValueError(f"action must be answer, clarify or handoff, not {row['action']!r}")
            out.append(
                LabelledQuestion(row["question"], row["action"], row.get("lang", "en"), tuple(row.get("expected", ())))
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise KBError(f"{p.name} line {n}: {exc} (need a JSON object with question and action)") from None
    if not out:
        raise KBError(f"{p.name}: no labelled questions")
    return out


@dataclass(frozen=True)
class Sample:
    """A labelled question's signals, and whether its best FAQ / any retrieved entry is one it expects
    (None when the label names no expected entries)."""

    signals: Signals
    action: Action
    faq_ok: bool | None = None
    hits_ok: bool | None = None


# A right answer written from passages is worth less than the FAQ's own answer: slower, and a small model may
# still garble it. This makes calibration answer directly wherever the best FAQ is the right one.
PASSAGE_CREDIT = 0.8


def correct(sample: Sample, decision: Decision) -> float:
    """1 for the right action with the right material (a direct answer must come from an expected FAQ),
    ``PASSAGE_CREDIT`` for a right answer from passages, 0 otherwise."""
    if decision.action != sample.action:
        return 0.0
    if decision.mode == "faq":
        return float(sample.faq_ok is not False)
    if decision.mode in ("generate", "passage"):
        return PASSAGE_CREDIT if sample.hits_ok is not False else 0.0
    return float(sample.action != "answer" or decision.mode == "smalltalk")


@dataclass
class Calibration:
    thresholds: Thresholds
    accuracy: float  # mean ``correct`` score on the validation questions with these thresholds
    default_accuracy: float  # with the thresholds before calibration
    n: int
    confusion: dict[str, dict[str, int]]  # expected action -> decided action -> count

    def to_dict(self) -> dict:
        return {**asdict(self), "thresholds": self.thresholds.model_dump()}


def _accuracy(samples: Sequence[Sample], t: Thresholds) -> float:
    return sum(correct(s, decide(s.signals, t)) for s in samples) / len(samples)


def calibrate(samples: Sequence[Sample], start: Thresholds) -> Calibration:
    """Grid-search the thresholds for accuracy. Among the best settings, take the strictest ``grounded`` (clarify
    rather than answer wrongly), then the median of the remaining ``faq_direct`` and ``intent_handoff`` values:
    the middle of the plateau generalises better than its edge."""
    grid = [round(0.20 + 0.025 * i, 3) for i in range(31)]  # 0.20 .. 0.95
    scored = []
    for faq, grounded, handoff in itertools.product(grid, grid, (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)):
        if grounded <= faq:
            t = start.model_copy(update={"faq_direct": faq, "grounded": grounded, "intent_handoff": handoff})
            scored.append((_accuracy(samples, t), t))
    best_acc = max(acc for acc, _ in scored)
    optimal = [t for acc, t in scored if acc > best_acc - 1e-9]
    grounded = max(t.grounded for t in optimal)
    optimal = [t for t in optimal if t.grounded == grounded]
    faq = sorted({t.faq_direct for t in optimal})[len({t.faq_direct for t in optimal}) // 2]
    optimal = [t for t in optimal if t.faq_direct == faq]
    best = optimal[len(optimal) // 2]
    confusion: dict[str, dict[str, int]] = {}
    for s in samples:
        got = decide(s.signals, best).action
        confusion.setdefault(s.action, {}).setdefault(got, 0)
        confusion[s.action][got] += 1
    return Calibration(best, best_acc, _accuracy(samples, start), len(samples), confusion)
