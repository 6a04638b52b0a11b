"""Every text engine behaves the same on the real SmolLM2: answers, streams, stops at end-of-turn and at stop
sequences, honours seeds and batches. The remote engine talks to our own server over HTTP."""

from __future__ import annotations

import json

import pytest

from core.text import GenerationParams, Request
from tests.core.conftest import REPEATING, repeats

pytestmark = pytest.mark.slow

CAPITAL = [{"role": "user", "content": "What is the capital of Germany?"}]


@pytest.fixture(scope="module", params=["llamacpp", "transformers", "remote"])
def engine(request, settings):
    if request.param == "remote":
        from core.text.remote_engine import RemoteEngine

        server = request.getfixturevalue("server")
        return RemoteEngine("smollm2-135m-instruct", f"{server.url}/v1")
    return request.getfixturevalue(f"{request.param}_engine")


def test_answers_a_factual_question(engine):
    out = engine.chat(CAPITAL, GenerationParams(max_new_tokens=48))
    assert "Berlin" in out.text
    assert out.prompt_tokens > 5 and out.completion_tokens > 0


def test_streams_in_several_chunks_that_add_up(engine):
    params = GenerationParams(max_new_tokens=40)
    chunks = list(engine.stream(Request(messages=CAPITAL, params=params)))
    texts = [c.text for c in chunks if c.text]
    assert len(texts) > 3
    assert chunks[-1].finish_reason in ("stop", "length")
    assert "".join(texts) == engine.chat(CAPITAL, params).text


def test_stops_at_end_of_turn(engine):
    """A short answer ends with finish_reason=stop well before the token limit, with no template tokens."""
    msgs = [{"role": "user", "content": "Reply with just the word: hello"}]
    out = engine.chat(msgs, GenerationParams(max_new_tokens=200))
    assert out.finish_reason == "stop"
    assert out.completion_tokens < 200
    for marker in ("<|im_end|>", "<|im_start|>", "user\n"):
        assert marker not in out.text


def test_max_tokens_gives_length(engine):
    out = engine.chat(
        [{"role": "user", "content": "Write a long story about a dragon."}],
        GenerationParams(max_new_tokens=8),
    )
    assert out.finish_reason == "length"
    assert out.completion_tokens == 8


def test_stop_sequence_cuts_output(engine):
    full = engine.chat(CAPITAL, GenerationParams(max_new_tokens=48)).text
    cut = engine.chat(CAPITAL, GenerationParams(max_new_tokens=48, stop=("Berlin",))).text
    assert "Berlin" not in cut
    assert full.startswith(cut)
    assert cut == full[: full.index("Berlin")]


def test_sampling_follows_the_seed_and_temperature_zero_is_greedy(engine):
    msgs = [{"role": "user", "content": "Invent a name for a cat."}]

    def sample(seed: int, temperature: float = 1.0) -> str:
        return engine.chat(msgs, GenerationParams(max_new_tokens=16, temperature=temperature, seed=seed)).text

    assert sample(1234) == sample(1234)
    assert len({sample(seed) for seed in (1, 2, 3, 4)}) >= 3  # sampling is not ignored
    assert sample(5, temperature=0.0) == engine.chat(msgs, GenerationParams(max_new_tokens=16)).text


def test_raw_completion(engine):
    out = engine.complete("The capital of France is", GenerationParams(max_new_tokens=8))
    assert "Paris" in out.text


BATCH = [
    [{"role": "user", "content": "What is the capital of Germany?"}],
    [{"role": "user", "content": "Name a colour of the sky."}],
    [{"role": "user", "content": "What is 2 plus 2?"}],
]


def test_generate_batch_answers_each_request(engine):
    params = GenerationParams(max_new_tokens=24)
    batch = engine.generate_batch([Request(messages=m, params=params) for m in BATCH])
    assert [b.text for b in batch] == [engine.chat(m, params).text for m in BATCH]
    assert "Berlin" in batch[0].text


