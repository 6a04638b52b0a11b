"""The bot's REST API (FastAPI; OpenAPI docs at /docs): chat (plain and streaming), feedback, knowledge-base
management, the handoff queue and analytics. An API key is required when ``apps.support_bot.api_key`` or
``api_keys`` (``LLMECO_API_KEYS``) is set; body size and per-key rate limits: ``core/serving/guard.py``."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from apps.support_bot.bot import SupportBot
from apps.support_bot.governance import BotData
from apps.support_bot.kb.types import KBError
from apps.support_bot.learning import Learning
from apps.support_bot.store import NotFoundError
from core.errors import LLMEcoError
from core.governance.audit import AuditLog
from core.governance.retention import start_schedule
from core.serving.guard import SQL_INTEGER, Guard, collect_keys, error_status, validation_error
from core.serving.metrics import instrument

RowId = Annotated[int, PathParam(**SQL_INTEGER)]


class ChatIn(BaseModel):
    message: str = Field(..., description="The customer's message (English or Chinese).", max_length=2000)
    session_id: str | None = Field(None, description="Continue a conversation; omitted: a new session.")
    user_id: str | None = Field(
        None, max_length=200, description="The customer's id in your system (`llmeco data forget --user`)."
    )


class ChoiceIn(BaseModel):
    session_id: str = Field(..., description="The session whose clarifying reply offered the question.")
    entry_id: str = Field(..., description="The offered question's source id (a source with choice: true).")


class FeedbackIn(BaseModel):
    message_id: int = Field(..., **SQL_INTEGER)
    rating: Literal[1, -1] = Field(..., description="1 = thumbs up, -1 = thumbs down")
    comment: str | None = Field(None, max_length=2000)


class ResolveIn(BaseModel):
    note: str = Field("", description="Internal note on how it was resolved.")
    agent: str | None = None
    reply: str | None = Field(
        None, description="What the agent answered the customer: becomes a suggestion for the knowledge base."
    )


class ApproveIn(BaseModel):
    """The reviewer's edits; omitted fields keep the suggestion's values."""

    question: str | None = Field(None, max_length=2000)
    answer: str | None = Field(None, max_length=8000, description="A new FAQ entry's answer.")
    entry_id: str | None = Field(None, description="The FAQ entry a paraphrase belongs to.")
    label: str | None = Field(None, description="An intent example's label.")


def create_api(bot: SupportBot, *, api_key: str | None = None, max_upload_mb: int | None = None) -> FastAPI:
    """The API over one bot; ``api_key`` and ``max_upload_mb`` default to the bot's settings."""
    key = api_key if api_key is not None else bot.config.api_key
    max_upload_mb = max_upload_mb or bot.config.max_upload_mb
    api = FastAPI(
        title=f"{bot.persona.company['en']} support bot",
        description="Answers from the knowledge base with citations, clarifies, or hands over to a person.",
        version="1.0",
    )
    max_upload = max_upload_mb * 1024 * 1024
    learning = Learning(bot)
    api.add_middleware(
        Guard,
        keys=collect_keys(bot.settings.api_keys, key),
        protected=("/api",),
        max_body_bytes=max(bot.config.max_request_mb, max_upload_mb) * 2**20,
        rate_per_minute=bot.config.rate_limit_per_minute,
        error=lambda status, message, code: {"error": message},
        limit_name="apps.support_bot.max_request_mb",
    )

    api.add_exception_handler(RequestValidationError, validation_error)
    metrics = instrument(api)
    audit = AuditLog.for_settings(bot.settings)
    start_schedule(bot.settings, [BotData(bot.store)])  # retention, when governance.retention_days is set

    @api.exception_handler(LLMEcoError)
    def _user_error(request: Request, exc: LLMEcoError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=error_status(exc, NotFoundError))

    @api.get("/health")
    def health() -> dict:
        return bot.models.health(kb=bot.kb.name, entries=len(bot.kb), chat_model=bot.chat_model_name)

    @api.post("/api/chat")
    def chat(body: ChatIn) -> dict:
        """One answer: ``session_id``, ``answer``, ``action`` (answer|clarify|handoff), ``intent``, ``sources``."""
        reply = bot.ask(body.message, body.session_id, body.user_id)
        metrics.observe_reply(reply.action, reply.intent["confidence"], reply.model)
        return reply.to_dict()

    @api.post("/api/chat/stream")
    def chat_stream(body: ChatIn) -> StreamingResponse:
        """Server-sent events: ``{"type": "delta", "text"}`` pieces, then ``{"type": "reply", ...}`` (the final,
        authoritative answer — it replaces the deltas when the model abstained)."""
        events = bot.stream(body.message, body.session_id, body.user_id)
        first = next(events)  # raise bad-request errors before the 200 response starts

        def sse() -> Iterator[str]:
            for kind, value in itertools.chain([first], events):
                if kind != "delta":
                    metrics.observe_reply(value.action, value.intent["confidence"], value.model)
                payload = {"type": "delta", "text": value} if kind == "delta" else {"type": "reply", **value.to_dict()}
                yield f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

        return StreamingResponse(sse(), media_type="text/event-stream")

    @api.post("/api/chat/choose")
    def choose(body: ChoiceIn) -> dict:
        """The customer picked a question a clarifying reply offered: its answer (the reply contract); the question
        they had asked is learned as a paraphrase of that FAQ."""
        reply = bot.choose(body.session_id, body.entry_id)
        metrics.observe_reply(reply.action, reply.intent["confidence"], reply.model)
        return reply.to_dict()

    @api.get("/api/sessions/{session_id}/messages")
    def session_messages(session_id: str, request: Request) -> list[dict]:
        audit.request(request, "read", "conversation", session_id)
        return [m.to_dict() for m in bot.store.history(session_id)]

    @api.post("/api/feedback")
    def feedback(body: FeedbackIn) -> dict:
        feedback_id = bot.store.add_feedback(body.message_id, body.rating, body.comment)
        rated = bot.store.message(body.message_id)
        metrics.observe_feedback("up" if body.rating == 1 else "down", answered_by=rated.model)
        if body.rating == -1:
            learning.from_feedback(body.message_id)
        return {"id": feedback_id}

    @api.get("/api/kb/sources")
    def kb_sources() -> list[dict]:
        return [s.to_dict() for s in bot.kb.sources()]

    @api.post("/api/kb/sources")
    async def kb_upload(files: list[UploadFile] = File(...)) -> list[dict]:
        """Upload FAQ files (CSV, XLSX, JSONL) or documents (MD, HTML, TXT, PDF, DOCX); one result per file."""
        uploads: dict[str, bytes] = {}
        for f in files:
            data = await f.read(max_upload + 1)
            if len(data) > max_upload:
                raise HTTPException(
                    413,
                    f"{f.filename}: larger than the {max_upload_mb} MB upload limit (apps.support_bot.max_upload_mb)",
                )
            uploads[f.filename or "upload"] = data
        try:
            bot.kb.check_room(list(uploads), bot.config.max_kb_files)
        except KBError as exc:
            raise HTTPException(413, str(exc)) from None
        results = [vars(r) for r in bot.kb.ingest([], uploads=uploads)]
        bot.refresh(background=True)
        return results

    @api.delete("/api/kb/sources/{source_id}")
    def kb_delete(source_id: str) -> dict:
        try:
            removed = bot.kb.delete(source_id).to_dict()
        except KBError as exc:
            raise HTTPException(404, str(exc)) from None
        bot.refresh(background=True)
        return removed

    @api.get("/api/kb/search")
    def kb_search(q: str, k: int = 5) -> list[dict]:
        """Test a question: the entries retrieval finds, with fused, dense and BM25 scores."""
        return [{**h.to_dict(), "text": h.entry.text} for h in bot.kb.search(q, k=max(1, min(k, 50)))]

    @api.get("/api/handoff/tickets")
    def tickets(request: Request, status: Literal["open", "resolved", "all"] = "open") -> list[dict]:
        audit.request(request, "read", "tickets", status)
        return [t.to_dict() for t in bot.store.tickets(None if status == "all" else status)]

    @api.get("/api/handoff/tickets/{ticket_id}")
    def ticket(ticket_id: RowId, request: Request) -> dict:
        audit.request(request, "read", "ticket", ticket_id)
        return bot.store.ticket(ticket_id).to_dict()

    @api.post("/api/handoff/tickets/{ticket_id}/resolve")
    def resolve(ticket_id: RowId, body: ResolveIn) -> dict:
        """Close a ticket; with ``reply``, the answer given to the customer becomes suggestions (``suggestions``)."""
        ticket = bot.store.resolve_ticket(ticket_id, body.note, body.agent, reply=body.reply)
        added = learning.from_ticket(ticket, body.reply) if body.reply and body.reply.strip() else []
        return {**ticket.to_dict(), "suggestions": [s.to_dict() for s in added]}

    @api.get("/api/suggestions")
    def suggestions(status: Literal["pending", "approved", "rejected", "all"] = "pending") -> list[dict]:
        """The review queue: new FAQ entries, paraphrases of existing ones and intent examples."""
        return [s.to_dict() for s in bot.store.suggestions(None if status == "all" else status)]

    @api.post("/api/suggestions/refresh")
    def suggestions_refresh() -> list[dict]:
        """Suggestions from replied tickets and thumbs-down replies that have none yet (the ones added)."""
        return [s.to_dict() for s in learning.refresh()]

    @api.post("/api/suggestions/{suggestion_id}/approve")
    def suggestion_approve(suggestion_id: RowId, body: ApproveIn) -> dict:
        """Approve with edits: FAQ entries and paraphrases are answered from at once; intent examples wait for
        ``llmeco bot retrain``."""
        return learning.approve(suggestion_id, **body.model_dump(), background=True).to_dict()

    @api.post("/api/suggestions/{suggestion_id}/reject")
    def suggestion_reject(suggestion_id: RowId) -> dict:
        return learning.reject(suggestion_id).to_dict()

    @api.get("/api/analytics")
    def analytics(days: int = 30) -> dict:
        return bot.store.stats(days=max(1, min(days, 3650))).to_dict()

    return api
