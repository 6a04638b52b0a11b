"""The one policy that decides answer / clarify / handoff, and its calibration on labelled questions.

Signals: the intent model's prediction, the retrieval scores, and (later, in the bot) whether the chat model
abstained. Thresholds live in ``BotConfig.thresholds``; ``calibrate`` picks them on validation data so that the
bot answers what the knowledge base covers and never makes up a confident answer for the rest."""

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
    best_faq: float  # best dense similarity of an FAQ entry (0 when none)
    best_any: float  # best dense similarity of any entry
    clarify_streak: int = 0  # clarifications in a row just before this question


@dataclass(frozen=True)
class Decision:
    action: Action
    mode: Mode
    reason: str


def signals_from(intent: str, confidence: float, hits: Sequence[Hit], clarify_streak: int = 0) -> Signals:
    faq = [h.dense for h in hits if h.entry.kind == "faq"]
    return Signals(intent, confidence, max(faq, default=0.0), max((h.dense for h in hits), default=0.0), clarify_streak)


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


@dataclass
class Calibration:
    thresholds: Thresholds
    accuracy: float  # action accuracy on the validation questions with these thresholds
    default_accuracy: float  # with the thresholds before calibration
    n: int
    confusion: dict[str, dict[str, int]]  # expected -> decided -> count

    def to_dict(self) -> dict:
        return {**asdict(self), "thresholds": self.thresholds.model_dump()}


def _accuracy(signals: Sequence[Signals], labels: Sequence[Action], t: Thresholds) -> float:
    return sum(decide(s, t).action == a for s, a in zip(signals, labels, strict=True)) / len(labels)


def calibrate(signals: Sequence[Signals], labels: Sequence[Action], start: Thresholds) -> Calibration:
    """Grid-search the thresholds for action accuracy; ties go to the stricter (higher) thresholds, which
    prefer clarifying over a wrong answer."""
    grid = [round(0.30 + 0.025 * i, 3) for i in range(27)]  # 0.30 .. 0.95
    best, best_acc = start, -1.0
    for faq, grounded in itertools.product(grid, grid):
        if grounded > faq:
            continue
        for handoff in (0.4, 0.5, 0.6, 0.7, 0.8):
            t = start.model_copy(update={"faq_direct": faq, "grounded": grounded, "intent_handoff": handoff})
            acc = _accuracy(signals, labels, t)
            if acc > best_acc + 1e-9 or (
                abs(acc - best_acc) < 1e-9 and (grounded, faq) > (best.grounded, best.faq_direct)
            ):
                best, best_acc = t, acc
    confusion: dict[str, dict[str, int]] = {}
    for s, a in zip(signals, labels, strict=True):
        got = decide(s, best).action
        confusion.setdefault(a, {}).setdefault(got, 0)
        confusion[a][got] += 1
    return Calibration(best, best_acc, _accuracy(signals, labels, start), len(labels), confusion)
