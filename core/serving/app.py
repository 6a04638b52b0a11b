"""OpenAI-compatible HTTP server over ``core``'s engines.

Routes: GET /v1/models, POST /v1/chat/completions (``stream: true`` as server-sent events), POST /v1/completions,
POST /v1/embeddings, POST /v1/audio/transcriptions and /v1/audio/speech (``core/serving/audio.py``), GET /health,
GET /metrics. With ``server.api_key`` set, /v1 routes need a Bearer token.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from core.config import Settings
from core.errors import (
    EngineBusyError,
    InvalidRequestError,
    LLMEcoError,
    ModelNotAvailableError,
    UnknownModelError,
)
from core.serving.audio import ROUTES as AUDIO_ROUTES
from core.serving.audio import audio_router
from core.serving.metrics import ServerMetrics
from core.serving.pool import ModelPool
from core.serving.schemas import ChatCompletionRequest, CompletionRequest, EmbeddingRequest
from core.text.base import Completion
from core.text.base import Request as GenRequest

log = logging.getLogger(__name__)

_STATUS = {
    UnknownModelError: (404, "model_not_found"),
    ModelNotAvailableError: (404, "model_not_available"),
    InvalidRequestError: (400, "invalid_request_error"),
    EngineBusyError: (503, "server_busy"),
}


def _error(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status_code=status)


def _status_of(exc: Exception) -> tuple[int, str]:
    for cls, status in _STATUS.items():
        if isinstance(exc, cls):
            return status
    return (500, "server_error")


class _Timing:
    """ASGI middleware: request counts and latency until the last body byte (so streams count whole)."""

    def __init__(self, app, metrics: ServerMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [500]
        route = scope["path"] if scope["path"] in _ROUTES else "other"

        async def timed_send(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                self.metrics.latency.labels(route).observe(time.perf_counter() - start)
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            self.metrics.requests.labels(route, str(status[0])).inc()


_ROUTES = {"/v1/models", "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/health", "/metrics"}
_ROUTES |= AUDIO_ROUTES


def create_app(settings: Settings, pool: ModelPool | None = None) -> FastAPI:
    pool = pool or ModelPool(settings)
    metrics = ServerMetrics()

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        pool.close()

    app = FastAPI(title="llm-ecosystem OpenAI-compatible server", version="0.1.0", lifespan=lifespan)
    app.state.pool = pool
    app.add_middleware(_Timing, metrics=metrics)
    default_max = settings.text.max_new_tokens

    async def require_key(request: Request) -> None:
        key = settings.server.api_key
        if not key:
            return
        given = request.headers.get("authorization", "")
        if not secrets.compare_digest(given.encode(), f"Bearer {key}".encode()):
            raise _AuthError()

    @app.exception_handler(_AuthError)
    async def _auth(_: Request, __: _AuthError) -> JSONResponse:
        return _error(401, "missing or wrong API key (send 'Authorization: Bearer <key>')", "invalid_api_key")

    @app.exception_handler(LLMEcoError)
    async def _known(_: Request, exc: LLMEcoError) -> JSONResponse:
        status, kind = _status_of(exc)
        return _error(status, str(exc), kind)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(x) for x in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors())
        return _error(400, f"invalid request: {problems}", "invalid_request_error")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled server error")
        return _error(500, f"internal error: {type(exc).__name__}", "server_error")

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "default_model": pool.default_model, "loaded": pool.loaded()}

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models", dependencies=[Depends(require_key)])
    async def list_models() -> dict:
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": "llmeco", "task": task}
                for name, task in pool.servable()
            ],
        }

    def account(model: str, result: Completion) -> None:
        metrics.tokens.labels(model).inc(result.completion_tokens)
        metrics.prompt_tokens.labels(model).inc(result.prompt_tokens)

    def usage(result: Completion) -> dict:
        return {
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "total_tokens": result.prompt_tokens + result.completion_tokens,
        }

    def sse(model: str, worker, gen: GenRequest, shape, include_usage: bool) -> Iterator[str]:
        """Server-sent events in the OpenAI chunk format; errors arrive as an ``error`` event."""
        start, first = time.perf_counter(), True
        try:
            for chunk in worker.submit_stream(gen):
                if first and chunk.text:
                    metrics.first_token.labels(model).observe(time.perf_counter() - start)
                    first = False
                if chunk.text or chunk.finish_reason:
                    yield f"data: {json.dumps(shape(chunk.text, chunk.finish_reason))}\n\n"
                if chunk.finish_reason:
                    done = Completion("", chunk.finish_reason, chunk.prompt_tokens, chunk.completion_tokens)
                    account(model, done)
                    if include_usage:
                        yield f"data: {json.dumps(shape(None, None) | {'choices': [], 'usage': usage(done)})}\n\n"
        except Exception as exc:
            status, kind = _status_of(exc)
            log.warning("stream failed: %s", exc)
            yield f"data: {json.dumps({'error': {'message': str(exc), 'type': kind, 'code': status}})}\n\n"
        yield "data: [DONE]\n\n"

    async def run_one(worker, gen: GenRequest) -> Completion:
        return await asyncio.wrap_future(worker.submit(gen))

    @app.post("/v1/chat/completions", dependencies=[Depends(require_key)])
    async def chat_completions(body: ChatCompletionRequest):
        model = body.model or pool.default_model
        worker = await run_in_threadpool(pool.worker, model)
        gen = GenRequest(messages=[m.to_chat() for m in body.messages], params=body.params(default_max))
        rid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if body.stream:
            sent_role = [False]

            def shape(text: str | None, finish: str | None) -> dict:
                delta = {} if text is None else {"content": text}
                if not sent_role[0] and text is not None:
                    delta["role"], sent_role[0] = "assistant", True
                return {
                    "id": rid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }

            include = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(sse(model, worker, gen, shape, include), media_type="text/event-stream")
        result = await run_one(worker, gen)
        account(model, result)
        return {
            "id": rid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": result.text},
                    "finish_reason": result.finish_reason,
                }
            ],
            "usage": usage(result),
        }

    @app.post("/v1/completions", dependencies=[Depends(require_key)])
    async def completions(body: CompletionRequest):
        model = body.model or pool.default_model
        worker = await run_in_threadpool(pool.worker, model)
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        if not prompts:
            raise InvalidRequestError("prompt must not be empty")
        params = body.params(default_max)
        rid, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())

        def shape(text: str | None, finish: str | None, index: int = 0) -> dict:
            return {
                "id": rid,
                "object": "text_completion",
                "created": created,
                "model": model,
                "choices": [{"index": index, "text": text or "", "finish_reason": finish}],
            }

        if body.stream:
            if len(prompts) > 1:
                raise InvalidRequestError("streaming takes a single prompt")
            gen = GenRequest(prompt=prompts[0], params=params)
            include = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(sse(model, worker, gen, shape, include), media_type="text/event-stream")
        # Several prompts are queued together, so the worker can batch them into one generate call.
        results = await asyncio.gather(*(run_one(worker, GenRequest(prompt=p, params=params)) for p in prompts))
        for r in results:
            account(model, r)
        total = Completion("", "stop", sum(r.prompt_tokens for r in results), sum(r.completion_tokens for r in results))
        choices = [shape(r.text, r.finish_reason, i)["choices"][0] for i, r in enumerate(results)]
        return shape(None, None) | {"choices": choices, "usage": usage(total)}

    @app.post("/v1/embeddings", dependencies=[Depends(require_key)])
    async def embeddings(body: EmbeddingRequest):
        model = body.model or settings.embeddings.model
        embedder = await run_in_threadpool(pool.embedder, model)
        texts = [body.input] if isinstance(body.input, str) else body.input
        vectors = await run_in_threadpool(embedder.embed, texts)
        data = []
        for i, v in enumerate(vectors):
            value = base64.b64encode(v.tobytes()).decode() if body.encoding_format == "base64" else v.tolist()
            data.append({"object": "embedding", "index": i, "embedding": value})
        n_tokens = sum(len(t.split()) for t in texts)  # whitespace words: an estimate, as usage is advisory
        return {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": n_tokens, "total_tokens": n_tokens},
        }

    app.include_router(audio_router(settings), dependencies=[Depends(require_key)])
    return app


class _AuthError(Exception):
    pass
