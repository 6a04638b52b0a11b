"""OpenAI-compatible request bodies. Names are exactly OpenAI's; unknown top-level fields are refused (a 400
naming the field) so that nothing a client sends is silently ignored. Documented extensions, as vLLM names
them: ``ignore_eos``, ``repetition_penalty``, ``guided_json``, ``guided_regex``, ``guided_choice``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.errors import InvalidRequestError
from core.text.base import ChatMessage, GenerationParams
from core.text.constraints import Constraint

EXTENSIONS = ("ignore_eos", "repetition_penalty", "guided_json", "guided_regex", "guided_choice")


class ContentPart(BaseModel):
    type: Literal["text"]
    text: str


class FunctionCall(BaseModel):
    name: str
    arguments: str | dict[str, Any] = "{}"


class ToolCallIn(BaseModel):
    id: str = ""
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(BaseModel):
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[ContentPart] | None = ""
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None

    def to_chat(self) -> ChatMessage:
        text = self.content if isinstance(self.content, str) else "".join(p.text for p in self.content or [])
        # "developer" is the newer OpenAI name for the system role.
        msg: ChatMessage = {"role": "system" if self.role == "developer" else self.role, "content": text or ""}
        if self.tool_calls:
            msg["tool_calls"] = [c.model_dump() for c in self.tool_calls]
        if self.tool_call_id:
            msg["tool_call_id"] = self.tool_call_id
        return msg


class StreamOptions(BaseModel):
    include_usage: bool = False


class FunctionDef(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]+$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None  # every call is schema-constrained when forced; accepted either way


class Tool(BaseModel):
    type: Literal["function"]
    function: FunctionDef


class NamedFunction(BaseModel):
    name: str


class NamedToolChoice(BaseModel):
    type: Literal["function"]
    function: NamedFunction


class JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str = "reply"
    description: str | None = None
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    strict: bool | None = None


class ResponseFormat(BaseModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class _Sampling(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    # Greedy by default: small models answer more reliably, and results are reproducible.
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    n: int = Field(default=1, ge=1, le=4)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    presence_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    frequency_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    logit_bias: dict[str, float] | None = None
    user: str | None = None
    # Extensions (vLLM's names).
    ignore_eos: bool = False
    repetition_penalty: float = Field(default=1.0, gt=0.0, le=2.0)
    guided_json: dict[str, Any] | None = None
    guided_regex: str | None = None
    guided_choice: list[str] | None = None

    @field_validator("stop")
    @classmethod
    def _at_most_four(cls, v: str | list[str] | None) -> str | list[str] | None:
        if isinstance(v, list) and len(v) > 4:
            raise ValueError("at most 4 stop sequences")
        return v

    def constraints(self) -> list[Constraint]:
        """Every constraint the request asks for (more than one is an error the caller reports)."""
        out = []
        if self.guided_json is not None:
            out.append(Constraint.json_schema(self.guided_json))
        if self.guided_regex is not None:
            out.append(Constraint.regex(self.guided_regex))
        if self.guided_choice is not None:
            out.append(Constraint.choice(self.guided_choice))
        return out

    def params(self, default_max_tokens: int) -> GenerationParams:
        if self.logit_bias:  # no engine here applies token biases; refusing beats ignoring
            raise InvalidRequestError("logit_bias is not supported by this server", "logit_bias")
        constraints = self.constraints()
        if len(constraints) > 1:
            raise InvalidRequestError("give at most one of response_format and guided_*", constraints[1].param)
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return GenerationParams(
            max_new_tokens=self.max_tokens or default_max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            seed=self.seed,
            stop=tuple(stop),
            ignore_eos=self.ignore_eos,
            presence_penalty=self.presence_penalty,
            frequency_penalty=self.frequency_penalty,
            repetition_penalty=self.repetition_penalty,
            constraint=constraints[0] if constraints else None,
        )


class ChatCompletionRequest(_Sampling):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["auto", "none", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool = True
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=20)

    def constraints(self) -> list[Constraint]:
        fmt = self.response_format
        if fmt is None or fmt.type == "text":
            return super().constraints()
        if fmt.type == "json_object":
            return [Constraint.json_object(), *super().constraints()]
        if fmt.json_schema is None or not fmt.json_schema.schema_:
            raise InvalidRequestError("response_format json_schema needs json_schema.schema", "response_format")
        return [Constraint.json_schema(fmt.json_schema.schema_), *super().constraints()]

    def tool_choice_value(self) -> str | dict[str, Any]:
        if self.tool_choice is None:
            return "auto" if self.tools else "none"
        if self.tool_choice != "none" and not self.tools:
            raise InvalidRequestError("tool_choice needs tools", "tool_choice")
        return self.tool_choice if isinstance(self.tool_choice, str) else self.tool_choice.model_dump()

    def params(self, default_max_tokens: int) -> GenerationParams:
        p = super().params(default_max_tokens)
        if self.top_logprobs is not None and not self.logprobs:
            raise InvalidRequestError("top_logprobs needs logprobs: true", "top_logprobs")
        if p.constraint is not None and self.tools and self.tool_choice_value() != "none":
            raise InvalidRequestError(
                "response_format/guided_* cannot be combined with tools here (use tool_choice none)", "response_format"
            )
        p = p.with_(logprobs=self.logprobs, top_logprobs=self.top_logprobs or 0)
        return p.with_(max_new_tokens=self.max_completion_tokens) if self.max_completion_tokens else p


class CompletionRequest(_Sampling):
    prompt: str | list[str]
    max_tokens: int | None = Field(default=256, ge=1)
    logprobs: int | None = Field(default=None, ge=0, le=5)

    def params(self, default_max_tokens: int) -> GenerationParams:
        p = super().params(default_max_tokens)
        return p if self.logprobs is None else p.with_(logprobs=True, top_logprobs=self.logprobs)


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    input: str | list[str] = Field(min_length=1)
    encoding_format: Literal["float", "base64"] = "float"
    user: str | None = None
