"""LangChain adapters over ``core`` interfaces: a chat model and an embeddings model for LCEL chains."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.embeddings import Embeddings
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

from core.embeddings import Embedder
from core.errors import InvalidRequestError
from core.text.base import ChatMessage, GenerationParams, Request, TextEngine

_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def to_chat_messages(messages: list[BaseMessage]) -> list[ChatMessage]:
    out: list[ChatMessage] = []
    for m in messages:
        role = _ROLES.get(m.type)
        if role is None:
            raise InvalidRequestError(f"unsupported LangChain message type {m.type!r}")
        out.append({"role": role, "content": m.text if hasattr(m, "text") else str(m.content)})
    return out


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

    def _request(self, messages: list[BaseMessage], stop: list[str] | None) -> Request:
        params = GenerationParams(
            max_new_tokens=self.max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            seed=self.seed,
            stop=tuple(stop or ()),
        )
        return Request(messages=to_chat_messages(messages), params=params)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text, meta = "", {}
        for chunk in self.engine.stream(self._request(messages, stop)):
            text += chunk.text
            if chunk.finish_reason:
                meta = {
                    "finish_reason": chunk.finish_reason,
                    "prompt_tokens": chunk.prompt_tokens,
                    "completion_tokens": chunk.completion_tokens,
                }
        message = AIMessage(content=text, response_metadata=meta)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self.engine.stream(self._request(messages, stop)):
            meta = {"finish_reason": chunk.finish_reason} if chunk.finish_reason else {}
            out = ChatGenerationChunk(message=AIMessageChunk(content=chunk.text, response_metadata=meta))
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
