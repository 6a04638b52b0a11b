"""The metrics and request ids of ``llmeco serve`` (core/serving/metrics.py), in-process over the real llama.cpp
SmolLM2: generation metrics, errors by kind, queue gauges, a failed model load, and a request id that reaches the
worker thread's log lines."""

from __future__ import annotations

import io
import json
import logging

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from core.logs import configure_logging
from tests.conftest import free_port, settings_in

pytestmark = pytest.mark.slow
MODEL = "smollm2-135m-instruct"
# What the server exports once it has served: tests/docker/test_monitoring.py checks the alert rules and the
# dashboard use only names some service exports.
SERVER_SAMPLES = {
    "llmeco_requests_total",
    "llmeco_request_latency_seconds_bucket",
    "llmeco_request_errors_total",
    "llmeco_generated_tokens_total",
    "llmeco_prompt_tokens_total",
    "llmeco_generation_tokens_per_second_bucket",
    "llmeco_time_to_first_token_seconds_bucket",
    "llmeco_queue_depth",
    "llmeco_queue_capacity",
    "llmeco_model_load_failures_total",
}


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Exposition text as {(sample name, sorted labels): value}."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(scraped: dict, name: str, **labels) -> float:
    return scraped.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def client(tmp_path_factory, llamacpp_engine):
    from core.serving.app import create_app
    from core.serving.pool import ModelPool

    # Coqui TTS pointed at a port where nothing listens: loading it fails as when its server is down.
    settings = settings_in(
        tmp_path_factory.mktemp("metrics-home"), **{"apps.speech.coqui_url": f"http://127.0.0.1:{free_port()}"}
    )
    pool = ModelPool(settings, default_model=MODEL)
    pool.adopt(MODEL, engine=llamacpp_engine)
    with TestClient(create_app(settings, pool)) as c:
        yield c


@pytest.fixture
def log_lines():
    stream, level = io.StringIO(), logging.getLogger().level
    handler = configure_logging("json", logging.INFO, stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logging.getLogger().removeHandler(handler)
    logging.getLogger().setLevel(level)


def chat(client, stream: bool = False, **headers):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 4, "stream": stream}
    return client.post("/v1/chat/completions", json=body, headers=headers)


def test_generation_errors_queue_and_load_failures_are_exported(client):
    assert chat(client).status_code == 200
    streamed = chat(client, stream=True)
    assert streamed.status_code == 200 and "data: [DONE]" in streamed.text
    assert client.post("/v1/chat/completions", json={"model": "no-such-model", "messages": []}).status_code == 400
    missing = {"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}
    assert client.post("/v1/chat/completions", json=missing).status_code == 404
    speech = client.post("/v1/audio/speech", json={"model": "coqui", "input": "Hello"})
    assert speech.status_code == 404 and "Coqui" in speech.json()["error"]["message"]
    scraped = samples(client.get("/metrics").text)
    names = {name for name, _ in scraped}
    assert names >= SERVER_SAMPLES, SERVER_SAMPLES - names
    route = "/v1/chat/completions"
    assert value(scraped, "llmeco_requests_total", route=route, status="200") == 2
    assert value(scraped, "llmeco_request_latency_seconds_count", route=route) == 4
    errors = {"route": route, "status_class": "4xx"}
    assert value(scraped, "llmeco_request_errors_total", **errors, kind="invalid_request_error") == 1
    assert value(scraped, "llmeco_request_errors_total", **errors, kind="model_not_found") == 1
    assert value(scraped, "llmeco_generated_tokens_total", model=MODEL) >= 2
    assert value(scraped, "llmeco_time_to_first_token_seconds_count", model=MODEL) == 1
    assert value(scraped, "llmeco_generation_tokens_per_second_count", model=MODEL) == 2
    assert value(scraped, "llmeco_queue_depth", model=MODEL) == 0
    assert value(scraped, "llmeco_queue_capacity", model=MODEL) == client.app.state.pool.settings.server.max_queue
    failed = {"model": "tts:coqui", "kind": "ModelNotAvailableError"}
    assert value(scraped, "llmeco_model_load_failures_total", **failed) == 1
    # a wrong name is the client's mistake, not a load failure
    assert not [k for k in scraped if k[0] == "llmeco_model_load_failures_total" and "no-such-model" in str(k)]


def test_the_request_id_is_returned_and_follows_the_request_into_the_worker_thread(client, log_lines):
    r = chat(client, **{"X-Request-ID": "trace-abc-1"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "trace-abc-1"
    generated = client.get("/health").headers["x-request-id"]
    assert len(generated) == 32 and generated != "trace-abc-1"
    # too long a prompt fails inside the model's worker thread, which logs it
    huge = {"model": MODEL, "prompt": "word " * 10000, "max_tokens": 4}
    failed = client.post("/v1/completions", json=huge, headers={"X-Request-ID": "trace-abc-2"})
    assert failed.status_code == 400
    lines = log_lines()
    access = [x for x in lines if x["request_id"] == "trace-abc-1"]
    assert [x["logger"] for x in access] == ["core.serving.metrics"] and "200" in access[0]["message"]
    worker = [x for x in lines if x["request_id"] == "trace-abc-2" and x["logger"] == "core.serving.worker"]
    assert worker and "generation failed" in worker[0]["message"] and "exc" in worker[0]
