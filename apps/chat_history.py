"""Gradio chat history -> ``core`` chat messages (shared by every chat tab)."""

from __future__ import annotations

from core.text import ChatMessage


def message_text(content) -> str:
    """Plain text of a Gradio message: a string, or Gradio 6's list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def to_chat_messages(history: list[dict] | None) -> list[ChatMessage]:
    return [{"role": m["role"], "content": message_text(m["content"])} for m in history or []]
