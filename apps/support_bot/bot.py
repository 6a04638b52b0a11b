"""The support bot: intent + retrieval -> policy -> an FAQ answer, a grounded generated answer with citations,
a clarifying question or a handoff ticket. Every turn is stored (PII redacted)."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from apps.support_bot import chain as grounded
from apps.support_bot.config import BotConfig, Thresholds
from apps.support_bot.intents import IntentClassifier, load_intents
from apps.support_bot.kb.knowledge_base import KnowledgeBase
from apps.support_bot.kb.parsers import detect_lang
from apps.support_bot.kb.types import Hit
from apps.support_bot.persona import Persona, persona
from apps.support_bot.policy import (
    Calibration,
    Decision,
    Sample,
    Signals,
    calibrate,
    correct,
    decide,
    read_labelled,
    signals_from,
)
from apps.support_bot.selfcal import self_calibrate
from apps.support_bot.store import Store
from core.config import Settings
from core.errors import InvalidRequestError, ModelLoadError
from core.models import registry
from core.serving.health import ModelHealth

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000
MAX_CHOICES = 3  # FAQ questions a clarifying reply offers
# A short message that points back ("how long does that take?", "那个多少钱？") continues the previous question.
_FOLLOW_UP = re.compile(r"\b(that|it|this|those|these|they|them|there)\b|这个|那个|它|这样", re.IGNORECASE)


@dataclass
class Reply:
    """One answer; the JSON contract of ``llmeco bot ask --json`` and ``POST /api/chat``."""

    session_id: str
    answer: str
    action: str  # answer | clarify | handoff
    intent: dict  # {"name", "confidence"}
    # [{"id", "title", "question", "score", "dense", "bm25", "question_match", "source", "kind", "cited"}]; a clarifying
    # reply lists the FAQ questions it offers as choices, none cited
    sources: list[dict]
    lang: str
    mode: str  # faq | generate | passage | smalltalk | clarify | handoff
    reason: str
    message_id: int | None = None
    ticket_id: int | None = None
    latency_ms: float = 0.0
    extra: dict = field(default_factory=dict)
    # the chat model asked to write this answer ("name@v3" for a registered name's version; ``mode`` says whether its
    # text was kept or a passage quoted instead): feedback is compared per version during a canary
    model: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class SupportBot:
    """Thread-safe for concurrent sessions (the REST API shares one bot); the chat model loads on first use."""

    def __init__(
        self,
        settings: Settings,
        *,
        kb: KnowledgeBase | None = None,
        intents: IntentClassifier | None = None,
        store: Store | None = None,
    ):
        self.settings = settings
        self.config = BotConfig.from_settings(settings)
        self.kb = kb or KnowledgeBase.open(self.config.kb, settings)
        self.intents = intents or load_intents(settings)
        self.store = store or Store.for_settings(settings)
        self.thresholds = active_thresholds(settings, self.config, self.kb)
        self.persona: Persona = persona(self.config, self.kb)
        self._chains: dict[str, object] = {}
        self._chat = None
        self._chat_lock = threading.Lock()  # loads the chat model once
        self.models = ModelHealth()  # the chat model's load failure, on /health until it loads
        self._generating = threading.Lock()  # one answer at a time: the engine is not re-entrant

    # ----- configuration -------------------------------------------------------------------------------------
    @property
    def chat_model_name(self) -> str:
        return self.config.chat_model or self.settings.text.model

    @property
    def writes_chinese(self) -> bool:
        """Generated Chinese only from a Chinese-capable model; otherwise Chinese is answered from the KB."""
        if self.config.chinese_generation is not None:
            return self.config.chinese_generation
        spec = registry.find(self.chat_model_name)
        return spec is not None and "zh" in spec.languages

    def generates(self, lang: str) -> bool:
        """Whether answers in ``lang`` are written by the chat model (else the best passage is quoted at once):
        ``generation`` "always"/"never", or "auto": the model writes the language and is not known to be too small
        for grounded answers (a registered model under ``min_generation_mb``)."""
        if self.config.generation != "auto":
            return self.config.generation == "always"
        if lang == "zh" and not self.writes_chinese:
            return False
        spec = registry.find(self.chat_model_name)
        return spec is None or spec.size_mb >= self.config.min_generation_mb

    def refresh(self, background: bool = False) -> None:
        """Re-read what depends on the knowledge base's content (after an ingest or delete): self-calibrated
        thresholds and the persona's derived topics. ``background``: recalibrate in a thread (seconds for a few
        hundred entries) so an upload or delete request returns at once; answers use the old values until then."""
        if background:
            threading.Thread(target=self.refresh, name="support-bot-recalibrate", daemon=True).start()
            return
        self.thresholds = active_thresholds(self.settings, self.config, self.kb)
        self.persona = persona(self.config, self.kb)

    def _chain(self, lang: str):
        if lang not in self._chains:
            with self._chat_lock:
                if self._chat is None:
                    from core.integrations.langchain import CoreChatModel
                    from core.text import load_text_engine

                    name = self.chat_model_name
                    engine = self.models.load(name, lambda: load_text_engine(name, self.settings))
                    self._chat = CoreChatModel(engine=engine, max_tokens=120, temperature=0.0)
                retriever = grounded.KBRetriever(search=self.search)
                self._chains[lang] = grounded.build_chain(self._chat, retriever, self.persona.company[lang], lang)
        return self._chains[lang]

    def close(self) -> None:
        """Release the chat model (native memory of a local engine)."""
        with self._chat_lock:
            if self._chat is not None:
                self._chat.engine.close()
                self._chat, self._chains = None, {}

    # ----- answering ---------------------------------------------------------------------------------------------
    def ask(self, question: str, session_id: str | None = None, user: str | None = None) -> Reply:
        reply = None
        for kind, value in self.stream(question, session_id, user):
            if kind == "reply":
                reply = value
        return reply

    def stream(
        self, question: str, session_id: str | None = None, user: str | None = None
    ) -> Iterator[tuple[str, object]]:
        """Yield ("delta", text) pieces of the answer, then ("reply", Reply) once everything is stored. ``user``: the
        customer's id in the caller's system, stored with the session (``llmeco data forget --user``)."""
        start = time.perf_counter()
        question = (question or "").strip()
        if not question:
            raise InvalidRequestError("the question is empty")
        if len(question) > MAX_QUESTION_CHARS:
            raise InvalidRequestError(f"the question is {len(question)} characters; the limit is {MAX_QUESTION_CHARS}")
        session_id = session_id or uuid.uuid4().hex
        lang = detect_lang(question)
        history = self.store.history(session_id, limit=2 * self.config.history_turns)
        intent = self.intents.predict([question])[0]
        hits = self._retrieve(question, history)
        signals = signals_from(intent.label, intent.confidence, hits, _clarify_streak(history))
        decision = decide(signals, self.thresholds_for(lang))
        user_id = self.store.add_message(
            session_id,
            "user",
            question,
            kb=self.kb.name,
            intent=intent.label,
            confidence=intent.confidence,
            user_id=user,
        )
        answer, sources, decision, ticket, model = yield from self._respond(
            question, lang, decision, hits, history, session_id, signals
        )
        latency = (time.perf_counter() - start) * 1000
        message_id = self.store.add_message(
            session_id,
            "assistant",
            answer,
            kb=self.kb.name,
            action=decision.action,
            intent=intent.label,
            confidence=intent.confidence,
            sources=sources,
            latency_ms=latency,
            model=model,
        )
        reason = f"{decision.action} ({decision.reason}), intent {intent.label} {intent.confidence:.2f}"
        log.info("reply %d: %s", message_id, reason)
        log.debug("reply %d answered %r", message_id, question)  # redacted by core.logs before any handler
        yield (
            "reply",
            Reply(
                session_id=session_id,
                answer=answer,
                action=decision.action,
                intent={"name": intent.label, "confidence": round(intent.confidence, 4)},
                sources=sources,
                lang=lang,
                mode=decision.mode,
                reason=decision.reason,
                message_id=message_id,
                ticket_id=ticket,
                latency_ms=round(latency, 1),
                extra={"user_message_id": user_id, "signals": asdict(signals)},
                model=model,
            ),
        )

    # ----- calibration ------------------------------------------------------------------------------------------
    def signals(self, questions: list[str]) -> list[tuple[Signals, list[Hit]]]:
        """Policy inputs for fresh-session questions (no generation), for calibration and evaluation."""
        predictions = self.intents.predict(questions)
        out = []
        for q, p in zip(questions, predictions, strict=True):
            hits = self.search(q)
            out.append((signals_from(p.label, p.confidence, hits), hits))
        return out

    def thresholds_for(self, lang: str) -> Thresholds:
        return self.thresholds.get(lang) or self.thresholds.get("en") or self.config.thresholds

    def calibrate(self, data: str | Path, save: bool = True) -> dict[str, Calibration]:
        """Choose thresholds per language on labelled questions (``policy_val.jsonl``) and save them for this KB;
        they take precedence over the KB's self-calibration."""
        labelled = read_labelled(data)
        samples = [
            (q.lang, Sample(s, q.action, *_expected_found(q.expected, hits)))
            for q, (s, hits) in zip(labelled, self.signals([q.question for q in labelled]), strict=True)
        ]
        results = {
            lang: calibrate([x for lg, x in samples if lg == lang], self.thresholds_for(lang))
            for lang in sorted({lg for lg, _ in samples})
        }
        if save:
            path = thresholds_file(self.kb)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({k: v.to_dict() for k, v in results.items()}, indent=2), encoding="utf-8")
        self.thresholds = {**self.thresholds, **{k: v.thresholds for k, v in results.items()}}
        return results

    def evaluate_policy(self, data: str | Path) -> dict:
        """Action accuracy and retrieval hit rate (an expected id or file among the sources) on labelled
        questions, per language; decisions only (no generation), like calibration."""
        labelled = read_labelled(data)
        rows = []
        for q, (s, hits) in zip(labelled, self.signals([q.question for q in labelled]), strict=True):
            decision = decide(s, self.thresholds_for(q.lang))
            sample = Sample(s, q.action, *_expected_found(q.expected, hits))
            rows.append((q, decision.action, sample.hits_ok, correct(sample, decision)))
        report: dict = {"n": len(rows), "thresholds": {k: t.model_dump() for k, t in self.thresholds.items()}}
        for lang in ("all", "en", "zh"):
            sel = [r for r in rows if lang == "all" or r[0].lang == lang]
            if not sel:
                continue
            hit = [r[2] for r in sel if r[2] is not None]
            report[lang] = {
                "n": len(sel),
                "action_accuracy": round(sum(r[0].action == r[1] for r in sel) / len(sel), 4),
                # right action with the right material (a direct answer from an expected FAQ, or passages that
                # include an expected entry)
                "correct": round(sum(r[3] > 0 for r in sel) / len(sel), 4),
                "retrieval_hit_at_k": round(sum(hit) / len(hit), 4) if hit else None,
            }
        report["errors"] = [{"question": q.question, "expected": q.action, "got": a} for q, a, _, ok in rows if ok == 0]
        return report

    def search(self, query: str) -> list[Hit]:
        """Top-k entries, those in the query's language first: a bilingual KB answers in the customer's
        language, and cross-lingual matches still serve when only the other language covers a topic."""
        lang = detect_lang(query)
        hits = self.kb.search(query, k=3 * self.config.top_k)
        return sorted(hits, key=lambda h: h.entry.lang != lang)[: self.config.top_k]

    def _retrieve(self, question: str, history) -> list[Hit]:
        """Search with the question. A short message that points back is searched together with the previous
        customer question; another short one that finds nothing close is retried that way too."""
        previous = next((m.text for m in reversed(history) if m.role == "user"), None)
        if previous and _FOLLOW_UP.search(question) and len(question) < 60:
            return self.search(f"{previous} {question}")
        hits = self.search(question)
        best = max((h.dense for h in hits), default=0.0)
        if previous and best < self.thresholds_for(detect_lang(question)).grounded and len(question) < 60:
            contextual = self.search(f"{previous} {question}")
            if max((h.dense for h in contextual), default=0.0) > best:
                return contextual
        return hits

    def _respond(self, question, lang, decision: Decision, hits: list[Hit], history, session_id, signals: Signals):
        """Produce the answer text (streaming deltas) and the sources; may downgrade the decision when the model
        abstains. Returns (answer, sources, decision, ticket_id, the chat model that was asked, if any)."""
        sources: list[dict] = []
        ticket = model = None
        if decision.mode == "faq":
            best = next(h for h in hits if h.entry.kind == "faq")
            answer = best.entry.answer or best.entry.text
            sources = [_source(h, cited=h is best) for h in [best, *(h for h in hits if h is not best)]]
            yield "delta", answer
        elif decision.mode == "generate" and self.generates(lang):
            answer, sources, decision, model = yield from self._generate(question, lang, history, decision, hits)
        elif decision.mode == "generate":  # quote the best passage at once: no failed generation to wait for
            answer, sources = _quote(hits, lang)
            why = "no Chinese chat model" if lang == "zh" and not self.writes_chinese else "generation off"
            decision = Decision("answer", "passage", f"{decision.reason}; quoted ({why})")
            yield "delta", answer
        elif decision.mode == "smalltalk":
            answer = self.persona.say("greeting", lang)
            yield "delta", answer
        if decision.action == "clarify":
            choices = (
                _choices(hits) if max(signals.best_faq, signals.best_any) >= self.thresholds_for(lang).suggest else []
            )
            sources = [{**_source(h, cited=False), "choice": True} for h in choices]
            answer = self.persona.say("choices" if choices else "clarify", lang)
            if choices:
                answer += "\n" + "\n".join(f"{i}. {h.entry.question}" for i, h in enumerate(choices, 1))
            yield "delta", answer
        elif decision.action == "handoff":
            ticket = self.store.create_ticket(session_id, decision.reason).id
            answer = self.persona.say("handoff", lang, ticket=ticket)
            yield "delta", answer
        return answer, sources, decision, ticket, model

    def choose(self, session_id: str, entry_id: str) -> Reply:
        """The customer picked a suggested FAQ question: answer it, and learn the question they had asked (the last
        one the bot clarified) as a paraphrase of that FAQ, so the next customer who asks it gets the answer."""
        start = time.perf_counter()
        entry = self.kb.entry(entry_id)
        if entry.kind != "faq":
            raise InvalidRequestError(f"{entry_id!r} is not an FAQ entry; choices are FAQ questions")
        history = self.store.history(session_id, limit=2 * self.config.history_turns)
        asked = next((m for m in reversed(history) if m.role == "user"), None)
        clarified = next((m for m in reversed(history) if m.role == "assistant"), None)
        offered = (
            clarified is not None
            and clarified.action == "clarify"
            and entry_id in {s.get("id") for s in clarified.sources or []}
        )
        if not offered:
            raise InvalidRequestError(f"{entry_id!r} was not offered as a choice in session {session_id!r}")
        learned = self.kb.learn(entry_id, asked.text, session_id=session_id)
        self.store.add_message(session_id, "user", entry.question, kb=self.kb.name, intent="choice", confidence=1.0)
        hit = Hit(entry, 1.0, 1.0, 0.0, 1, 1.0)
        sources = [_source(hit, cited=True)]
        latency = (time.perf_counter() - start) * 1000
        message_id = self.store.add_message(
            session_id,
            "assistant",
            entry.answer,
            kb=self.kb.name,
            action="answer",
            intent="choice",
            confidence=1.0,
            sources=sources,
            latency_ms=latency,
        )
        return Reply(
            session_id=session_id,
            answer=entry.answer,
            action="answer",
            intent={"name": "choice", "confidence": 1.0},
            sources=sources,
            lang=entry.lang,
            mode="faq",
            reason=f"picked from the suggested questions; learned {asked.text!r}" if learned else "picked",
            message_id=message_id,
            latency_ms=round(latency, 1),
            extra={"learned": asked.text if learned else None},
        )

    def _generate(self, question, lang, history, decision, hits):
        """A grounded answer from the chain; when the model abstains: clarify; when its answer is not supported
        by the passages (small models loop or answer from memory) or the model stays busy with other customers
        longer than ``generation_wait_s``: quote the best passage instead. Returns (answer, sources, decision, the
        model that answered the chain)."""
        try:
            chain = self._chain(lang)
        except ModelLoadError:  # on /health; the customer still gets the passage
            answer, sources = _quote(hits, lang)
            yield "delta", answer
            why = f"{decision.reason}; chat model {self.chat_model_name!r} failed to load: quoted"
            return answer, sources, Decision("answer", "passage", why), None
        if not self._generating.acquire(timeout=self.config.generation_wait_s):
            answer, sources = _quote(hits, lang)
            yield "delta", answer
            return answer, sources, Decision("answer", "passage", decision.reason + "; chat model busy: quoted"), None
        turns = [(m.role, m.text) for m in history]
        docs, text, model = [], "", None
        try:
            for kind, value in grounded.stream_answer(chain, question, grounded.history_messages(turns)):
                if kind == "docs":
                    docs = value
                elif kind == "model":
                    model = value
                else:
                    text += value
                    yield "delta", value
        finally:
            self._generating.release()
        result = grounded.finalize(text, docs, question)
        if result.abstained:
            return "", [], Decision("clarify", "clarify", "the model found no answer in the passages"), model
        if not result.grounded:
            answer, sources = _quote([d.metadata["hit"] for d in docs], lang)
            yield "delta", "\n\n" + answer
            why = decision.reason + "; generated answer not grounded"
            return answer, sources, Decision("answer", "passage", why), model
        sources = [_source(d.metadata["hit"], cited=i + 1 in result.cited) for i, d in enumerate(docs)]
        tail = result.answer.removeprefix(text.strip())
        if tail != result.answer and tail:  # a citation was added: send it (a stripped preamble is left to the reply)
            yield "delta", tail
        return result.answer, sources, decision, model


