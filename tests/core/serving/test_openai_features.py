"""Structured output, tool calls, logprobs, penalties and n through the official ``openai`` client and
langchain-openai's ``ChatOpenAI`` against the real server (SmolLM2 on transformers): each works, or is refused
with a 400 that names the parameter; nothing is accepted and ignored."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from jsonschema import validate

from tests.core.conftest import REPEATING, repeats

pytestmark = pytest.mark.slow
MODEL = "smollm2-135m-instruct"
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"],
        },
    },
}
ASK_WEATHER = [{"role": "user", "content": "What's the weather in Paris, in celsius?"}]


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused")


def ask(client, **kw):
    return client.chat.completions.create(model=MODEL, **({"max_tokens": 40} | kw))


def test_json_mode_and_json_schema(client):
    messages = [{"role": "user", "content": "Describe a person as JSON."}]
    r = ask(
        client,
        messages=messages,
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}},
    )
    validate(json.loads(r.choices[0].message.content), PERSON)
    assert r.choices[0].finish_reason == "stop"
    r = ask(client, messages=messages, max_tokens=32, response_format={"type": "json_object"})
    if r.choices[0].finish_reason == "stop":  # an open object may run to the token limit; when it ends, it parses
        assert isinstance(json.loads(r.choices[0].message.content), dict)
    assert r.choices[0].message.content.startswith("{")
    r = ask(
        client, messages=[{"role": "user", "content": "Is the sky green?"}], extra_body={"guided_choice": ["yes", "no"]}
    )
    assert r.choices[0].message.content in ("yes", "no")
    r = ask(
        client, messages=[{"role": "user", "content": "Give an order number."}], extra_body={"guided_regex": r"A\d{5}"}
    )
    assert len(r.choices[0].message.content) == 6 and r.choices[0].message.content[0] == "A"


def check_call(name: str, arguments: str) -> dict:
    assert name == "get_weather"
    args = json.loads(arguments)
    validate(args, WEATHER["function"]["parameters"])
    return args


def test_tool_calls_plain_named_and_streamed(client):
    r = ask(client, messages=ASK_WEATHER, tools=[WEATHER], tool_choice="required", max_tokens=60)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.id
    assert check_call(call.function.name, call.function.arguments)["city"] == "Paris"

    named = {"type": "function", "function": {"name": "get_weather"}}
    r = ask(client, messages=ASK_WEATHER, tools=[WEATHER], tool_choice=named, max_tokens=60)
    check_call(r.choices[0].message.tool_calls[0].function.name, r.choices[0].message.tool_calls[0].function.arguments)

    stream = ask(client, messages=ASK_WEATHER, tools=[WEATHER], tool_choice="required", max_tokens=60, stream=True)
    name, arguments, finish = "", "", None
    for event in stream:
        for c in event.choices:
            for delta in c.delta.tool_calls or []:
                name += delta.function.name or ""
                arguments += delta.function.arguments or ""
            finish = c.finish_reason or finish
    assert finish == "tool_calls"
    assert check_call(name, arguments) == json.loads(call.function.arguments)

    # The call and its result go back into the history; with tool_choice none the model answers in text.
    history = [
        *ASK_WEATHER,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"temperature": 21, "sky": "sunny"}'},
    ]
    r = ask(client, messages=history, tools=[WEATHER], tool_choice="none", max_tokens=40)
    assert r.choices[0].finish_reason in ("stop", "length") and r.choices[0].message.content


def test_logprobs_chat_and_completions(client):
    r = ask(client, messages=[{"role": "user", "content": "Say hello."}], max_tokens=8, logprobs=True, top_logprobs=3)
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens
    assert "".join(t.token for t in content) == r.choices[0].message.content
    # the bytes add up too; a character that max_tokens cut short is in the bytes only
    assert b"".join(bytes(t.bytes) for t in content).decode(errors="ignore") == r.choices[0].message.content
    for t in content:
        assert t.logprob <= 0 and len(t.top_logprobs) == 3
        assert t.top_logprobs[0].logprob >= t.logprob - 1e-4  # greedy: the chosen token is the most likely
    c = client.completions.create(model=MODEL, prompt="The capital of France is", max_tokens=4, logprobs=2)
    lp = c.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == 4
    assert "".join(lp.tokens) == c.choices[0].text and all(len(t) == 2 for t in lp.top_logprobs)

    stream = ask(client, messages=[{"role": "user", "content": "Say hello."}], max_tokens=8, logprobs=True, stream=True)
    streamed = [t.token for e in stream for c in e.choices if c.logprobs for t in c.logprobs.content]
    assert streamed == [t.token for t in content]


def test_penalties_change_the_reply(client):
    def replies(**penalty) -> list[str]:
        asks = ({"messages": [{"role": "user", "content": q}], "max_tokens": 30} for q in REPEATING)
        return [ask(client, **a, **penalty).choices[0].message.content for a in asks]

    plain = replies()
    for penalty in ({"frequency_penalty": 2.0}, {"presence_penalty": 2.0}, {"extra_body": {"repetition_penalty": 1.5}}):
        penalised = replies(**penalty)
        assert penalised != plain, penalty
        if "presence_penalty" not in penalty:  # presence costs once per word: words may still repeat
            assert sum(map(repeats, penalised)) < sum(map(repeats, plain)), (penalty, plain, penalised)


def test_n_choices(client):
    r = ask(
        client,
        messages=[{"role": "user", "content": "Invent a name for a cat."}],
        max_tokens=8,
        n=3,
        temperature=1.0,
        seed=7,
    )
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert len({c.message.content for c in r.choices}) >= 2
    assert r.usage.completion_tokens >= 3


def test_refusals_name_the_parameter(client, server):
    cases = [
        ({"extra_body": {"best_of": 2}}, "best_of"),
        ({"extra_body": {"frobnicate": True}}, "frobnicate"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
        ({"n": 5}, "n"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"response_format": {"type": "json_object"}, "tools": [WEATHER]}, "response_format"),
    ]
    for kw, param in cases:
        with pytest.raises(openai.BadRequestError) as info:
            ask(client, messages=ASK_WEATHER, **kw)
        error = info.value.body
        assert error["param"] == param and error["type"] == "invalid_request_error" and error["message"], kw
    raw = httpx.post(
        f"{server.url}/v1/chat/completions", json={"model": MODEL, "messages": ASK_WEATHER, "functions": []}
    )
    assert raw.status_code == 400 and set(raw.json()["error"]) == {"message", "type", "param", "code"}


def test_model_route(client, server):
    assert client.models.retrieve(MODEL).id == MODEL
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("no-such-model")
    assert info.value.body["param"] == "model" and info.value.body["code"] == "model_not_found"
    missing = httpx.get(f"{server.url}/v1/nothing-here")
    assert missing.status_code == 404 and "message" in missing.json()["error"]


def test_langchain_chat_openai(server):
    from langchain_openai import ChatOpenAI
    from pydantic import BaseModel, Field

    class Person(BaseModel):
        name: str = Field(max_length=20)
        age: int

    llm = ChatOpenAI(model=MODEL, base_url=f"{server.url}/v1", api_key="unused", max_tokens=60, temperature=0)
    person = llm.with_structured_output(Person, method="json_schema").invoke("Describe a person.")
    assert isinstance(person, Person)
    person = llm.with_structured_output(Person, method="function_calling").invoke("Describe a person.")
    assert isinstance(person, Person)

    def get_weather(city: str, unit: str) -> str:
        """Current weather in a city (unit: celsius or fahrenheit)."""
        return "sunny"

    with_tools = llm.bind_tools([get_weather], tool_choice="required")
    reply = with_tools.invoke("What's the weather in Paris?")
    assert reply.tool_calls[0]["name"] == "get_weather" and set(reply.tool_calls[0]["args"]) == {"city", "unit"}
    chunks = list(with_tools.stream("What's the weather in Paris?"))
    merged = chunks[0]
    for c in chunks[1:]:
        merged += c
    assert merged.tool_calls[0]["args"] == reply.tool_calls[0]["args"]

    scored = ChatOpenAI(model=MODEL, base_url=f"{server.url}/v1", api_key="unused", max_tokens=6, logprobs=True)
    assert scored.invoke("Say hello.").response_metadata["logprobs"]["content"]
    with pytest.raises(openai.BadRequestError, match="logit_bias"):
        ChatOpenAI(model=MODEL, base_url=f"{server.url}/v1", api_key="unused", logit_bias={"1": 5}).invoke("hi")
