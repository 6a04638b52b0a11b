import pytest

from core.data import (
    ChatExample,
    ClassificationExample,
    DataError,
    TextExample,
    detect_format,
    load_records,
    to_examples,
)

CHAT = {
    "messages": [
        {"role": "system", "content": "You are concise."},
        {"role": "user", "content": "你好"},
        {"role": "assistant", "content": "你好！有什么可以帮你？"},
    ]
}


@pytest.mark.parametrize(
    ("row", "fmt"),
    [
        (CHAT, "chat"),
        ({"instruction": "Translate", "input": "hello", "output": "bonjour"}, "alpaca"),
        ({"instruction": "Say hi", "output": "hi"}, "alpaca"),
        ({"text": "plain", "id": 7}, "text"),
        ({"text": "refund please", "label": "refund"}, "classification"),
        ({"text": "card lost", "category": "lost_card"}, "classification"),
    ],
)
def test_detects_each_format(write_jsonl, row, fmt):
    assert detect_format(load_records(write_jsonl("d.jsonl", [row, row]))) == fmt


def test_mixed_formats_name_the_first_offending_line(write_jsonl):
    path = write_jsonl("d.jsonl", [CHAT, CHAT, {"text": "plain"}, {"foo": 1}])
    with pytest.raises(DataError, match=r"d\.jsonl line 3: a text record, but .*d\.jsonl line 1 is chat") as err:
        detect_format(load_records(path))
    assert "supported formats: chat" in str(err.value)


def test_unknown_keys_are_reported_with_the_supported_formats(write_jsonl):
    path = write_jsonl("d.jsonl", [{"prompt": "a", "completion": "b"}])
    with pytest.raises(DataError, match=r"d\.jsonl line 1: keys \['completion', 'prompt'\] match no format"):
        detect_format(load_records(path))


def test_classification_row_without_label_names_its_line(write_jsonl, tmp_path):
    path = write_jsonl("d.jsonl", [{"text": "a"}, {"text": "b", "label": "x"}, {"text": "c", "label": "y"}])
    with pytest.raises(DataError, match=r"d\.jsonl line 1: classification row has no label"):
        detect_format(load_records(path))
    csv_path = tmp_path / "d.csv"
    csv_path.write_text("text,category\na,x\nb,\nc,y\n", encoding="utf-8")
    records = load_records(csv_path)
    assert detect_format(records) == "classification"
    with pytest.raises(DataError, match=r"d\.csv line 3: classification row has no label"):
        to_examples(records, "classification")


def test_classification_needs_two_labels(write_jsonl):
    path = write_jsonl("d.jsonl", [{"text": "a", "label": "x"}, {"text": "b", "label": "x"}])
    with pytest.raises(DataError, match=r"at least 2 distinct labels, found \['x'\]"):
        to_examples(load_records(path), "classification")


def test_classification_examples_and_integer_labels(write_jsonl):
    path = write_jsonl("d.jsonl", [{"text": "good", "label": 1}, {"text": "坏", "label": 0}])
    examples = to_examples(load_records(path), "classification")
    assert examples == [ClassificationExample("good", "1"), ClassificationExample("坏", "0")]
    assert (examples[1].source, examples[1].line) == (str(path), 2)


def test_chat_without_assistant_names_file_and_line(write_jsonl):
    no_reply = {"messages": [{"role": "user", "content": "hello?"}]}
    path = write_jsonl("d.jsonl", [CHAT, no_reply])
    with pytest.raises(DataError, match=r"d\.jsonl line 2: the conversation has no assistant message"):
        to_examples(load_records(path), "chat")


@pytest.mark.parametrize(
    "messages",
    [
        [],
        [{"role": "wizard", "content": "x"}],
        [{"role": "user", "content": 3}],
        [{"role": "assistant", "content": "Hi!"}, {"role": "user", "content": "hey"}],
        "hello",
    ],
)
def test_malformed_messages(write_jsonl, messages):
    path = write_jsonl("d.jsonl", [{"messages": messages}])
    with pytest.raises(DataError, match=r"d\.jsonl line 1: "):
        to_examples(load_records(path), "chat")


def test_chat_keeps_only_role_and_content(write_jsonl):
    row = {"messages": [{"role": "user", "content": "hi", "name": "x"}, {"role": "assistant", "content": "hey"}]}
    [example] = to_examples(load_records(write_jsonl("d.jsonl", [row])), "chat")
    assert example == ChatExample([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hey"}])


def test_alpaca_becomes_a_user_assistant_chat(write_jsonl):
    rows = [
        {"instruction": "翻译成英文", "input": "你好", "output": "Hello"},
        {"instruction": "Say hi", "input": "", "output": "hi"},
    ]
    examples = to_examples(load_records(write_jsonl("d.jsonl", rows)), "alpaca")
    assert [e.messages for e in examples] == [
        [{"role": "user", "content": "翻译成英文\n\n你好"}, {"role": "assistant", "content": "Hello"}],
        [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "hi"}],
    ]


def test_text_and_wrong_types(write_jsonl):
    assert to_examples(load_records(write_jsonl("d.jsonl", [{"text": "a"}])), "text") == [TextExample("a")]
    with pytest.raises(DataError, match=r"d\.jsonl line 1: 'text' must be a string, got int"):
        to_examples(load_records(write_jsonl("d.jsonl", [{"text": 5}])), "text")
    with pytest.raises(DataError, match="unknown format 'sharegpt'"):
        to_examples(load_records(write_jsonl("d.jsonl", [{"text": "a"}])), "sharegpt")
