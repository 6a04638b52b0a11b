"""LangChain adapters over ``core`` interfaces: a chat model (with ``bind_tools`` and ``with_structured_output``,
both decoded under a JSON Schema constraint) and an embeddings model for LCEL chains."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ConfigDict

from core.embeddings import Embedder
from core.errors import InvalidRequestError
from core.text.base import ChatMessage, GenerationParams, Request, TextEngine, ToolCall
from core.text.constraints import Constraint

_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


def to_chat_messages(messages: list[BaseMessage]) -> list[ChatMessage]:
    out: list[ChatMessage] = []
    for m in messages:
        role = _ROLES.get(m.type)
        if role is None:
            raise InvalidRequestError(f"unsupported LangChain message type {m.type!r}")
        msg: ChatMessage = {"role": role, "content": m.text if hasattr(m, "text") else str(m.content)}
        if getattr(m, "tool_calls", None):
            msg["tool_calls"] = [
                {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": json.dumps(c["args"])}}
                for c in m.tool_calls
            ]
        if m.type == "tool":
            msg["tool_call_id"] = m.tool_call_id
        out.append(msg)
    return out


def _lc_tool_calls(calls: list[ToolCall]) -> list[dict[str, Any]]:
    return [{"name": c.name, "args": json.loads(c.arguments), "id": c.id, "type": "tool_call"} for c in calls]


def _tool_choice(choice: str | bool | dict | None) -> str | dict:
    """LangChain's spellings (``"any"``, ``True``, a bare function name) as OpenAI's."""
    if choice in (None, "auto"):
        return "auto"
    if choice in ("any", "required", True):
        return "required"
    if choice == "none":
        return "none"
    if isinstance(choice, str):
        return {"type": "function", "function": {"name": choice}}
    return choice


class CoreChatModel(BaseChatModel):
    """``BaseChatModel`` over any ``TextEngine`` (transformers, llama.cpp, remote)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    engine: TextEngine
    max_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None

    @property
    def _llm_type(self) -> str:
        return f"llmeco-{self.engine.engine_name}"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.engine.model_name, "engine": self.engine.engine_name}

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable | BaseTool],
        *,
        tool_choice: str | bool | dict | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Offer ``tools``; ``tool_choice`` "any"/"required"/a name forces a schema-valid call."""
        formatted = [convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=formatted, tool_choice=_tool_choice(tool_choice), **kwargs)

    def with_structured_output(
        self, schema: dict | type, *, method: str = "json_schema", include_raw: bool = False, **kwargs: Any
    ) -> Runnable[LanguageModelInput, dict | BaseModel]:
        """``json_schema`` (default): the reply is decoded under the schema, so it always parses; Pydantic classes
        come back as instances. ``function_calling``: LangChain's forced tool call (also constrained here)."""
        if method == "function_calling" or include_raw:
            return super().with_structured_output(schema, include_raw=include_raw, **kwargs)
        if method not in ("json_schema", "json_mode"):
            raise ValueError(f"method must be json_schema, json_mode or function_calling, not {method!r}")
        is_model = isinstance(schema, type) and issubclass(schema, BaseModel)
        json_schema = (
            schema.model_json_schema() if is_model else convert_to_openai_tool(schema)["function"]["parameters"]
        )
        constraint = Constraint.json_object() if method == "json_mode" else Constraint.json_schema(json_schema)
        parser = PydanticOutputParser(pydantic_object=schema) if is_model else JsonOutputParser()
        return self.bind(constraint=constraint) | parser

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any) -> Request:
        params = GenerationParams(
            max_new_tokens=self.max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            seed=self.seed,
            stop=tuple(stop or ()),
            constraint=kwargs.get("constraint"),
        )
        return Request(
            messages=to_chat_messages(messages),
            params=params,
            tools=kwargs.get("tools") or (),
            tool_choice=kwargs.get("tool_choice") or "auto",
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text, meta, calls = "", {}, []
        for chunk in self.engine.stream(self._request(messages, stop, **kwargs)):
            text += chunk.text
            if chunk.finish_reason:
                calls = chunk.tool_calls
                meta = {
                    "finish_reason": chunk.finish_reason,
                    "prompt_tokens": chunk.prompt_tokens,
                    "completion_tokens": chunk.completion_tokens,
                    "model_name": chunk.model or self.engine.model_name,
                }
        message = AIMessage(content=text, response_metadata=meta, tool_calls=_lc_tool_calls(calls))
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self.engine.stream(self._request(messages, stop, **kwargs)):
            # LangChain's key for what answered: a registered name's version ("name@v3") when routed live
            meta = (
                {"finish_reason": chunk.finish_reason, "model_name": chunk.model or self.engine.model_name}
                if chunk.finish_reason
                else {}
            )
            calls = [
                {"name": c.name, "args": c.arguments, "id": c.id, "index": i, "type": "tool_call_chunk"}
                for i, c in enumerate(chunk.tool_calls)
            ]
            message = AIMessageChunk(content=chunk.text, response_metadata=meta, tool_call_chunks=calls)
            out = ChatGenerationChunk(message=message)
            if run_manager and chunk.text:
                run_manager.on_llm_new_token(chunk.text, chunk=out)
            yield out


class CoreEmbeddings(Embeddings):
    """LangChain ``Embeddings`` over a ``core`` embedder."""

    def __init__(self, embedder: Embedder):
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed(texts, kind="document").tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed([text], kind="query")[0].tolist()