def test_padded_batch_equals_single_requests(settings):
    """The real batched path (left padding, one generate call) on the unquantised model is exact."""
    from core.config import load_settings
    from core.text import load_text_engine

    fp32 = load_text_engine("smollm2-135m-instruct", load_settings(None, ["text.quantize=none"]), "transformers")
    params = GenerationParams(max_new_tokens=24)
    lengths = {len(fp32._encode(Request(messages=m))) for m in BATCH}
    assert len(lengths) > 1  # the batch really needs padding
    batch = fp32.generate_batch([Request(messages=m, params=params) for m in BATCH])
    singles = [fp32.chat(m, params) for m in BATCH]
    assert [(b.text, b.finish_reason, b.completion_tokens) for b in batch] == [
        (s.text, s.finish_reason, s.completion_tokens) for s in singles
    ]


def test_ignore_eos_produces_exactly_max_tokens(engine):
    out = engine.chat([{"role": "user", "content": "Say hi."}], GenerationParams(max_new_tokens=40, ignore_eos=True))
    assert out.completion_tokens == 40
    assert out.finish_reason == "length"


PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 20}, "born": {"type": "string", "pattern": "^\\d{4}$"}},
    "required": ["name", "born"],
    "additionalProperties": False,
}


def test_constrained_replies_match(engine):
    """JSON Schema (with a \\d pattern), regex and choice constraints hold on every engine."""
    from core.text.constraints import Constraint

    ask = [{"role": "user", "content": "Name a famous scientist and the year they were born, as JSON."}]
    for constraint in (
        Constraint.json_schema(PERSON),
        Constraint.regex(r"[A-Z]{2}\d{4}"),
        Constraint.choice(["yes", "no"]),
    ):
        out = engine.chat(ask, GenerationParams(max_new_tokens=40, constraint=constraint))
        assert constraint.accepts(out.text), (constraint.kind, out.text)
        assert out.finish_reason == "stop"


def test_logprobs_and_penalties(engine):
    out = engine.chat(CAPITAL, GenerationParams(max_new_tokens=6, logprobs=True, top_logprobs=2))
    assert len(out.logprobs) == out.completion_tokens
    assert all(t.logprob <= 0 and len(t.top) == 2 and t.top[0][1] >= t.logprob - 1e-4 for t in out.logprobs)
    replies = [
        [engine.chat([{"role": "user", "content": q}], GenerationParams(max_new_tokens=30, **penalty)).text
         for q in REPEATING]
        for penalty in ({}, {"frequency_penalty": 2.0})
    ]  # fmt: skip
    plain, penalised = replies
    assert sum(map(repeats, penalised)) < sum(map(repeats, plain)), replies  # the penalty reaches the sampler


def test_logprob_tokens_add_up_where_a_character_spans_tokens(engine):
    """Chinese characters and emoji span several byte-level tokens: each token's text is what it completes and its
    bytes its own, so both add up to the reply (decoding a token alone gave "\ufffd")."""
    from core.text.constraints import Constraint

    reply = "你好👦"
    params = GenerationParams(max_new_tokens=16, logprobs=True, constraint=Constraint.choice([reply]))
    out = engine.chat(CAPITAL, params)
    assert out.text == reply and len(out.logprobs) > len(reply), out.logprobs  # split: more tokens than characters
    assert "".join(t.token for t in out.logprobs) == reply
    assert b"".join(t.raw for t in out.logprobs).decode() == reply


def test_required_tool_call_is_valid(engine):
    from jsonschema import validate

    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
    request = Request(
        messages=[{"role": "user", "content": "What's the weather in Paris?"}],
        params=GenerationParams(max_new_tokens=40),
        tools=[tool],
        tool_choice="required",
    )
    chunks = list(engine.stream(request))
    assert chunks[-1].finish_reason == "tool_calls" and not "".join(c.text for c in chunks)
    call = chunks[-1].tool_calls[0]
    assert call.name == "get_weather"
    validate(json.loads(call.arguments), tool["function"]["parameters"])
