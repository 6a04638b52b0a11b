"""OpenAI-compatible HTTP server over ``core``'s engines.

Routes: GET /v1/models, GET /v1/models/{id}, POST /v1/chat/completions (``stream: true`` as server-sent events),
POST /v1/completions, POST /v1/embeddings, POST /v1/audio/transcriptions and /v1/audio/speech
(``core/serving/audio.py``), GET /health, GET /metrics. With API keys configured (``server.api_key``,
``api_keys`` / ``LLMECO_API_KEYS``), /v1 routes need one (``core/serving/guard.py``: keys, rate limits, body size).

Errors use OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``; a parameter the server or the
engine cannot honour is a 400 that names it, never a reply that quietly ignores it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from core.config import Settings
from core.errors import (
    EngineBusyError,
    InvalidRequestError,
    LLMEcoError,
    ModelLoadError,
    ModelNotAvailableError,
    UnknownModelError,
)
from core.serving.audio import audio_router
from core.serving.guard import Guard, collect_keys
from core.serving.health import ModelHealth, health_body
from core.serving.metrics import ServiceMetrics, instrument
from core.serving.pool import Lease, ModelPool
from core.serving.schemas import EXTENSIONS, ChatCompletionRequest, CompletionRequest, EmbeddingRequest
from core.text.base import Completion, GenerationParams, StreamChunk, TokenLogprob, ToolCall
from core.text.base import Request as GenRequest

log = logging.getLogger(__name__)

_STATUS = {
    UnknownModelError: (404, "model_not_found"),
    ModelNotAvailableError: (404, "model_not_available"),
    InvalidRequestError: (400, "invalid_request_error"),
    EngineBusyError: (503, "server_busy"),
    ModelLoadError: (503, "model_load_failed"),  # corrupt weights, a missing package: the others still serve
}


def _error_body(message: str, kind: str, param: str | None = None, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _error(status: int, message: str, kind: str, param: str | None = None, code: str | None = None) -> JSONResponse:
    return JSONResponse(_error_body(message, kind, param, code or kind), status_code=status)


def _chat_logprobs(items: list[TokenLogprob]) -> dict:
    def entry(token: str, logprob: float, raw: bytes = b"") -> dict:
        return {"token": token, "logprob": logprob, "bytes": list(raw or token.encode())}

    return {"content": [entry(t.token, t.logprob, t.raw) | {"top_logprobs": [entry(*a) for a in t.top]} for t in items]}


def _completion_logprobs(items: list[TokenLogprob], offset: int = 0) -> dict:
    offsets = []
    for t in items:
        offsets.append(offset)
        offset += len(t.token)
    return {
        "tokens": [t.token for t in items],
        "token_logprobs": [t.logprob for t in items],
        "top_logprobs": [dict(t.top) for t in items],
        "text_offset": offsets,
    }


def _tool_calls(calls: list[ToolCall]) -> list[dict]:
    return [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls]


def _status_of(exc: Exception) -> tuple[int, str]:
    for cls, status in _STATUS.items():
        if isinstance(exc, cls):
            return status
    return (500, "server_error")


_GUARD_KINDS = {
    400: "invalid_request_error",
    401: "invalid_api_key",
    413: "invalid_request_error",
    429: "rate_limit_exceeded",
}


def create_app(settings: Settings, pool: ModelPool | None = None) -> FastAPI:
    pool = pool or ModelPool(settings)
    metrics = ServiceMetrics()
    metrics.watch_pool(pool)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        pool.close()

    app = FastAPI(title="llm-ecosystem OpenAI-compatible server", version="0.1.0", lifespan=lifespan)
    app.state.pool = pool
    speech = ModelHealth()  # the audio routes' models
    app.add_middleware(
        Guard,
        keys=collect_keys(settings.api_keys, settings.server.api_key),
        protected=("/v1",),
        max_body_bytes=int(settings.server.max_body_mb * 2**20),
        rate_per_minute=settings.server.rate_limit_per_minute,
        error=lambda status, message, code: _error_body(message, _GUARD_KINDS[status], None, code),
        limit_name="server.max_body_mb",
    )
    instrument(app, metrics)  # outermost: refusals by the guard are counted too
    max_tokens_limit = settings.server.max_tokens_limit
    default_max = min(settings.text.max_new_tokens, max_tokens_limit)

    def params_of(body: ChatCompletionRequest | CompletionRequest) -> GenerationParams:
        if body.max_tokens is not None and body.max_tokens > max_tokens_limit:
            raise InvalidRequestError(
                f"max_tokens {body.max_tokens} is above this server's limit of {max_tokens_limit} "
                "(server.max_tokens_limit)",
                "max_tokens",
            )
        return body.params(default_max)

    @app.exception_handler(LLMEcoError)
    async def _known(_: Request, exc: LLMEcoError) -> JSONResponse:
        status, kind = _status_of(exc)
        param = getattr(exc, "param", None)
        if isinstance(exc, UnknownModelError | ModelNotAvailableError):
            param = "model"
        response = _error(status, str(exc), kind, param, kind if status != 400 else "invalid_value")
        if isinstance(exc, EngineBusyError):  # a full queue clears; a model that failed to load does not
            response.headers["Retry-After"] = "1"
        if isinstance(exc, ModelLoadError):  # recorded for /health where it was loaded (the pool, the audio routes)
            log.warning("model failed to load: %s", exc)
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        params = [".".join(str(x) for x in e["loc"][1:]) for e in errors]
        unknown = [p for p, e in zip(params, errors, strict=True) if e["type"] == "extra_forbidden"]
        if unknown:
            message = (
                f"unsupported parameter(s): {', '.join(unknown)}. This server honours OpenAI's parameters it "
                f"documents plus the extensions {', '.join(EXTENSIONS)}; it refuses the rest rather than ignore them"
            )
            return _error(400, message, "invalid_request_error", unknown[0], "unsupported_parameter")
        problems = "; ".join(f"{p or 'body'}: {e['msg']}" for p, e in zip(params, errors, strict=True))
        return _error(400, f"invalid request: {problems}", "invalid_request_error", params[0] or None, "invalid_value")

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        kind = "not_found" if exc.status_code == 404 else "invalid_request_error"
        return _error(exc.status_code, str(exc.detail), kind)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled server error")
        return _error(500, f"internal error: {type(exc).__name__}", "server_error")

    @app.get("/health")
    async def health() -> dict:
        """Degraded (still 200: it serves its other models) while a model that failed to load has not loaded since;
        speech models count once they load (``speech``), text models while the pool holds them."""
        audio = speech.health()
        failures = {**pool.health.failures(), **audio["failed"]}
        return health_body(failures, [*pool.loaded(), *audio["loaded"]], default_model=pool.default_model)

    def model_card(name: str, task: str) -> dict:
        return {"id": name, "object": "model", "created": 0, "owned_by": "llmeco", "task": task}

    @app.get("/v1/models")
    async def list_models() -> dict:
        return {"object": "list", "data": [model_card(name, task) for name, task in pool.servable()]}

    @app.get("/v1/models/{model_id:path}")
    async def get_model(model_id: str):
        task = dict(pool.servable()).get(model_id)
        if task is None:
            return _error(
                404, f"the model {model_id!r} does not exist here", "invalid_request_error", "model", "model_not_found"
            )
        return model_card(model_id, task)

    def account(model: str, result: Completion, started: float) -> None:
        elapsed = time.perf_counter() - started
        metrics.observe_generation(model, result.prompt_tokens, result.completion_tokens, elapsed)

    def usage(prompt_tokens: int, completion_tokens: int) -> dict:
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }

    async def acquire(model: str, user: str | None) -> Lease:
        """Hold the worker (the routed version, for a registered name) that answers this request."""
        lease = await run_in_threadpool(pool.acquire, model, None, user)
        metrics.observe_version(lease.model)  # the canary split; tokens and first-token times are per "name@v3" too
        return lease

    def headers(lease: Lease) -> dict[str, str]:
        return {"X-Model-Version": lease.model} if lease.version is not None else {}

    def respond(lease: Lease, body: dict) -> JSONResponse:
        return JSONResponse(body, headers=headers(lease))

    def streaming(lease: Lease, events: Iterator[str]) -> StreamingResponse:
        """The stream holds its version until its last event; the background task releases it should the client
        leave before the stream started (release is idempotent)."""
        return StreamingResponse(
            events, media_type="text/event-stream", headers=headers(lease), background=BackgroundTask(lease.release)
        )

    def sse(lease: Lease, gens: list[GenRequest], payloads, base: dict, include_usage: bool) -> Iterator[str]:
        """Server-sent events in the OpenAI chunk format, the ``n`` choices one after another;
        ``payloads(index, chunk)`` gives the events' choices. Errors arrive as an ``error`` event."""
        start, first, model = time.perf_counter(), True, lease.model
        prompt_tokens = completion_tokens = 0
        try:
            for index, gen in enumerate(gens):
                for chunk in lease.worker.submit_stream(gen):
                    if first and chunk.text:
                        metrics.first_token.labels(model).observe(time.perf_counter() - start)
                        first = False
                    for choice in payloads(index, chunk):
                        yield f"data: {json.dumps(base | {'choices': [choice]})}\n\n"
                    if chunk.finish_reason:
                        done = Completion("", chunk.finish_reason, chunk.prompt_tokens, chunk.completion_tokens)
                        account(model, done, start)
                        prompt_tokens = chunk.prompt_tokens
                        completion_tokens += chunk.completion_tokens
            if include_usage:
                totals = usage(prompt_tokens, completion_tokens)
                yield f"data: {json.dumps(base | {'choices': [], 'usage': totals})}\n\n"
        except Exception as exc:
            status, kind = _status_of(exc)
            log.warning("stream failed: %s", exc)
            body = _error_body(str(exc), kind, getattr(exc, "param", None), kind)
            yield f"data: {json.dumps(body)}\n\n"
        finally:
            lease.release()
        yield "data: [DONE]\n\n"

    async def run_all(lease: Lease, gens: list[GenRequest]) -> list[Completion]:
        try:
            return await asyncio.gather(*(asyncio.wrap_future(lease.worker.submit(g)) for g in gens))
        finally:
            lease.release()

    def choices_of(make, n: int, seed: int | None) -> list[GenRequest]:
        """``n`` requests for the ``n`` choices; with a seed, choice i samples with seed + i."""
        return [make(None if seed is None else seed + i) for i in range(n)]

    def total_usage(results: list[Completion]) -> dict:
        return usage(results[0].prompt_tokens, sum(r.completion_tokens for r in results))

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest):
        model = body.model or pool.default_model
        params = params_of(body)
        tools = [t.model_dump() for t in body.tools or []]
        choice = body.tool_choice_value()
        messages = [m.to_chat() for m in body.messages]
        gens = choices_of(
            lambda seed: GenRequest(messages=messages, params=params.with_(seed=seed), tools=tools, tool_choice=choice),
            body.n,
            params.seed,
        )
        lease = await acquire(model, body.user)
        rid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        base = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": lease.model}

        def calls_of(result: Completion | StreamChunk) -> list[ToolCall]:
            return result.tool_calls if body.parallel_tool_calls else result.tool_calls[:1]

        if body.stream:
            role_sent: set[int] = set()

            def payloads(index: int, chunk: StreamChunk) -> list[dict]:
                def event(delta: dict, finish: str | None = None, logprobs: dict | None = None) -> dict:
                    if index not in role_sent:  # the first event of a choice names the role
                        role_sent.add(index)
                        delta = {"role": "assistant", **delta}
                    return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}

                out = []
                if chunk.text or (body.logprobs and chunk.logprobs):
                    logprobs = _chat_logprobs(chunk.logprobs) if body.logprobs else None
                    out.append(event({"content": chunk.text}, logprobs=logprobs))
                for i, call in enumerate(_tool_calls(calls_of(chunk))):
                    opening = call | {"function": {"name": call["function"]["name"], "arguments": ""}}
                    out.append(event({"tool_calls": [{"index": i} | opening]}))
                    arguments = {"index": i, "function": {"arguments": call["function"]["arguments"]}}
                    out.append(event({"tool_calls": [arguments]}))
                if chunk.finish_reason:
                    out.append(event({}, chunk.finish_reason))
                return out

            include = bool(body.stream_options and body.stream_options.include_usage)
            return streaming(lease, sse(lease, gens, payloads, base, include))
        started = time.perf_counter()
        results = await run_all(lease, gens)
        choices = []
        for i, result in enumerate(results):
            account(lease.model, result, started)
            message: dict = {"role": "assistant", "content": result.text}
            if calls := calls_of(result):
                message = {"role": "assistant", "content": None, "tool_calls": _tool_calls(calls)}
            logprobs = _chat_logprobs(result.logprobs) if body.logprobs else None
            choices.append(
                {"index": i, "message": message, "logprobs": logprobs, "finish_reason": result.finish_reason}
            )
        return respond(lease, base | {"object": "chat.completion", "choices": choices, "usage": total_usage(results)})

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest):
        model = body.model or pool.default_model
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        if not prompts:
            raise InvalidRequestError("prompt must not be empty", "prompt")
        params = params_of(body)
        if body.stream and len(prompts) > 1:
            raise InvalidRequestError("streaming takes a single prompt", "prompt")
        lease = await acquire(model, body.user)
        rid, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())
        base = {"id": rid, "object": "text_completion", "created": created, "model": lease.model}

        def choice(index: int, text: str, finish: str | None, logprobs: list[TokenLogprob], offset: int = 0) -> dict:
            lp = _completion_logprobs(logprobs, offset) if body.logprobs is not None else None
            return {"index": index, "text": text, "logprobs": lp, "finish_reason": finish}

        if body.stream:
            gens = choices_of(
                lambda seed: GenRequest(prompt=prompts[0], params=params.with_(seed=seed)), body.n, params.seed
            )
            offsets = [0] * body.n

            def payloads(index: int, chunk: StreamChunk) -> list[dict]:
                if not (chunk.text or chunk.finish_reason or chunk.logprobs):
                    return []
                out = choice(index, chunk.text, chunk.finish_reason, chunk.logprobs, offsets[index])
                offsets[index] += sum(len(t.token) for t in chunk.logprobs)
                return [out]

            include = bool(body.stream_options and body.stream_options.include_usage)
            return streaming(lease, sse(lease, gens, payloads, base, include))
        # Several prompts (and choices) are queued together, so the worker can batch them into one generate call.
        gens = [
            g
            for p in prompts
            for g in choices_of(
                lambda seed, p=p: GenRequest(prompt=p, params=params.with_(seed=seed)), body.n, params.seed
            )
        ]
        started = time.perf_counter()
        results = await run_all(lease, gens)
        for r in results:
            account(lease.model, r, started)
        choices = [choice(i, r.text, r.finish_reason, r.logprobs) for i, r in enumerate(results)]
        total = usage(sum(r.prompt_tokens for r in results), sum(r.completion_tokens for r in results))
        return respond(lease, base | {"choices": choices, "usage": total})

    @app.post("/v1/embeddings")
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

    app.include_router(audio_router(settings, metrics, speech))
    return app