def _expected_found(expected: tuple[str, ...], hits: list[Hit]) -> tuple[bool | None, bool | None]:
    """(best FAQ is expected, any hit is expected) for a labelled question; (None, None) without labels."""
    if not expected:
        return None, None
    faqs = [h for h in hits if h.entry.kind == "faq"]
    best_faq = max(faqs, key=lambda h: h.question_match) if faqs else None
    faq_ok = best_faq is not None and best_faq.entry.id in expected
    return faq_ok, any(h.entry.id in expected or h.entry.source_id in expected for h in hits)


def _quote(hits: list[Hit], lang: str) -> tuple[str, list[dict]]:
    """The first-ranked passage quoted as the answer with its citation; the other hits follow, not cited."""
    best = hits[0]
    body = best.entry.answer or best.entry.text.removeprefix(best.entry.title).strip()
    sources = [_source(h, cited=h is best) for h in hits]
    if lang == "zh":
        return f"根据《{best.entry.title}》：{body} [1]", sources
    return f'From "{best.entry.title}": {body} [1]', sources


def _choices(hits: list[Hit]) -> list[Hit]:
    """The closest FAQ questions, in rank order, each question once."""
    seen: set[str] = set()
    out = [h for h in hits if h.entry.kind == "faq" and not (h.entry.question in seen or seen.add(h.entry.question))]
    return out[:MAX_CHOICES]


