"""encode_chat on the real SmolLM2 tokenizer (ChatML: <|im_start|>role ... <|im_end|>)."""

import pytest
from transformers import AutoTokenizer

from core.data import DataError, encode_chat
from core.models import registry

pytestmark = pytest.mark.slow

CONVERSATION = [
    {"role": "system", "content": "You answer in one word."},
    {"role": "user", "content": "Capital of France?"},
    {"role": "assistant", "content": "Paris"},
    {"role": "user", "content": "用中文说“谢谢”"},
    {"role": "assistant", "content": "谢谢！\n（xièxie）"},
]


@pytest.fixture(scope="module")
def model_path(settings):
    return registry.prepare("smollm2-135m-instruct", settings, dtype="float32").path


@pytest.fixture(scope="module")
def tokenizer(model_path):
    return AutoTokenizer.from_pretrained(model_path)


def labelled_runs(tokenizer, enc) -> list[str]:
    """Decoded runs of consecutive labelled tokens."""
    runs, current = [], []
    for token, label in zip(enc["input_ids"], enc["labels"], strict=True):
        if label == -100:
            if current:
                runs.append(current)
            current = []
        else:
            assert label == token
            current.append(token)
    runs += [current] if current else []
    return [tokenizer.decode(run) for run in runs]


def test_only_assistant_replies_and_their_end_of_turn_are_labelled(tokenizer):
    enc = encode_chat(tokenizer, CONVERSATION, max_length=512)
    rendered = tokenizer.apply_chat_template(CONVERSATION, tokenize=False)
    assert enc["input_ids"] == tokenizer(rendered, add_special_tokens=False)["input_ids"]
    assert labelled_runs(tokenizer, enc) == ["Paris<|im_end|>", "谢谢！\n（xièxie）<|im_end|>"]
    unlabelled = tokenizer.decode([t for t, lbl in zip(enc["input_ids"], enc["labels"], strict=True) if lbl == -100])
    assert "one word" in unlabelled and "Capital of France?" in unlabelled and "Paris" not in unlabelled


def test_the_templates_default_system_prompt_is_not_labelled(tokenizer):
    enc = encode_chat(tokenizer, CONVERSATION[1:3], max_length=512)
    assert "SmolLM" in tokenizer.decode(enc["input_ids"])
    assert labelled_runs(tokenizer, enc) == ["Paris<|im_end|>"]


def test_truncation_keeps_the_start(tokenizer):
    full = encode_chat(tokenizer, CONVERSATION, max_length=512)
    cut = encode_chat(tokenizer, CONVERSATION, max_length=20)
    assert cut == {"input_ids": full["input_ids"][:20], "labels": full["labels"][:20]}


def test_without_a_chat_template_the_fallback_is_used_and_eos_ends_each_reply(model_path):
    plain = AutoTokenizer.from_pretrained(model_path)
    plain.chat_template = None
    enc = encode_chat(plain, CONVERSATION[1:3], max_length=512)
    assert plain.decode(enc["input_ids"]) == "User: Capital of France?\n\nAssistant: Paris<|im_end|>\n\n"
    assert labelled_runs(plain, enc) == [" Paris<|im_end|>"]


def test_a_conversation_opening_with_the_assistant_is_refused(tokenizer):
    with pytest.raises(DataError, match="opens with an assistant message"):
        encode_chat(tokenizer, [{"role": "assistant", "content": "Hi!"}, {"role": "user", "content": "hey"}], 64)
