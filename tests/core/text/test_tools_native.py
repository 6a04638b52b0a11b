"""Qwen2.5's own tool format: tools rendered by its chat template, ``<tool_call>`` replies parsed in ``auto``,
and a tool result in the history answered in text (real Qwen2.5-Coder-0.5B on llama.cpp)."""

from __future__ import annotations

import json

import pytest

from core.models import registry
from core.text import GenerationParams, Request, load_text_engine

pytestmark = pytest.mark.slow
QWEN = "qwen2.5-coder-0.5b-instruct"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def qwen(settings):
    if not registry.status(registry.find(QWEN), settings).installed:
        pytest.skip(f"opt-in model not installed: `llmeco models install {QWEN}`")
    engine = load_text_engine(QWEN, settings, engine="llamacpp")
    yield engine
    engine.close()


def test_auto_uses_the_templates_tool_format(qwen):
    ask = [{"role": "user", "content": "What's the weather in Berlin?"}]
    assert "<tools>" in qwen.llm.detokenize(qwen._encode(Request(messages=ask, tools=[WEATHER]))).decode()
    out = qwen.stream(Request(messages=ask, params=GenerationParams(max_new_tokens=48), tools=[WEATHER]))
    final = list(out)[-1]
    assert final.finish_reason == "tool_calls"
    call = final.tool_calls[0]
    assert call.name == "get_weather" and json.loads(call.arguments)["city"] == "Berlin"

    history = [
        *ask,
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": '{"temperature_c": 18, "sky": "cloudy"}'},
    ]
    answer = list(qwen.stream(Request(messages=history, params=GenerationParams(max_new_tokens=40), tools=[WEATHER])))
    text = "".join(c.text for c in answer)
    assert answer[-1].finish_reason in ("stop", "length") and "18" in text
