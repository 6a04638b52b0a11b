"""Any OpenAI-compatible server (vLLM, TGI, llama.cpp server, our own ``llmeco serve``): the way to scale
serving out to GPUs or replicas while apps keep the same interface."""

from __future__ import annotations

from collections.abc import Iterator

from core.errors import ModelLoadError
from core.text.base import Request, StopScanner, StreamChunk, TextEngine


class RemoteEngine(TextEngine):
    engine_name = "remote"

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

    def stream(self, request: Request) -> Iterator[StreamChunk]:
        p = request.params
        common = {
            "model": self.model_name,
            "max_tokens": p.max_new_tokens,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if p.seed is not None:
            common["seed"] = p.seed
        if p.stop:
            common["stop"] = list(p.stop)
        if p.ignore_eos:  # vLLM and our server honour this extension
            common["extra_body"] = {"ignore_eos": True}
        try:
            if request.messages is not None:
                events = self.client.chat.completions.create(messages=list(request.messages), **common)
            else:
                events = self.client.completions.create(prompt=request.prompt, **common)
            # Servers disagree on whether stop text is stripped; cutting again here is harmless.
            scanner = StopScanner(p.stop)
            finish, usage = "stop", None
            for event in events:
                if request.cancel.is_set():
                    events.close()
                    break
                usage = event.usage or usage
                for choice in event.choices:
                    text = choice.delta.content if request.messages is not None else choice.text
                    piece = scanner.feed(text or "")
                    if piece:
                        yield StreamChunk(piece)
                    finish = choice.finish_reason or finish
        except self._openai.OpenAIError as exc:
            raise ModelLoadError(f"remote generation failed: {exc}") from None
        yield StreamChunk(
            scanner.flush(),
            "length" if finish == "length" else "stop",
            usage.prompt_tokens if usage else 0,
            usage.completion_tokens if usage else 0,
        )
