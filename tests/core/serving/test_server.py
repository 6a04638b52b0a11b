"""The OpenAI-compatible server, driven by the official ``openai`` client over real HTTP."""

from __future__ import annotations

import concurrent.futures

import httpx
import numpy as np
import openai
import pytest

from core.config import load_settings
from core.serving.app import create_app
from core.serving.pool import ModelPool
from tests.conftest import ServerThread

pytestmark = pytest.mark.slow
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused")


def test_chat_non_streaming(client):
    r = client.chat.completions.create(model="smollm2-135m-instruct", messages=QUESTION, max_tokens=48)
    assert "Paris" in r.choices[0].message.content
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.completion_tokens > 0 and r.usage.total_tokens > r.usage.completion_tokens


def test_chat_streaming(client):
    stream = client.chat.completions.create(
        model="smollm2-135m-instruct",
        messages=QUESTION,
        max_tokens=48,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, finish, usage = [], None, None
    for event in stream:
        usage = event.usage or usage
        for choice in event.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert len([p for p in pieces if p]) > 3
    assert "Paris" in "".join(pieces)
    assert finish == "stop"
    assert usage.completion_tokens > 0


def test_completions(client):
    r = client.completions.create(model="smollm2-135m-instruct", prompt="The capital of France is", max_tokens=8)
    assert "Paris" in r.choices[0].text
    batch = client.completions.create(
        model="smollm2-135m-instruct", prompt=["The capital of France is", "Monday, Tuesday, Wednesday,"], max_tokens=6
    )
    assert [c.index for c in batch.choices] == [0, 1]
    assert "thursday" in batch.choices[1].text.lower()


def test_embeddings_are_384_dimensional_and_meaningful(client):
    r = client.embeddings.create(
        model="all-minilm-l6-v2",
        input=["How do I reset my password?", "I forgot my password", "Bananas are yellow"],
    )
    vecs = np.array([d.embedding for d in r.data])
    assert vecs.shape == (3, 384)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2] + 0.3
    single = client.embeddings.create(model="all-minilm-l6-v2", input="hello")
    assert len(single.data[0].embedding) == 384
    zh = client.embeddings.create(model="use-multilingual-v3", input=["你好", "您好", "运费多少钱？"])
    zh_vecs = np.array([d.embedding for d in zh.data])
    assert zh_vecs.shape == (3, 512) and zh_vecs[0] @ zh_vecs[1] > zh_vecs[0] @ zh_vecs[2]


def test_models_health_metrics(client, server):
    ids = {m.id for m in client.models.list().data}
    assert {"smollm2-135m-instruct", "all-minilm-l6-v2"} <= ids
    health = httpx.get(f"{server.url}/health").json()
    assert health["status"] == "ok"
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'llmeco_requests_total{route="/v1/chat/completions",status="200"}' in metrics
    assert "llmeco_request_latency_seconds_bucket" in metrics
    assert 'llmeco_generated_tokens_total{model="smollm2-135m-instruct"}' in metrics


def test_errors_are_clear_json(client, server):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model", messages=QUESTION)
    assert "Registered models" in info.value.body["message"]
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="smollm2-135m-instruct", messages=[])
    with pytest.raises(openai.BadRequestError, match="whisper-base"):
        client.chat.completions.create(model="whisper-base", messages=QUESTION)
    r = httpx.post(
        f"{server.url}/v1/chat/completions",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and "error" in r.json()


def test_concurrent_requests_are_queued_and_all_answered(server):
    def ask(i: int) -> str:
        c = openai.OpenAI(base_url=f"{server.url}/v1", api_key="x")
        if i % 2:
            stream = c.chat.completions.create(
                model="smollm2-135m-instruct", messages=QUESTION, max_tokens=24, stream=True
            )
            return "".join(e.choices[0].delta.content or "" for e in stream if e.choices)
        r = c.chat.completions.create(model="smollm2-135m-instruct", messages=QUESTION, max_tokens=24)
        return r.choices[0].message.content

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        answers = list(ex.map(ask, range(8)))
    assert all("Paris" in a for a in answers)
    assert httpx.get(f"{server.url}/health").json()["status"] == "ok"


def test_api_key_is_enforced_when_configured(transformers_engine):
    settings = load_settings(None, ["server.api_key=s3cret"])
    pool = ModelPool(settings, default_model="smollm2-135m-instruct")
    pool.adopt("smollm2-135m-instruct", engine=transformers_engine)
    with ServerThread(create_app(settings, pool)) as srv:
        bad = openai.OpenAI(base_url=f"{srv.url}/v1", api_key="wrong")
        with pytest.raises(openai.AuthenticationError):
            bad.models.list()
        good = openai.OpenAI(base_url=f"{srv.url}/v1", api_key="s3cret")
        r = good.chat.completions.create(model="smollm2-135m-instruct", messages=QUESTION, max_tokens=32)
        assert "Paris" in r.choices[0].message.content
        assert httpx.get(f"{srv.url}/health").status_code == 200  # probes stay open
