"""Tool (function) calling for engines that generate text locally, the same way for every engine.

The prompt: a model whose chat template knows tools (Qwen2.5: ``<tools>`` in the system turn, calls in
``<tool_call>`` tags) gets them through its own template; any other model gets a system note listing the functions
and asking for a bare JSON call. The reply: ``required`` or a named function constrains decoding to the JSON Schema
of the allowed calls, so the call always parses and its arguments match the function's schema; ``auto`` lets the
model choose and reads a call out of its text when there is one; ``none`` leaves the tools out of the prompt.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from core.errors import InvalidRequestError
from core.text.base import ChatMessage, Request, StreamChunk, TokenLogprob, ToolCall, ToolChoice
from core.text.constraints import Constraint

_CALL_TAG = "<tool_call>"
_CALL_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)


def check_tools(tools: Sequence[dict[str, Any]], choice: ToolChoice) -> None:
    """Reject malformed tools or a ``tool_choice`` that names no offered function."""
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if tool.get("type") != "function" or not isinstance(fn, dict) or not fn.get("name"):
            shape = "{'type': 'function', 'function': {'name': ...}}"
            raise InvalidRequestError(f"tools[{i}] must be {shape}", "tools")
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name not in {t["function"]["name"] for t in tools}:
            raise InvalidRequestError(f"tool_choice names {name!r}, which is not among the tools", "tool_choice")
    elif choice not in ("auto", "none", "required"):
        raise InvalidRequestError("tool_choice must be auto, none, required or a named function", "tool_choice")


def functions_allowed(tools: Sequence[dict[str, Any]], choice: ToolChoice) -> list[dict[str, Any]]:
    fns = [t["function"] for t in tools]
    if isinstance(choice, dict):
        return [f for f in fns if f["name"] == choice["function"]["name"]]
    return fns


def call_schema(functions: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """JSON Schema of one call to any of ``functions``: ``{"name": <const>, "arguments": <its parameters>}``."""
    variants = [
        {
            "type": "object",
            "properties": {
                "name": {"const": f["name"]},
                "arguments": f.get("parameters") or {"type": "object", "properties": {}},
            },
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for f in functions
    ]
    return variants[0] if len(variants) == 1 else {"anyOf": variants}


def tools_note(functions: Sequence[dict[str, Any]]) -> str:
    """The system note for models whose chat template has no tool format."""
    listed = "\n".join(
        json.dumps(
            {"name": f["name"], "description": f.get("description", ""), "parameters": f.get("parameters", {})},
            ensure_ascii=False,
        )
        for f in functions
    )
    return (
        f"You can call these functions:\n{listed}\n"
        'To call one, reply with only a JSON object: {"name": <function name>, "arguments": {<argument values>}}. '
        "Otherwise, answer normally."
    )


def plain_messages(messages: Sequence[ChatMessage], functions: Sequence[dict[str, Any]]) -> list[ChatMessage]:
    """The conversation for a template without tool support: calls written as the JSON the note asks for, results
    as user turns, the note appended to the system turn."""
    out: list[ChatMessage] = []
    for m in messages:
        if m["role"] == "tool":
            out.append({"role": "user", "content": f"Function result: {m['content']}"})
        elif m.get("tool_calls"):
            calls = [
                json.dumps({"name": c["function"]["name"], "arguments": _as_dict(c["function"]["arguments"])})
                for c in m["tool_calls"]
            ]
            out.append({"role": "assistant", "content": "\n".join(calls)})
        else:
            out.append({"role": m["role"], "content": m["content"]})
    if functions:
        note = tools_note(functions)
        if out[0]["role"] == "system":
            out[0] = {"role": "system", "content": f"{out[0]['content']}\n\n{note}"}
        else:
            out.insert(0, {"role": "system", "content": note})
    return out


def native_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """The conversation for a template with tool support: call arguments as objects (templates ``tojson`` them)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        m = dict(m)
        if m.get("tool_calls"):
            m["tool_calls"] = [
                {**c, "function": {**c["function"], "arguments": _as_dict(c["function"]["arguments"])}}
                for c in m["tool_calls"]
            ]
        out.append(m)
    return out


def _as_dict(arguments: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(arguments, dict):
        return arguments
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        raise InvalidRequestError("tool call arguments must be JSON text", "messages") from None
    return value if isinstance(value, dict) else {}


def parse_tool_calls(text: str, functions: Sequence[dict[str, Any]]) -> list[ToolCall]:
    """Calls in a reply: ``<tool_call>`` blocks (Qwen2.5's format) or the whole reply as one JSON call."""
    names = {f["name"] for f in functions}
    blocks = _CALL_BLOCK.findall(text) or [_FENCE.sub(r"\1", text.strip())]
    calls = []
    for block in blocks:
        try:
            obj = json.loads(block)
        except ValueError:
            continue
        if not isinstance(obj, dict) or obj.get("name") not in names:
            continue
        args = obj.get("arguments", obj.get("parameters", {}))
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError:
                continue
        if isinstance(args, dict):
            calls.append(ToolCall(f"call_{uuid.uuid4().hex[:24]}", obj["name"], json.dumps(args, ensure_ascii=False)))
    return calls


def _could_be_call(text: str) -> bool:
    s = text.lstrip()
    return not s or s[0] == "{" or s.startswith("```") or s.startswith(_CALL_TAG) or _CALL_TAG.startswith(s)


def stream_with_tools(generate: Callable[[Request], Iterator[StreamChunk]], request: Request) -> Iterator[StreamChunk]:
    """Run ``generate`` (an engine's ``_stream``) for a request that offers tools. Text that may be a call is
    held back; plain answers stream through as soon as they cannot be one. A call ends the stream with
    ``finish_reason="tool_calls"`` and no text."""
    if request.tool_choice == "none":
        yield from generate(replace(request, tools=()))
        return
    functions = functions_allowed(request.tools, request.tool_choice)
    forced = request.tool_choice != "auto"
    if forced:
        constraint = Constraint.json_schema(call_schema(functions))
        request = replace(request, params=request.params.with_(constraint=constraint))
    held, passing = "", False
    logprobs: list[TokenLogprob] = []
    for chunk in generate(request):
        if passing:
            yield chunk
            continue
        held += chunk.text
        logprobs += chunk.logprobs
        if chunk.finish_reason is None:
            if not forced and not _could_be_call(held):
                passing = True
                yield StreamChunk(held, logprobs=logprobs)
            continue
        calls = parse_tool_calls(held, functions)
        if calls:
            yield StreamChunk("", "tool_calls", chunk.prompt_tokens, chunk.completion_tokens, logprobs, calls)
        else:
            yield StreamChunk(held, chunk.finish_reason, chunk.prompt_tokens, chunk.completion_tokens, logprobs)
