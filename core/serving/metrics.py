"""Prometheus metrics for the server. One registry per app instance so tests and replicas don't collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("llmeco_requests_total", "HTTP requests", ["route", "status"], registry=self.registry)
        self.latency = Histogram(
            "llmeco_request_latency_seconds",
            "Request latency (streaming: until the last byte)",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.first_token = Histogram(
            "llmeco_time_to_first_token_seconds",
            "Time to first streamed token",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tokens = Counter(
            "llmeco_generated_tokens_total", "Completion tokens generated", ["model"], registry=self.registry
        )
        self.prompt_tokens = Counter(
            "llmeco_prompt_tokens_total", "Prompt tokens processed", ["model"], registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
