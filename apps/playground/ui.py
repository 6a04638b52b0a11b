"""Playground tab: streaming chat with any text-generation model, engine and sampling settings."""

from __future__ import annotations

from collections.abc import Iterator

import gradio as gr

from apps.chat_history import to_chat_messages
from core.config import Settings
from core.errors import LLMEcoError
from core.models import registry
from core.serving.pool import ModelPool
from core.text import GenerationParams, Request

TITLE = "Chat playground"
ORDER = 0


def chat_stream(
    pool: ModelPool,
    message: str,
    history: list[dict],
    model: str,
    engine: str,
    system: str,
    max_tokens: int,
    temperature: float,
) -> Iterator[str]:
    """Yield the growing answer; user-facing errors become a Gradio error message."""
    if not message.strip():
        raise gr.Error("Type a message first.")
    messages = [{"role": "system", "content": system}] if system.strip() else []
    messages += to_chat_messages(history)
    messages.append({"role": "user", "content": message})
    params = GenerationParams(max_new_tokens=int(max_tokens), temperature=float(temperature))
    answer = ""
    try:
        with pool.acquire(model.strip(), engine) as lease:  # the version it starts on answers to the end
            for chunk in lease.worker.submit_stream(Request(messages=messages, params=params)):
                answer += chunk.text
                yield answer
    except LLMEcoError as exc:
        raise gr.Error(str(exc)) from None


def build(settings: Settings) -> None:
    pool = ModelPool(settings)
    names = [s.name for s in registry.all_specs() if s.task == "text-generation"]
    with gr.Row():
        model = gr.Dropdown(
            names,
            value=settings.text.model,
            label="Model",
            allow_custom_value=True,
            info="A registered name, a local folder / .gguf file, or a Hugging Face id",
        )
        engine = gr.Dropdown(["auto", "llamacpp", "transformers"], value="auto", label="Engine")
    with gr.Accordion("Generation settings", open=False):
        system = gr.Textbox("You are a helpful assistant.", label="System prompt", lines=2)
        max_tokens = gr.Slider(16, 2048, value=256, step=16, label="Max new tokens")
        temperature = gr.Slider(0.0, 1.5, value=0.0, step=0.05, label="Temperature (0 = greedy)")

    def respond(message: str, history: list[dict], *options) -> Iterator[str]:
        yield from chat_stream(pool, message, history, *options)

    gr.ChatInterface(
        respond,
        chatbot=gr.Chatbot(height=420, buttons=["copy", "copy_all"], label="Chat"),
        additional_inputs=[model, engine, system, max_tokens, temperature],
        examples=[["What is the capital of France?"], ["Write a haiku about the sea."]],
        cache_examples=False,
        save_history=True,
        api_name="playground_chat",
    )
