"""Any OpenAI-compatible server (vLLM, TGI, llama.cpp server, our own ``llmeco serve``): the way to scale
serving out to GPUs or replicas while apps keep the same interface. Every parameter is passed through (tools,
constraints, logprobs, penalties): the server honours it or refuses it, and its refusal reaches the caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from core.errors import InvalidRequestError, ModelLoadError
from core.text.base import GenerationParams, Request, StopScanner, StreamChunk, TextEngine, TokenLogprob, ToolCall


def _response_format(params: GenerationParams) -> tuple[dict[str, Any], dict[str, Any]]:
    """(OpenAI arguments, vLLM extensions in the body) for the request's constraint."""
    c = params.constraint
    if c is None:
        return {}, {}
    if c.kind == "json":
        return {"response_format": {"type": "json_object"}}, {}
    if c.kind == "json_schema":
        return {"response_format": {"type": "json_schema", "json_schema": {"name": "reply", "schema": c.schema}}}, {}
    if c.kind == "regex":
        return {}, {"guided_regex": c.value}
    return {}, {"guided_choice": list(c.choices)}


class RemoteEngine(TextEngine):
    engine_name = "remote"
    forwards_tools = True

    def __init__(self, model_name: str, base_url: str, api_key: str | None = None, timeout: float = 120.0):
        import openai

        self.model_name = model_name
        self._openai = openai
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key or "none", timeout=timeout, max_retries=1)
        try:
            available = [m.id for m in self.client.models.list().data]
        except openai.OpenAIError as exc:
            raise ModelLoadError(f"OpenAI-compatible server at {base_url} is not reachable: {exc}") from None
        if available and model_name not in available:
            raise ModelLoadError(
                f"server at {base_url} does not serve {model_name!r}; it serves: {', '.join(available)}"
            )

    def _arguments(self, request: Request) -> dict[str, Any]:
        p = request.params
        common: dict[str, Any] = {
            "model": self.model_name,
            "max_tokens": p.max_new_tokens,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        extra: dict[str, Any] = {}
        if p.seed is not None:
            common["seed"] = p.seed
        if p.stop:
            common["stop"] = list(p.stop)
        if p.presence_penalty:
            common["presence_penalty"] = p.presence_penalty
        if p.frequency_penalty:
            common["frequency_penalty"] = p.frequency_penalty
        if p.repetition_penalty != 1.0:  # vLLM and our server honour these extensions
            extra["repetition_penalty"] = p.repetition_penalty
        if p.ignore_eos:
            extra["ignore_eos"] = True
        if request.messages is not None:
            fmt, guided = _response_format(p)
            common |= fmt
            extra |= guided
            if p.logprobs:
                common |= {"logprobs": True, "top_logprobs": p.top_logprobs}
            if request.tools:
                common |= {"tools": list(request.tools), "tool_choice": request.tool_choice}
        else:
            if p.constraint is not None:
                raise InvalidRequestError("constraints apply to chat requests", p.constraint.param)
            if p.logprobs:
                common["logprobs"] = p.top_logprobs
        if extra:
            common["extra_body"] = extra
        return common

    def _stream(self, request: Request) -> Iterator[StreamChunk]:
        p = request.params
        chat = request.messages is not None
        try:
            if chat:
                events = self.client.chat.completions.create(
                    messages=list(request.messages), **self._arguments(request)
                )
            else:
                events = self.client.completions.create(prompt=request.prompt, **self._arguments(request))
            # Servers disagree on whether stop text is stripped; cutting again here is harmless.
            scanner = StopScanner(p.stop)
            finish, usage = "stop", None
            calls: dict[int, dict[str, str]] = {}
            for event in events:
                if request.cancel.is_set():
                    events.close()
                    break
                usage = event.usage or usage
                for choice in event.choices:
                    text = choice.delta.content if chat else choice.text
                    logprobs = _logprobs(choice.logprobs, chat)
                    piece = scanner.feed(text or "")
                    if piece or logprobs:
                        yield StreamChunk(piece, logprobs=logprobs)
                    for delta in (choice.delta.tool_calls or []) if chat else []:
                        call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                        call["id"] = delta.id or call["id"]
                        if delta.function:
                            call["name"] += delta.function.name or ""
                            call["arguments"] += delta.function.arguments or ""
                    finish = choice.finish_reason or finish
        except self._openai.BadRequestError as exc:  # the server refused a parameter: the caller's to fix
            body = exc.body if isinstance(exc.body, dict) else {}
            raise InvalidRequestError(
                f"remote server refused the request: {body.get('message', exc)}", body.get("param")
            ) from None
        except self._openai.OpenAIError as exc:
            raise ModelLoadError(f"remote generation failed: {exc}") from None
        tool_calls = [ToolCall(c["id"], c["name"], c["arguments"]) for _, c in sorted(calls.items())]
        yield StreamChunk(
            scanner.flush(),
            finish if finish in ("length", "tool_calls") else "stop",
            usage.prompt_tokens if usage else 0,
            usage.completion_tokens if usage else 0,
            tool_calls=tool_calls,
        )


def _logprobs(data: Any, chat: bool) -> list[TokenLogprob]:
    """OpenAI's logprobs objects (chat: ``content`` entries; completions: parallel lists) as ``TokenLogprob``."""
    if data is None:
        return []
    if chat:
        return [
            TokenLogprob(
                t.token, t.logprob, tuple((a.token, a.logprob) for a in t.top_logprobs or []), bytes(t.bytes or [])
            )
            for t in data.content or []
        ]
    tops = data.top_logprobs or [None] * len(data.tokens or [])
    return [
        TokenLogprob(tok, lp, tuple((top or {}).items()))
        for tok, lp, top in zip(data.tokens or [], data.token_logprobs or [], tops, strict=True)
    ]
