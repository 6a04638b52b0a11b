"""The text-generation interface. Engines (transformers, llama.cpp, remote) implement ``TextEngine``;
the server, the LangChain adapter and the apps talk only to this interface."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, TypedDict

from core.errors import InvalidRequestError


class ChatMessage(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class GenerationParams:
    max_new_tokens: int = 512
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False  # benchmarks: always produce max_new_tokens

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise InvalidRequestError("max_new_tokens must be at least 1")
        if not 0.0 <= self.temperature <= 5.0:
            raise InvalidRequestError("temperature must be between 0 and 5")
        if not 0.0 < self.top_p <= 1.0:
            raise InvalidRequestError("top_p must be in (0, 1]")
        object.__setattr__(self, "stop", tuple(s for s in self.stop if s))

    def with_(self, **changes: object) -> GenerationParams:
        return replace(self, **changes)


FinishReason = Literal["stop", "length"]


@dataclass
class StreamChunk:
    """A piece of streamed text; the last chunk of a stream carries ``finish_reason`` and token counts."""

    text: str
    finish_reason: FinishReason | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class Completion:
    text: str
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int


@dataclass
class Request:
    """Exactly one of ``messages`` (chat) or ``prompt`` (raw completion)."""

    messages: Sequence[ChatMessage] | None = None
    prompt: str | None = None
    params: GenerationParams = field(default_factory=GenerationParams)
    cancel: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise InvalidRequestError("give either chat messages or a prompt")
        if self.messages is not None:
            if not self.messages:
                raise InvalidRequestError("messages must not be empty")
            for i, m in enumerate(self.messages):
                if m.get("role") not in ("system", "user", "assistant") or not isinstance(m.get("content"), str):
                    raise InvalidRequestError(f"message {i} needs role system|user|assistant and string content")


class TextEngine(ABC):
    """A loaded text-generation model. Engines implement ``stream``; everything else derives from it."""

    model_name: str
    engine_name: str

    @abstractmethod
    def stream(self, request: Request) -> Iterator[StreamChunk]:
        """Yield text as it is generated; the final chunk has ``finish_reason`` set.
        Must stop at the model's end-of-turn token and at any of ``request.params.stop``."""

    def generate_batch(self, requests: Sequence[Request]) -> list[Completion]:
        """Answer several requests; engines with real batching override this."""
        return [collect(self.stream(r)) for r in requests]

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release native resources."""

    # Conveniences over ``stream``.
    def chat(self, messages: Sequence[ChatMessage], params: GenerationParams | None = None) -> Completion:
        return collect(self.stream(Request(messages=messages, params=params or GenerationParams())))

    def complete(self, prompt: str, params: GenerationParams | None = None) -> Completion:
        return collect(self.stream(Request(prompt=prompt, params=params or GenerationParams())))

    def stream_chat(self, messages: Sequence[ChatMessage], params: GenerationParams | None = None) -> Iterator[str]:
        for chunk in self.stream(Request(messages=messages, params=params or GenerationParams())):
            if chunk.text:
                yield chunk.text


def collect(chunks: Iterator[StreamChunk]) -> Completion:
    parts: list[str] = []
    last = StreamChunk("")
    for chunk in chunks:
        parts.append(chunk.text)
        last = chunk
    return Completion(
        text="".join(parts),
        finish_reason=last.finish_reason or "stop",
        prompt_tokens=last.prompt_tokens,
        completion_tokens=last.completion_tokens,
    )


class StopScanner:
    """Cuts streamed text at the first stop sequence, holding back text that might begin one."""

    def __init__(self, stops: Sequence[str]):
        self.stops = [s for s in stops if s]
        self.hold = max((len(s) for s in self.stops), default=1) - 1
        self.buffer = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """Return the text that is safe to emit now."""
        if self.stopped:
            return ""
        self.buffer += text
        cut = min((i for i in (self.buffer.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            out, self.buffer = self.buffer[:cut], ""
            return out
        if self.hold == 0:
            out, self.buffer = self.buffer, ""
            return out
        safe = len(self.buffer) - self.hold
        # Emit everything up to the last position where no stop sequence could be starting.
        for i in range(max(safe, 0), len(self.buffer)):
            if any(s.startswith(self.buffer[i:]) for s in self.stops):
                safe = i
                break
        else:
            safe = len(self.buffer)
        out, self.buffer = self.buffer[:safe], self.buffer[safe:]
        return out

    def flush(self) -> str:
        out, self.buffer = ("" if self.stopped else self.buffer), ""
        return out
