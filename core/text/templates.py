"""Chat prompt rendering: the model's own chat template (tokenizer or GGUF metadata), with a plain fallback
for base models that have none."""

from __future__ import annotations

from collections.abc import Sequence

from jinja2.sandbox import ImmutableSandboxedEnvironment

from core.text.base import ChatMessage

# Tokens that end an assistant turn across common chat formats (ChatML, Llama 3, Gemma, Phi).
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>")

# Used only when a model ships no chat template (base models).
FALLBACK_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] | capitalize }}: {{ m['content'] }}\n\n{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)

_env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)


def render_chat_template(
    template: str | None, messages: Sequence[ChatMessage], bos_token: str = "", eos_token: str = ""
) -> str:
    """Render a Jinja chat template in a sandbox (templates come with untrusted model files)."""

    def raise_exception(message: str) -> None:
        raise ValueError(message)

    compiled = _env.from_string(template or FALLBACK_TEMPLATE)
    return compiled.render(
        messages=list(messages),
        add_generation_prompt=True,
        bos_token=bos_token,
        eos_token=eos_token,
        raise_exception=raise_exception,
    )


def render_prompt(tokenizer, messages: Sequence[ChatMessage]) -> str:
    """Render with a Hugging Face tokenizer's chat template, or the fallback when it has none."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
    return render_chat_template(None, messages, tokenizer.bos_token or "", tokenizer.eos_token or "")
