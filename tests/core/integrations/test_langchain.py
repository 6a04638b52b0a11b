import numpy as np
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from core.integrations.langchain import CoreChatModel, CoreEmbeddings

pytestmark = pytest.mark.slow


def test_lcel_chain_with_core_chat_model(transformers_engine):
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are a concise geography assistant."), ("human", "What is the capital of {country}?")]
    )
    chain = prompt | CoreChatModel(engine=transformers_engine, max_tokens=48) | StrOutputParser()
    assert "Berlin" in chain.invoke({"country": "Germany"})
    streamed = list(chain.stream({"country": "Germany"}))
    assert len([s for s in streamed if s]) > 3
    assert "Berlin" in "".join(streamed)


def test_chat_model_multi_turn_and_stop(transformers_engine):
    model = CoreChatModel(engine=transformers_engine, max_tokens=48)
    msgs = [
        SystemMessage("You are helpful."),
        HumanMessage("My name is Ada."),
        AIMessage("Nice to meet you, Ada!"),
        HumanMessage("What is the capital of France?"),
    ]
    full = model.invoke(msgs)
    assert "Paris" in full.content
    assert full.response_metadata["finish_reason"] == "stop"
    cut = model.invoke(msgs, stop=["Paris"])
    assert "Paris" not in cut.content


def test_embeddings_adapter(embedder):
    emb = CoreEmbeddings(embedder)
    docs = emb.embed_documents(["refund policy", "shipping times"])
    q = emb.embed_query("how do I get my money back")
    assert len(docs) == 2 and len(q) == 384
    assert np.dot(q, docs[0]) > np.dot(q, docs[1])


def test_structured_output_and_tools(llamacpp_engine):
    """``with_structured_output`` and ``bind_tools`` decode under the schema, so even SmolLM2 answers in shape."""
    from langchain_core.messages import ToolMessage
    from pydantic import BaseModel, Field

    class City(BaseModel):
        name: str = Field(max_length=30)
        country: str = Field(max_length=30)

    model = CoreChatModel(engine=llamacpp_engine, max_tokens=48)
    assert isinstance(model.with_structured_output(City).invoke("Name a city in Japan."), City)
    assert isinstance(model.with_structured_output(City, method="function_calling").invoke("Name a city."), City)

    def get_weather(city: str) -> str:
        """Current weather in a city."""
        return "sunny"

    reply = model.bind_tools([get_weather], tool_choice="any").invoke("What's the weather in Paris?")
    call = reply.tool_calls[0]
    assert call["name"] == "get_weather" and isinstance(call["args"]["city"], str)
    chunks = list(model.bind_tools([get_weather], tool_choice="get_weather").stream("Weather in Rome?"))
    merged = chunks[0]
    for c in chunks[1:]:
        merged += c
    assert merged.tool_calls[0]["name"] == "get_weather"
    history = [HumanMessage("What's the weather in Paris?"), reply, ToolMessage("sunny, 21 C", tool_call_id=call["id"])]
    answer = model.bind_tools([get_weather], tool_choice="none").invoke(history)
    assert answer.content and not answer.tool_calls
