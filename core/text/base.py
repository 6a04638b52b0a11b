"""The text-generation interface. Engines (transformers, llama.cpp, remote) implement ``TextEngine``;
the server, the LangChain adapter and the apps talk only to this interface."""

from __future__ import annotations

import codecs
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypedDict

from typing_extensions import NotRequired

from core.errors import InvalidRequestError
from core.text.constraints import Constraint


class ChatMessage(TypedDict):
    """A chat turn. Tool calling adds assistant ``tool_calls`` (OpenAI's shape) and ``tool`` results that name
    the call they answer (``tool_call_id``)."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_calls: NotRequired[list[dict[str, Any]]]
    tool_call_id: NotRequired[str]


@dataclass(frozen=True)
class GenerationParams:
    max_new_tokens: int = 512
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False  # benchmarks: always produce max_new_tokens
    # OpenAI's additive penalties (per distinct token seen / per occurrence) and the multiplicative
    # repetition penalty of transformers, llama.cpp and vLLM; all over the tokens generated so far.
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repetition_penalty: float = 1.0
    logprobs: bool = False  # report each generated token's log-probability
    top_logprobs: int = 0  # ... and the most likely alternatives at each step
    constraint: Constraint | None = None  # what the reply must look like (JSON Schema, regex, choice)

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise InvalidRequestError("max_new_tokens must be at least 1", param="max_tokens")
        if not 0.0 <= self.temperature <= 5.0:
            raise InvalidRequestError("temperature must be between 0 and 5", param="temperature")
        if not 0.0 < self.top_p <= 1.0:
            raise InvalidRequestError("top_p must be in (0, 1]", param="top_p")
        for name in ("presence_penalty", "frequency_penalty"):
            if not -2.0 <= getattr(self, name) <= 2.0:
                raise InvalidRequestError(f"{name} must be between -2 and 2", param=name)
        if not 0.0 < self.repetition_penalty <= 2.0:
            raise InvalidRequestError("repetition_penalty must be in (0, 2]", param="repetition_penalty")
        if not 0 <= self.top_logprobs <= 20:
            raise InvalidRequestError("top_logprobs must be between 0 and 20", param="top_logprobs")
        if self.ignore_eos and self.constraint is not None:  # a finished grammar allows nothing but the end
            raise InvalidRequestError("ignore_eos cannot be combined with a constrained reply", param="ignore_eos")
        object.__setattr__(self, "stop", tuple(s for s in self.stop if s))

    def with_(self, **changes: object) -> GenerationParams:
        return replace(self, **changes)


FinishReason = Literal["stop", "length", "tool_calls"]


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token, its log-probability under the model and the ``top`` alternatives (token, logprob).
    ``token`` is the text the token completes and ``raw`` its own bytes: a character split across tokens (most
    Chinese characters and emoji in a byte-level vocabulary) is in the text of its last token, so the texts add up to
    the reply, as the bytes do."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()
    raw: bytes = b""


class TokenTexts:
    """Builds one generation's ``TokenLogprob`` from each token's bytes, carrying an incomplete character over."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")("replace")

    def logprob(self, raw: bytes, logprob: float, top: Sequence[tuple[bytes, float]] = ()) -> TokenLogprob:
        alternatives = tuple((b.decode("utf-8", "replace"), v) for b, v in top)
        return TokenLogprob(self._utf8.decode(raw), logprob, alternatives, raw)


@dataclass(frozen=True)
class ToolCall:
    """A function call the model asked for; ``arguments`` is JSON text, as in OpenAI's API."""

    id: str
    name: str
    arguments: str


@dataclass
class StreamChunk:
    """A piece of streamed text; the last chunk of a stream carries ``finish_reason``, token counts and any tool
    calls. ``logprobs`` covers the tokens consumed since the previous chunk (when requested)."""

    text: str
    finish_reason: FinishReason | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    logprobs: list[TokenLogprob] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    model: str = ""  # on the last chunk: the version that answered ("name@v3"), for a registered name


@dataclass
class Completion:
    text: str
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    logprobs: list[TokenLogprob] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    model: str = ""  # the version that answered ("name@v3"), for a registered name


ToolChoice = str | dict[str, Any]  # "auto" | "none" | "required" | {"type": "function", "function": {"name"}}


@dataclass
class Request:
    """Exactly one of ``messages`` (chat) or ``prompt`` (raw completion). ``tools`` are OpenAI function tools
    (``{"type": "function", "function": {"name", "description", "parameters"}}``)."""

    messages: Sequence[ChatMessage] | None = None
    prompt: str | None = None
    params: GenerationParams = field(default_factory=GenerationParams)
    cancel: threading.Event = field(default_factory=threading.Event)
    tools: Sequence[dict[str, Any]] = ()
    tool_choice: ToolChoice = "auto"
    # During a canary of a registered name, requests with one key (a user, a session, a writing task) go to one
    # version; None: spread by the canary's share.
    route_key: str | None = None

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise InvalidRequestError("give either chat messages or a prompt")
        if self.messages is not None:
            if not self.messages:
                raise InvalidRequestError("messages must not be empty", param="messages")
            for i, m in enumerate(self.messages):
                if m.get("role") not in ("system", "user", "assistant", "tool") or not isinstance(
                    m.get("content"), str
                ):
                    raise InvalidRequestError(
                        f"message {i} needs role system|user|assistant|tool and string content", param="messages"
                    )
        if self.tools:
            from core.text.tools import check_tools

            check_tools(self.tools, self.tool_choice)


class TextEngine(ABC):
    """A loaded text-generation model. Engines implement ``_stream``; everything else derives from it.

    Local engines render ``request.tools`` into the prompt and honour ``params.constraint``; tool calls are then
    read from the output here, the same way for every engine. An engine whose backend does tool calling itself
    (remote) sets ``forwards_tools``."""

    model_name: str
    engine_name: str
    forwards_tools: bool = False

    @abstractmethod
    def _stream(self, request: Request) -> Iterator[StreamChunk]:
        """Yield text as it is generated; the final chunk has ``finish_reason`` set.
        Must stop at the model's end-of-turn token and at any of ``request.params.stop``."""

    def stream(self, request: Request) -> Iterator[StreamChunk]:
        """``_stream``, with tool calls parsed out of the reply when the request offers tools."""
        if not request.tools or self.forwards_tools:
            return self._stream(request)
        from core.text.tools import stream_with_tools

        return stream_with_tools(self._stream, request)

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
    logprobs: list[TokenLogprob] = []
    last = StreamChunk("")
    for chunk in chunks:
        parts.append(chunk.text)
        logprobs += chunk.logprobs
        last = chunk
    return Completion(
        text="".join(parts),
        finish_reason=last.finish_reason or "stop",
        prompt_tokens=last.prompt_tokens,
        completion_tokens=last.completion_tokens,
        logprobs=logprobs,
        tool_calls=last.tool_calls,
        model=last.model,
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
