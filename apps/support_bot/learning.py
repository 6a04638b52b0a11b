"""The learning loop: what agents answered on handoff tickets, and the replies customers rated down, become
suggestions in a review queue; a person approves (or edits, or rejects) each one; approved ones go into the
knowledge base and the intent data, and ``retrain`` retrains the intent model and recalibrates the thresholds.

Kinds of suggestion:
- ``paraphrase``: the customer's question as another wording of an existing FAQ entry, when the agent's reply says
  what that entry's answer says (compared by the KB's multilingual embeddings) and the question is near its
  questions; it is matched from the next search on (``KnowledgeBase.learn``).
- ``faq``: a new FAQ entry (question + the agent's reply) otherwise; approved entries form one FAQ source of the
  KB (``LEARNED_SOURCE``), rebuilt from the store and re-ingested alone (the other sources keep their vectors).
  A thumbs-down reply gives one without an answer: the reviewer writes it.
- ``intent``: the question with the label it should have had, when the intent model sent to a person a question
  that the agent answered from knowledge (a handoff intent such as ``complaint``); the label is the model's most
  likely other intent, which the reviewer may change. Used by the next ``retrain``."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from apps.support_bot.bot import SupportBot
from apps.support_bot.config import BotConfig, bot_home
from apps.support_bot.intents import DEMO_DATA, INFO, IntentClassifier, ensure_intent_model, read_intent_csv
from apps.support_bot.intents import train_intents as train_intent_model
from apps.support_bot.kb.parsers import detect_lang
from apps.support_bot.policy import HANDOFF_INTENTS, SMALLTALK_INTENTS
from apps.support_bot.store import Suggestion, Ticket
from core.errors import ConfigError, InvalidRequestError

LEARNED_SOURCE = "learned_from_agents.jsonl"
# Cosine (multilingual embeddings) of the agent's reply with an FAQ answer above which the reply says what that
# entry says, so the question is another wording of it rather than a new entry.
PARAPHRASE_ANSWER_MATCH = 0.6
# User messages that are not a question to learn from: asking for a person, greetings, picked choices.
_NOT_QUESTIONS = {"human_agent", *SMALLTALK_INTENTS, "choice"}


def intent_data_file(bot: SupportBot) -> Path:
    """The intent training data of the last retrain: the base CSV plus the approved examples."""
    return bot_home(bot.settings) / "intent_data.csv"


@dataclass
class RetrainReport:
    folder: str
    base_data: str
    learned_examples: int
    train_rows: int
    seconds: float
    thresholds: dict

    def to_dict(self) -> dict:
        return asdict(self)


def learned_id(question: str, answer: str | None) -> str:
    """The KB entry id of an approved FAQ suggestion, from its text: suggestion row ids are reused once rows are
    deleted (SQLite gives a deleted last id again), so they cannot name an entry that outlives its row."""
    return "learned-" + hashlib.sha256(f"{question}\0{answer}".encode()).hexdigest()[:12]


class Learning:
    """The loop over one bot (its KB, intent model and store)."""

    def __init__(self, bot: SupportBot):
        self.bot = bot
        self.store = bot.store

    # ----- suggesting ------------------------------------------------------------------------------------------
    def from_ticket(self, ticket: Ticket, reply: str) -> list[Suggestion]:
        """Suggestions from a resolved ticket's reply: for the last question the customer asked before the handoff."""
        history = self.store.history(ticket.session_id)[: len(ticket.transcript)]
        asked = next((m for m in reversed(history) if m.role == "user" and m.intent not in _NOT_QUESTIONS), None)
        if asked is None:
            return []
        return self._suggest(f"ticket:{ticket.id}", ticket.session_id, asked.text, asked.intent, reply)

    def from_feedback(self, message_id: int) -> list[Suggestion]:
        """A thumbs-down reply's question as a new FAQ entry whose answer the reviewer writes (none if the
        rating is not thumbs-down)."""
        found = self.store.disliked(message_id)
        if not found:
            return []
        d = found[0]
        return self._suggest(f"feedback:{d.message_id}", d.session_id, d.question, d.intent, None)

    def refresh(self) -> list[Suggestion]:
        """Suggestions from every replied ticket and thumbs-down reply that has none yet."""
        known = {s.origin for s in self.store.suggestions(None)}
        added = []
        for ticket, reply in self.store.replied_tickets():
            if f"ticket:{ticket.id}" not in known:
                added += self.from_ticket(ticket, reply)
        for d in self.store.disliked():
            if f"feedback:{d.message_id}" not in known:
                added += self.from_feedback(d.message_id)
        return added

    def _suggest(
        self, origin: str, session_id: str, question: str, intent: str | None, answer: str | None
    ) -> list[Suggestion]:
        lang = detect_lang(question)
        base = {"origin": origin, "session_id": session_id, "question": question, "lang": lang}
        rows = []
        entry, match = self._same_answer(question, answer) if answer else (None, 0.0)
        if entry is not None:
            note = f"the reply matches the answer of {entry} ({match:.2f})"
            rows.append({**base, "kind": "paraphrase", "entry_id": entry, "note": note})
        elif answer:
            rows.append({**base, "kind": "faq", "answer": answer, "note": "the agent's reply to a handoff"})
        else:
            rows.append({**base, "kind": "faq", "note": "rated down: write the answer before approving"})
        if answer and intent in HANDOFF_INTENTS:
            scores = self.bot.intents.predict([question])[0].scores
            others = {k: v for k, v in scores.items() if k not in HANDOFF_INTENTS and k not in _NOT_QUESTIONS}
            if others:
                label = max(others, key=others.get)
                note = f"handed off as {intent}, but an agent answered it from knowledge"
                rows.append({**base, "kind": "intent", "label": label, "note": note})
        return self.store.add_suggestions(rows)

    def _same_answer(self, question: str, answer: str) -> tuple[str | None, float]:
        """The FAQ entry near the question whose answer the reply repeats, with that answer similarity."""
        suggest = self.bot.thresholds_for(detect_lang(question)).suggest
        near = [h.entry for h in self.bot.search(question) if h.entry.kind == "faq" and h.question_match >= suggest]
        if not near:
            return None, 0.0
        vectors = self.bot.kb.embedder.embed([answer, *(e.answer or e.text for e in near)])
        sims = vectors[1:] @ vectors[0]
        best = int(np.argmax(sims))
        return (near[best].id, float(sims[best])) if sims[best] >= PARAPHRASE_ANSWER_MATCH else (None, 0.0)

    # ----- reviewing -------------------------------------------------------------------------------------------
    def approve(
        self,
        suggestion_id: int,
        *,
        question: str | None = None,
        answer: str | None = None,
        entry_id: str | None = None,
        label: str | None = None,
        background: bool = False,
        recalibrate: bool = True,
    ) -> Suggestion:
        """Approve with the reviewer's edits and apply at once: the KB answers the question from the next search
        on, and its thresholds recalibrate (in a thread when ``background``; not at all without ``recalibrate``,
        for a batch of approvals followed by one ``bot.refresh()``). An intent example waits for ``retrain``."""
        s = self.store.suggestion(suggestion_id)
        question = (question if question is not None else s.question).strip()
        if not question:
            raise InvalidRequestError("the question is empty")
        if s.kind == "faq" and not (answer or s.answer or "").strip():
            raise InvalidRequestError(f"suggestion {suggestion_id} has no answer yet: approve it with an answer")
        if s.kind == "paraphrase":
            entry = self.bot.kb.entry(entry_id or s.entry_id)  # an unknown id raises a KBError naming it
            if entry.kind != "faq":
                raise InvalidRequestError(f"{entry.id!r} is a document passage; paraphrases extend FAQ entries")
        if s.kind == "intent" and (label or s.label) not in self.bot.intents.labels:
            raise InvalidRequestError(
                f"unknown intent {label or s.label!r}; use one of {', '.join(self.bot.intents.labels)}"
            )
        done = self.store.review_suggestion(
            suggestion_id, "approved", question=question, answer=answer, entry_id=entry_id, label=label
        )
        if done.kind == "paraphrase":
            self.bot.kb.learn(done.entry_id, done.question)
        elif done.kind == "faq":
            self._sync_faq_source()
        if done.kind != "intent" and recalibrate:
            self.bot.refresh(background=background)
        return done

    def reject(self, suggestion_id: int) -> Suggestion:
        return self.store.review_suggestion(suggestion_id, "rejected")

    def _sync_faq_source(self) -> None:
        """Write the approved FAQ suggestions as the KB's learned source; only that source is re-embedded. Entries
        already in the source stay even when their suggestion is gone (its conversation purged or forgotten): once
        approved, an entry is the KB's, a person's decision, like an approved paraphrase."""
        rows = {
            (e.question, e.answer): {"id": e.id, "category": e.category, "question": e.question, "answer": e.answer}
            for e in self.bot.kb.entries(LEARNED_SOURCE)
        }
        for s in self.store.suggestions("approved"):
            if s.kind == "faq" and (s.question, s.answer) not in rows:
                row = {"id": learned_id(s.question, s.answer), "category": "learned"}
                rows[s.question, s.answer] = row | {"question": s.question, "answer": s.answer}
        lines = [json.dumps(row, ensure_ascii=False) for row in rows.values()]
        result = self.bot.kb.ingest([], uploads={LEARNED_SOURCE: ("\n".join(lines) + "\n").encode()})[0]
        if result.status == "error":
            raise InvalidRequestError(f"the approved entries could not be added to the knowledge base: {result.error}")

    # ----- retraining ------------------------------------------------------------------------------------------
    def retrain(self, calibration_data: str | Path | None = None, progress: bool = False) -> RetrainReport:
        """Retrain the intent model on its base data plus the approved intent examples (``intent_data_file``),
        swap it into the bot, and recalibrate: the KB's self-calibration, and the labelled calibration too when
        ``calibration_data`` (e.g. ``policy_val.jsonl``) is given."""
        start = time.perf_counter()
        settings = self.bot.settings
        output = bot_home(settings) / "intents"
        configured = BotConfig.from_settings(settings).intent_model
        if configured and Path(configured).expanduser().resolve() != output.resolve():
            raise ConfigError(
                f"apps.support_bot.intent_model is set to {configured}; retrain writes the bot's own model at "
                f"{output}: unset the setting to use it"
            )
        base = self._base_data()
        rows = read_intent_csv(base)
        learned = [(s.question, s.label) for s in self.store.suggestions("approved") if s.kind == "intent"]
        data = intent_data_file(self.bot)
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([("text", "label"), *rows, *learned])
        data.write_text(buffer.getvalue(), encoding="utf-8")
        (data.with_suffix(".json")).write_text(json.dumps({"base": str(base)}), encoding="utf-8")
        folder = train_intent_model(data, settings, output, progress=progress)
        self.bot.intents = IntentClassifier(folder, settings)
        self.bot.refresh()
        if calibration_data is not None:
            self.bot.calibrate(calibration_data)
        return RetrainReport(
            folder=str(folder),
            base_data=str(base),
            learned_examples=len(learned),
            train_rows=len(rows) + len(learned),
            seconds=round(time.perf_counter() - start, 1),
            thresholds={k: t.model_dump() for k, t in self.bot.thresholds.items()},
        )

    def _base_data(self) -> Path:
        """The CSV the current model learned from, without earlier learned examples (the demo data at first)."""
        data = intent_data_file(self.bot)
        if data.with_suffix(".json").is_file():
            return Path(json.loads(data.with_suffix(".json").read_text(encoding="utf-8"))["base"])
        info = Path(ensure_intent_model(self.bot.settings)) / INFO
        return Path(json.loads(info.read_text(encoding="utf-8"))["data"]) if info.is_file() else DEMO_DATA
