"""Prometheus metrics and request ids for every service (``llmeco serve`` and each app's API), under one naming
scheme: ``instrument(app)`` adds them to a FastAPI app with one call. One registry per app instance, so tests and
replicas in one process don't collide; Prometheus tells the services apart by their scrape job.

Names (``docker/monitoring/`` alerts and charts on them; the README lists them):
every service: ``llmeco_requests_total``, ``llmeco_request_latency_seconds``, ``llmeco_request_errors_total``;
generation: ``llmeco_queue_depth`` / ``llmeco_queue_capacity``, ``llmeco_generated_tokens_total``,
``llmeco_prompt_tokens_total``, ``llmeco_generation_tokens_per_second``, ``llmeco_time_to_first_token_seconds``;
speech: ``llmeco_asr_real_time_factor``, ``llmeco_tts_real_time_factor``; the bot: ``llmeco_bot_replies_total``,
``llmeco_bot_confidence``; feedback: ``llmeco_feedback_total``; ``llmeco_model_load_failures_total``; the canary split:
``llmeco_model_version_requests_total`` (feedback carries the same ``model`` / ``version`` labels)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from core.errors import InvalidRequestError, UnknownModelError
from core.logs import REQUEST_ID_HEADER, accept_request_id, request_context
from core.models.routing import split_label

if TYPE_CHECKING:
    from core.serving.pool import ModelPool

log = logging.getLogger(__name__)
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
RATIO_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
SPEED_BUCKETS = (1, 2, 5, 10, 20, 35, 50, 75, 100, 150, 250, 500)
Rating = Literal["up", "down", "accept", "reject"]
_ERROR_PEEK = 4096  # bytes of an error body read for its OpenAI-shaped "type"


class ServiceMetrics:
    """Every metric of the scheme, declared on one registry (a service exports samples for those it uses)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter("llmeco_requests_total", "HTTP requests", ["route", "status"], registry=r)
        self.latency = Histogram(
            "llmeco_request_latency_seconds",
            "Request latency (streaming: until the last byte)",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "llmeco_request_errors_total",
            "Error responses by status class (4xx, 5xx) and kind (the error type, or the exception's class)",
            ["route", "status_class", "kind"],
            registry=r,
        )
        self.first_token = Histogram(
            "llmeco_time_to_first_token_seconds",
            "Time to the first streamed token",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter("llmeco_generated_tokens_total", "Completion tokens generated", ["model"], registry=r)
        self.prompt_tokens = Counter("llmeco_prompt_tokens_total", "Prompt tokens processed", ["model"], registry=r)
        self.speed = Histogram(
            "llmeco_generation_tokens_per_second",
            "Completion tokens per second of a request's wall time (queueing included)",
            ["model"],
            buckets=SPEED_BUCKETS,
            registry=r,
        )
        self.asr_rtf = Histogram(
            "llmeco_asr_real_time_factor",
            "Transcription time / audio duration (below 1: faster than real time)",
            ["model"],
            buckets=RATIO_BUCKETS,
            registry=r,
        )
        self.tts_rtf = Histogram(
            "llmeco_tts_real_time_factor",
            "Synthesis time / duration of the speech produced",
            ["engine"],
            buckets=RATIO_BUCKETS,
            registry=r,
        )
        self.bot_replies = Counter(
            "llmeco_bot_replies_total",
            "Support-bot replies by action (answer, clarify, handoff)",
            ["action"],
            registry=r,
        )
        self.bot_confidence = Histogram(
            "llmeco_bot_confidence",
            "Intent confidence of the question a support-bot reply answered, by action",
            ["action"],
            buckets=CONFIDENCE_BUCKETS,
            registry=r,
        )
        self.feedback = Counter(
            "llmeco_feedback_total",
            "Feedback: thumbs up / down on bot replies, accepted / rejected writing suggestions; model and version "
            "of the registered name that wrote the rated text (empty when no registered version did)",
            ["rating", "model", "version"],
            registry=r,
        )
        self.version_requests = Counter(
            "llmeco_model_version_requests_total",
            "Requests answered by each version of a registered name (the canary / A-B split as it happened)",
            ["model", "version"],
            registry=r,
        )
        self.load_failures = Counter(
            "llmeco_model_load_failures_total",
            "Models that failed to load, by model and error class",
            ["model", "kind"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def observe_generation(self, model: str, prompt_tokens: int, completion_tokens: int, seconds: float) -> None:
        self.tokens.labels(model).inc(completion_tokens)
        self.prompt_tokens.labels(model).inc(prompt_tokens)
        if completion_tokens and seconds > 0:
            self.speed.labels(model).observe(completion_tokens / seconds)

    def observe_version(self, answered_by: str | None) -> None:
        """A request answered by ``answered_by``; counted when that is a registered name's version (``name@v3``)."""
        name, version = split_label(answered_by or "")
        if version is not None:
            self.version_requests.labels(name, str(version)).inc()

    def observe_reply(self, action: str, confidence: float, answered_by: str | None = None) -> None:
        """One support-bot reply (``Reply.action``, ``Reply.intent["confidence"]``, ``Reply.model``)."""
        self.bot_replies.labels(action).inc()
        self.bot_confidence.labels(action).observe(confidence)
        self.observe_version(answered_by)

    def observe_feedback(self, rating: Rating, count: int = 1, answered_by: str | None = None) -> None:
        """``count`` ratings of text written by ``answered_by`` (a version label ``name@v3`` splits into model and
        version, so a canary's candidate and the active version are compared on the same chart)."""
        if count > 0:
            name, version = split_label(answered_by or "")
            self.feedback.labels(rating, name, "" if version is None else str(version)).inc(count)

    def observe_rtf(self, kind: Literal["asr", "tts"], name: str, seconds: float, audio_seconds: float) -> None:
        if audio_seconds > 0:
            (self.asr_rtf if kind == "asr" else self.tts_rtf).labels(name).observe(seconds / audio_seconds)

    def load_failed(self, model: str, exc: BaseException) -> None:
        """A model failed to load; a wrong name (the client's mistake) is not counted."""
        if not isinstance(exc, UnknownModelError | InvalidRequestError):
            self.load_failures.labels(model, type(exc).__name__).inc()
            log.error("model %s failed to load: %s", model, exc)

    def watch_pool(self, pool: ModelPool) -> None:
        """Queue depth and capacity of the pool's models at each scrape, and its load failures."""
        self.registry.register(_QueueCollector(pool))
        pool.on_load_failure = self.load_failed


class _QueueCollector(Collector):
    def __init__(self, pool: ModelPool) -> None:
        self.pool = pool

    def collect(self) -> Iterable[GaugeMetricFamily]:
        depth = GaugeMetricFamily("llmeco_queue_depth", "Requests waiting for a model's worker", labels=["model"])
        capacity = GaugeMetricFamily(
            "llmeco_queue_capacity", "Requests a model's queue holds before 503 (server.max_queue)", labels=["model"]
        )
        for model, (waiting, size) in self.pool.queues().items():
            depth.add_metric([model], waiting)
            capacity.add_metric([model], size)
        yield depth
        yield capacity


def _route_of(scope: dict[str, Any]) -> str:
    """The matched route's template (``/api/documents/{doc_id}``), so ids don't explode the label values."""
    route = scope.get("route")
    return getattr(route, "path", None) or "other"


def _error_kind(status: int, body: bytes) -> str:
    """OpenAI-shaped ``{"error": {"type": ...}}`` bodies name their kind; otherwise the status's name."""
    try:
        error = json.loads(body).get("error")
        if isinstance(error, dict) and isinstance(error.get("type"), str):
            return error["type"]
    except (ValueError, AttributeError):
        pass
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "unknown"


class HTTPMetrics:
    """ASGI middleware: requests, latency until the last body byte (so streams count whole), errors by kind, and
    the request id (``X-Request-ID``: the caller's or a new one) in the response and in every log record."""

    def __init__(self, app, metrics: ServiceMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        request_id = accept_request_id(headers.get(REQUEST_ID_HEADER.lower().encode(), b"").decode("latin-1"))
        start, status, peek, done = time.perf_counter(), [500], bytearray(), [False]
        m = self.metrics

        def finish(kind: str | None = None) -> None:
            if done[0]:
                return
            done[0] = True
            route, code = _route_of(scope), status[0]
            m.latency.labels(route).observe(time.perf_counter() - start)
            m.requests.labels(route, str(code)).inc()
            if code >= 400:
                m.errors.labels(route, f"{code // 100}xx", kind or _error_kind(code, bytes(peek))).inc()
            log.info("%s %s %d %.1f ms", scope["method"], scope["path"], code, (time.perf_counter() - start) * 1000)

        async def tracked_send(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            elif message["type"] == "http.response.body":
                if status[0] >= 400 and len(peek) < _ERROR_PEEK:
                    peek.extend(message.get("body", b"")[: _ERROR_PEEK - len(peek)])
                if not message.get("more_body"):
                    finish()
            await send(message)

        with request_context(request_id):
            try:
                await self.app(scope, receive, tracked_send)
            except Exception as exc:
                status[0] = 500
                finish(type(exc).__name__)
                raise
            finally:
                finish()


def instrument(app: FastAPI, metrics: ServiceMetrics | None = None) -> ServiceMetrics:
    """Add the metrics and request-id middleware (outermost: call it after the app's other middleware, so the
    guard's refusals are counted too) and ``GET /metrics``. The metrics are also at ``app.state.metrics``."""
    metrics = metrics or ServiceMetrics()
    app.state.metrics = metrics
    app.add_middleware(HTTPMetrics, metrics=metrics)

    async def prometheus() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    app.add_api_route("/metrics", prometheus, methods=["GET"], include_in_schema=False)
    return metrics


def serve(app: FastAPI, host: str, port: int, log_format: str = "text", log_level: str = "info") -> None:
    """Run ``app`` with uvicorn, its logs (access lines included) going through ``core.logs``: request ids,
    redaction, ``log_format`` text or json."""
    import uvicorn

    from core.logs import configure_logging

    configure_logging("json" if log_format == "json" else "text", log_level.upper())
    uvicorn.run(app, host=host, port=port, log_config=None, log_level=log_level, access_log=False)