def _source(hit: Hit, cited: bool) -> dict:
    return {**hit.to_dict(), "cited": cited}


def _clarify_streak(history) -> int:
    streak = 0
    for m in reversed(history):
        if m.role != "assistant":
            continue
        if m.action != "clarify":
            break
        streak += 1
    return streak


def thresholds_file(kb: KnowledgeBase) -> Path:
    """Thresholds ``llmeco bot calibrate --data`` chose on labelled questions for this knowledge base."""
    return kb.root / "thresholds.json"


def selfcal_file(kb: KnowledgeBase) -> Path:
    return kb.root / "selfcal.json"


def ensure_self_calibration(kb: KnowledgeBase, config: BotConfig) -> dict:
    """The KB's self-calibration (per language: thresholds and what they do on its own calibration questions),
    computed when the KB is ingested and again whenever its content changed."""
    path = selfcal_file(kb)
    digest = kb.digest
    if path.is_file():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("digest") == digest and stored.get("max_wrong_answers") == config.max_wrong_answers:
            return stored
    if not len(kb):
        return {"digest": digest, "languages": {}}
    langs = {e.lang for e in kb.entries()}
    start = {lang: config.thresholds for lang in langs}
    result = {
        "digest": digest,
        "max_wrong_answers": config.max_wrong_answers,
        "languages": self_calibrate(
            kb.entries(), lambda q: kb.search(q, k=config.top_k), start, config.max_wrong_answers
        ),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    return result


def active_thresholds(settings: Settings, config: BotConfig, kb: KnowledgeBase) -> dict[str, Thresholds]:
    """Per language: the defaults, overridden by the KB's self-calibration, then by thresholds calibrated on
    labelled questions (``llmeco bot calibrate``), then by values given in the settings."""
    explicit = settings.apps.get("support_bot", {}).get("thresholds") or {}
    labelled_path = thresholds_file(kb)
    labelled = json.loads(labelled_path.read_text(encoding="utf-8")) if labelled_path.is_file() else {}
    out = {}
    for lang, cal in ensure_self_calibration(kb, config)["languages"].items():
        values = {**cal["thresholds"], **labelled.get(lang, {}).get("thresholds", {}), **explicit}
        out[lang] = Thresholds(**values)
    for lang, cal in labelled.items():
        out.setdefault(lang, Thresholds(**{**cal["thresholds"], **explicit}))
    return out
