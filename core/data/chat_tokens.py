"""Token ids and labels for chat fine-tuning: the loss covers assistant replies only."""

from __future__ import annotations

from collections.abc import Sequence

from jinja2 import TemplateError

from core.data.examples import DataError
from core.text.base import ChatMessage
from core.text.templates import FALLBACK_TEMPLATE

IGNORE = -100  # label value that the loss skips


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def encode_chat(tokenizer, messages: Sequence[ChatMessage], max_length: int) -> dict[str, list[int]]:
    """``input_ids`` of the conversation rendered with the tokenizer's chat template, and ``labels`` equal to
    them on assistant replies (each with its end-of-turn token, which teaches the model to stop) and -100
    elsewhere. Both are cut to ``max_length`` from the right.

    Reply spans come from rendering prefixes, so any template works without knowing its markers: the reply
    to turn ``i`` starts where ``messages[:i]`` plus the generation prompt ends and ends where ``messages[:i+1]``
    ends (trailing whitespace excluded). Tokenizers without a template use the plain fallback template of
    ``core.text.templates``; it has no end-of-turn marker, so the EOS token is appended to each reply."""
    template = None if getattr(tokenizer, "chat_template", None) else FALLBACK_TEMPLATE

    def render(msgs: Sequence[ChatMessage], generation_prompt: bool) -> str:
        try:
            return tokenizer.apply_chat_template(
                list(msgs), chat_template=template, add_generation_prompt=generation_prompt, tokenize=False
            )
        except TemplateError as exc:
            raise DataError(f"the chat template rejected the conversation: {exc}") from None

    def encode(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]  # the template adds any BOS itself

    full = render(messages, False)
    ids = encode(full)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        if i == 0:
            raise DataError("the conversation opens with an assistant message; start with a system or user message")
        prefix, end = render(messages[:i], True), render(messages[: i + 1], False).rstrip()
        if not (full.startswith(prefix) and full.startswith(end)):
            raise DataError(
                f"cannot locate assistant message {i}: the chat template does not render the conversation up to it"
                " as a prefix of the whole conversation"
            )
        spans.append((_common_prefix(ids, encode(prefix)), _common_prefix(ids, encode(end))))

    eos = [tokenizer.eos_token_id] if template is not None and tokenizer.eos_token_id is not None else []
    input_ids: list[int] = []
    labels: list[int] = []
    pos = 0
    for start, stop in spans:
        stop = max(stop, pos)
        start = min(max(start, pos), stop)
        input_ids += ids[pos:stop] + eos
        labels += [IGNORE] * (start - pos) + ids[start:stop] + eos
        pos = stop
    input_ids += ids[pos:]
    labels += [IGNORE] * (len(ids) - pos)
    return {"input_ids": input_ids[:max_length], "labels": labels[:max_length]}
