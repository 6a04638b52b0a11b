"""The generation worker queues, batches and survives failing requests (real llama.cpp engine)."""

import concurrent.futures
import threading

import pytest

from core.errors import EngineBusyError, InvalidRequestError
from core.serving.worker import GenerationWorker
from core.text import GenerationParams, Request

pytestmark = pytest.mark.slow
Q = [{"role": "user", "content": "What is the capital of Germany?"}]


class Recording:
    """Wraps the real engine, recording how the worker groups requests."""

    def __init__(self, engine):
        self.engine, self.batches, self.model_name = engine, [], engine.model_name
        self.gate, self.entered = threading.Event(), threading.Event()

    def stream(self, request):
        self.gate.wait(30)
        self.batches.append(1)
        return self.engine.stream(request)

    def generate_batch(self, requests):
        self.entered.set()
        self.gate.wait(30)
        self.batches.append(len(requests))
        return self.engine.generate_batch(requests)

    def close(self):
        pass


def test_concurrent_non_streaming_requests_are_batched(llamacpp_engine):
    rec = Recording(llamacpp_engine)
    worker = GenerationWorker(rec, max_batch_size=8)
    params = GenerationParams(max_new_tokens=24)
    first = worker.submit(Request(messages=Q, params=params))  # holds the worker while the rest queue up
    assert rec.entered.wait(30)
    futures = [worker.submit(Request(messages=Q, params=params)) for _ in range(5)]
    rec.gate.set()
    answers = [f.result(120).text for f in [first, *futures]]
    worker.close()
    assert all("Berlin" in a for a in answers)
    assert rec.batches == [1, 5]


def test_a_failing_request_does_not_hurt_others(llamacpp_engine):
    worker = GenerationWorker(llamacpp_engine)
    huge = Request(prompt="word " * 10000, params=GenerationParams(max_new_tokens=4))
    ok = Request(messages=Q, params=GenerationParams(max_new_tokens=24))
    bad_f, ok_f = worker.submit(huge), worker.submit(ok)
    with pytest.raises(InvalidRequestError, match="at most"):
        bad_f.result(120)
    assert "Berlin" in ok_f.result(120).text
    with pytest.raises(InvalidRequestError):
        list(worker.submit_stream(Request(prompt="word " * 10000)))
    assert "Berlin" in "".join(c.text for c in worker.submit_stream(ok))
    worker.close(close_engine=False)


def test_full_queue_answers_busy(llamacpp_engine):
    rec = Recording(llamacpp_engine)
    worker = GenerationWorker(rec, max_queue=2)
    params = GenerationParams(max_new_tokens=4)
    futures = []
    with pytest.raises(EngineBusyError):
        for _ in range(10):
            futures.append(worker.submit(Request(messages=Q, params=params)))
    rec.gate.set()
    concurrent.futures.wait(futures, timeout=120)
    assert all(f.exception() is None for f in futures)
    worker.close()
