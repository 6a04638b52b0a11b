"""Chat prompt rendering: the model's own chat template (tokenizer or GGUF metadata), with a plain fallback
for base models that have none."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from jinja2.sandbox import ImmutableSandboxedEnvironment

from core.text.base import ChatMessage
from core.text.tools import native_messages, plain_messages

# Tokens that end an assistant turn across common chat formats (ChatML, Llama 3, Gemma, Phi).
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>")

# Used only when a model ships no chat template (base models).
FALLBACK_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] | capitalize }}: {{ m['content'] }}\n\n{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)

_env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
# Chat-template control tokens (ChatML, Llama, Gemma): removed from untrusted text so it cannot open a new turn.
_CONTROL = re.compile(r"<\|[^|>]{1,40}\|>|<start_of_turn>|<end_of_turn>|\[/?INST\]", re.IGNORECASE)


def strip_control_tokens(text: str) -> str:
    """Untrusted text (a customer's message, a KB passage, a user's document) without chat control tokens."""
    return _CONTROL.sub(" ", text)


def supports_tools(template: str | None) -> bool:
    """Whether a chat template renders tools itself (Qwen2.5's does; SmolLM2's does not)."""
    return bool(template) and "tools" in template


def prepare_messages(
    template: str | None, messages: Sequence[ChatMessage], tools: Sequence[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """Messages and tools as the template takes them: its own tool format when it has one, otherwise tools as a
    system note and calls/results as plain turns."""
    if supports_tools(template):
        return native_messages(messages), list(tools) or None
    if tools or any(m["role"] == "tool" or m.get("tool_calls") for m in messages):
        return plain_messages(messages, [t["function"] for t in tools]), None
    return [dict(m) for m in messages], None


def render_chat_template(
    template: str | None,
    messages: Sequence[ChatMessage],
    bos_token: str = "",
    eos_token: str = "",
    tools: Sequence[dict[str, Any]] = (),
) -> str:
    """Render a Jinja chat template in a sandbox (templates come with untrusted model files)."""

    def raise_exception(message: str) -> None:
        raise ValueError(message)

    msgs, tool_list = prepare_messages(template, messages, tools)
    compiled = _env.from_string(template or FALLBACK_TEMPLATE)
    return compiled.render(
        messages=msgs,
        tools=tool_list,
        add_generation_prompt=True,
        bos_token=bos_token,
        eos_token=eos_token,
        raise_exception=raise_exception,
    )


def render_prompt(tokenizer, messages: Sequence[ChatMessage], tools: Sequence[dict[str, Any]] = ()) -> str:
    """Render with a Hugging Face tokenizer's chat template, or the fallback when it has none."""
    template = getattr(tokenizer, "chat_template", None)
    if template:
        msgs, tool_list = prepare_messages(template, messages, tools)
        return tokenizer.apply_chat_template(msgs, tools=tool_list, add_generation_prompt=True, tokenize=False)
    return render_chat_template(None, messages, tokenizer.bos_token or "", tokenizer.eos_token or "", tools)
