"""The writing assistant's REST API (FastAPI; OpenAPI docs at /docs). Generation routes stream server-sent events:
``{"type": "delta", "text"}`` pieces, then ``{"type": "done", ...}`` with the authoritative result (a draft's
final trim is not streamed). ``/api/...`` without ``/stream`` returns the result as one JSON object. API keys
(``apps.writing_assistant.api_key``, ``api_keys`` / ``LLMECO_API_KEYS``), rate and body limits:
``core/serving/guard.py``."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from apps.writing_assistant.checks import check
from apps.writing_assistant.export import FORMATS, read_document, to_docx, to_markdown, to_txt
from apps.writing_assistant.governance import DocumentData
from apps.writing_assistant.readability import readability
from apps.writing_assistant.store import DocumentStore, NotFoundError
from apps.writing_assistant.suggestions import Suggestion, apply_suggestions
from apps.writing_assistant.templates import load_templates
from apps.writing_assistant.writer import Brief, Writer
from core.errors import InvalidRequestError, LLMEcoError
from core.governance.audit import AuditLog
from core.governance.retention import start_schedule
from core.models.routing import split_label
from core.serving.guard import SQL_INTEGER, Guard, collect_keys, error_status, validation_error
from core.serving.metrics import instrument

MAX_UPLOAD = 20 * 1024 * 1024
RowId = Annotated[int, PathParam(**SQL_INTEGER)]


class BriefIn(BaseModel):
    kind: str
    topic: str
    tone: str = "neutral"
    audience: str = "general readers"
    language: Literal["en", "zh"] = "en"
    length: int = 300


class DraftIn(BriefIn):
    outline: list[str] | None = Field(None, description="Edited section titles; omitted: the kind's default plan.")
    temperature: float = Field(0.0, ge=0, le=2, description="> 0 with a new seed to regenerate differently.")
    seed: int | None = None
    save_as: str | None = Field(None, description="Keep the draft in the document store under this title.")


class OutlineIn(BriefIn):
    sections: int | None = None


class TextIn(BaseModel):
    text: str
    language: Literal["en", "zh"] | None = None


class ContinueIn(TextIn):
    length: int = 80


class RewriteIn(TextIn):
    mode: str = "polish"
    tone: str | None = None


class TranslateIn(BaseModel):
    text: str
    to: Literal["en", "zh"] | None = None


class TitlesIn(TextIn):
    n: int = 5
    email: bool = False


class ApplyIn(BaseModel):
    original: str
    suggestions: list[dict]
    accepted: list[int]
    document_id: int | None = Field(
        None, description="Also save the result as a new version of this document.", **SQL_INTEGER
    )
    model: str | None = Field(
        None,
        max_length=300,
        description="The `model` of the rewrite that made the suggestions (`name@v3` during a canary): the accepts "
        "and rejects are counted for that version.",
    )


class DocumentIn(BaseModel):
    title: str = "Untitled"
    text: str
    language: Literal["en", "zh"] = "en"
    kind: str | None = None


class VersionIn(BaseModel):
    text: str
    note: str = "edited"


class ExportIn(BaseModel):
    format: str = "md"
    original: str | None = Field(None, description="DOCX: the text before the suggestions (default: the document).")
    suggestions: list[dict] = []
    accepted: list[int] = []


def _sse(events: Iterator[tuple[str, Any]]) -> StreamingResponse:
    first = next(events)  # bad input raises here, before the 200 response starts

    def body() -> Iterator[str]:
        for kind, value in itertools.chain([first], events):
            payload = {"type": "delta", "text": value} if kind == "delta" else {"type": "done", **_plain(value)}
            yield f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

    return StreamingResponse(body(), media_type="text/event-stream")


def _plain(value: Any) -> dict:
    return value.to_dict() if hasattr(value, "to_dict") else value


def _final(events: Iterator[tuple[str, Any]]) -> dict:
    return _plain([v for k, v in events if k == "done"][-1])


def create_api(writer: Writer, store: DocumentStore | None = None) -> FastAPI:
    store = store or DocumentStore.for_settings(writer.settings)
    api = FastAPI(
        title="Writing assistant",
        description="Drafts of a set length (outline first), rewrite, translate, checks with accept/reject.",
        version="1.0",
    )
    cfg = writer.config
    api.add_middleware(
        Guard,
        keys=collect_keys(writer.settings.api_keys, cfg.api_key),
        protected=("/api",),
        max_body_bytes=cfg.max_request_mb * 2**20,
        rate_per_minute=cfg.rate_limit_per_minute,
        error=lambda status, message, code: {"error": message},
        limit_name="apps.writing_assistant.max_request_mb",
    )

    api.add_exception_handler(RequestValidationError, validation_error)
    metrics = instrument(api)
    audit = AuditLog.for_settings(writer.settings)
    start_schedule(writer.settings, [DocumentData(store)])  # retention, when governance.retention_days is set

    @api.exception_handler(LLMEcoError)
    def _user_error(request: Request, exc: LLMEcoError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=error_status(exc, NotFoundError))

    @api.get("/health")
    def health() -> dict:
        """``status`` "degraded" (still 200: checks, documents and export still work) while the model has failed
        to load, with why in ``failed``; the same shape as the model server's (``core/serving/health.py``)."""
        return writer.models.health(model=writer.model_name)

    @api.get("/api/kinds")
    def kinds() -> list[dict]:
        return [
            {"kind": t.kind, "description": t.description, "sections": t.sections}
            for t in load_templates(writer.settings).values()
        ]

    def draft_events(body: DraftIn):
        brief = Brief(**body.model_dump(exclude={"outline", "save_as"}))
        for kind, value in writer.stream_draft(brief, body.outline):
            if kind == "done" and body.save_as is not None:
                doc = store.create(body.save_as, value.text, brief.language, brief.kind, "draft")
                value = {**value.to_dict(), "document_id": doc.id}
            yield kind, value

    @api.post("/api/draft")
    def draft(body: DraftIn) -> dict:
        """``text``, ``length`` (English words / Chinese characters), ``target``, ``language``, ``model``, ..."""
        return _final(draft_events(body))

    @api.post("/api/draft/stream")
    def draft_stream(body: DraftIn) -> StreamingResponse:
        return _sse(draft_events(body))

    @api.post("/api/outline")
    def outline(body: OutlineIn) -> dict:
        brief = Brief(**body.model_dump(exclude={"sections"}))
        return {"sections": writer.outline(brief, body.sections), "model": writer.model_name}

    routes = {
        "continue": (ContinueIn, lambda b: writer.stream_continue(b.text, b.length, b.language)),
        "rewrite": (RewriteIn, lambda b: writer.stream_rewrite(b.text, b.mode, b.tone, b.language)),
        "summarize": (ContinueIn, lambda b: writer.stream_summarize(b.text, b.length, b.language)),
        "translate": (TranslateIn, lambda b: writer.stream_translate(b.text, b.to)),
    }
    for name, (model, run) in routes.items():
        _add_task_routes(api, name, model, run)

    @api.post("/api/titles")
    def titles(body: TitlesIn) -> dict:
        return {"titles": writer.titles(body.text, body.n, body.email, body.language), "model": writer.model_name}

    @api.post("/api/check")
    def check_text(body: TextIn) -> list[dict]:
        """LanguageTool-shaped issues: offset, length, message, replacements, rule, category."""
        writer._check_text(body.text)
        return [i.to_dict() for i in check(body.text, body.language, cfg.long_sentence_words, cfg.long_sentence_chars)]

    @api.post("/api/readability")
    def measure(body: TextIn) -> dict:
        writer._check_text(body.text)
        return readability(body.text, body.language)

    @api.post("/api/suggestions/apply")
    def apply(body: ApplyIn) -> dict:
        """Assemble the text from the accepted suggestions; optionally save it as a new version."""
        if body.model is not None and split_label(body.model)[0] != writer.model_name:
            raise InvalidRequestError(f"model {body.model!r} is not this writer's ({writer.model_name})")
        text = apply_suggestions(body.original, body.suggestions, body.accepted)
        accepted = len(set(body.accepted))
        metrics.observe_feedback("accept", accepted, answered_by=body.model)
        metrics.observe_feedback("reject", len(body.suggestions) - accepted, answered_by=body.model)
        result: dict[str, Any] = {"text": text}
        if body.document_id is not None:
            n = len(body.accepted)
            result["document"] = store.save(
                body.document_id, text, f"accepted {n} of {len(body.suggestions)}"
            ).to_dict()
        return result

    @api.get("/api/documents")
    def documents() -> list[dict]:
        return store.list()

    @api.post("/api/documents")
    def create_document(body: DocumentIn) -> dict:
        return store.create(body.title, body.text, body.language, body.kind).to_dict()

    @api.post("/api/documents/upload")
    async def upload(file: UploadFile = File(...)) -> dict:
        """A TXT, MD or DOCX file as a new document."""
        from apps.writing_assistant.textutil import detect_language

        data = await file.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            raise HTTPException(413, f"{file.filename}: larger than {MAX_UPLOAD // 2**20} MB")
        text = read_document(data, file.filename or "upload.txt")
        return store.create(file.filename or "upload", text, detect_language(text), None, "uploaded").to_dict()

    @api.get("/api/documents/{doc_id}")
    def document(doc_id: RowId, request: Request) -> dict:
        audit.request(request, "read", "document", doc_id)
        return store.get(doc_id).to_dict()

    @api.post("/api/documents/{doc_id}/versions")
    def save_version(doc_id: RowId, body: VersionIn) -> dict:
        return store.save(doc_id, body.text, body.note).to_dict()

    @api.get("/api/documents/{doc_id}/versions")
    def versions(doc_id: RowId, request: Request) -> list[dict]:
        audit.request(request, "read", "document", doc_id, {"versions": True})
        return [v.to_dict() for v in store.versions(doc_id)]

    @api.post("/api/documents/{doc_id}/undo")
    def undo(doc_id: RowId) -> dict:
        return store.undo(doc_id).to_dict()

    @api.delete("/api/documents/{doc_id}")
    def delete(doc_id: RowId) -> dict:
        store.delete(doc_id)
        return {"deleted": doc_id}

    @api.post("/api/documents/{doc_id}/export")
    def export(doc_id: RowId, body: ExportIn, request: Request) -> Response:
        """md / txt of the current version; docx with the accepted suggestions as tracked changes."""
        audit.request(request, "export", "document", doc_id, {"format": body.format})
        doc = store.get(doc_id)
        if body.format not in FORMATS:
            raise HTTPException(400, f"format must be one of {', '.join(FORMATS)}")
        name = f"document-{doc_id}.{body.format}"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        if body.format == "docx":
            original = body.original if body.original is not None else doc.text
            suggestions = [Suggestion(**{k: s[k] for k in ("id", "offset", "length", "original", "replacement")})
                           for s in body.suggestions]  # fmt: skip
            apply_suggestions(original, suggestions, body.accepted)  # validates ids and offsets
            data = to_docx(original, suggestions, body.accepted, doc.title)
            mime = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            return Response(data, media_type=mime, headers=headers)
        text = (to_markdown if body.format == "md" else to_txt)(doc.text, doc.title)
        return Response(text, media_type="text/plain; charset=utf-8", headers=headers)

    return api


def _add_task_routes(api: FastAPI, name: str, model: type[BaseModel], run) -> None:
    """``POST /api/<name>`` (one JSON result) and ``POST /api/<name>/stream`` (server-sent events)."""

    def plain(body: BaseModel) -> dict:
        return _final(run(body))

    def stream(body: BaseModel) -> StreamingResponse:
        return _sse(run(body))

    # FastAPI reads the request model from the annotation; these routes share one body per task.
    plain.__annotations__ = {"body": model, "return": dict}
    stream.__annotations__ = {"body": model, "return": StreamingResponse}

    api.post(f"/api/{name}", name=name)(plain)
    api.post(f"/api/{name}/stream", name=f"{name}_stream")(stream)
