import json
from dataclasses import dataclass
from pathlib import Path

import datasets
import pytest

from core.data import ChatExample, CleaningConfig, DataError, prepare_data

BANKING77 = Path(__file__).resolve().parents[3].parent / "shared" / "datasets" / "banking77" / "banking_data"


def chats(n: int) -> list[dict]:
    return [
        {
            "messages": [
                {"role": "user", "content": f"问题 {i}?"},
                {"role": "assistant", "content": f"Answer number {i}."},
            ]
        }
        for i in range(n)
    ]


def test_chat_file_is_cleaned_split_and_fingerprinted(write_jsonl):
    path = write_jsonl("chat.jsonl", chats(20) + chats(2))  # two exact duplicates
    data = prepare_data(path)
    assert data.format == "chat" and data.labels == []
    assert (len(data.train), len(data.val)) == (18, 2)
    assert all(isinstance(e, ChatExample) for e in data.train + data.val)
    assert data.report.before == 22 and data.report.after == 20
    assert len(data.fingerprint) == 64
    assert prepare_data(path).fingerprint == data.fingerprint
    assert prepare_data(path, seed=1).fingerprint != data.fingerprint
    assert prepare_data(path, val_fraction=0.2).fingerprint != data.fingerprint
    assert prepare_data(path, cleaning=CleaningConfig(dedup_exact=False)).fingerprint != data.fingerprint
    write_jsonl("chat.jsonl", chats(21))
    assert prepare_data(path).fingerprint != data.fingerprint


def test_alpaca_in_a_saved_dataset_folder(tmp_path):
    rows = [{"instruction": f"Task {i}", "input": "", "output": f"Done {i}"} for i in range(10)]
    datasets.Dataset.from_list(rows).save_to_disk(tmp_path / "ds")
    data = prepare_data(tmp_path / "ds", val_fraction=0.2)
    assert data.format == "alpaca"
    assert (len(data.train), len(data.val)) == (8, 2)
    assert data.train[0].messages[0]["role"] == "user"


def test_validation_file_replaces_the_split(write_jsonl):
    train_path = write_jsonl("train.jsonl", [{"text": f"训练 {i}", "label": "ab"[i % 2]} for i in range(10)])
    val_rows = [{"text": "训练 0", "label": "a"}, {"text": "new one", "label": "c"}]  # the first leaks from train
    val_path = write_jsonl("val.jsonl", val_rows)
    data = prepare_data(train_path, val_path=val_path)
    assert len(data.train) == 10
    assert [(e.text, e.label) for e in data.val] == [("new one", "c")]
    assert data.labels == ["a", "b", "c"]
    assert prepare_data(train_path, val_path=val_path).fingerprint == data.fingerprint
    with pytest.raises(DataError, match="is part of the training data"):
        prepare_data(train_path, val_path=train_path.parent / ".." / train_path.parent.name / train_path.name)


def test_explicit_format_and_unknown_format(write_jsonl):
    path = write_jsonl("d.jsonl", [{"text": f"t{i}", "label": "xy"[i % 2]} for i in range(4)])
    assert prepare_data(path, fmt="text").format == "text"
    with pytest.raises(DataError, match="unknown format 'csv'"):
        prepare_data(path, fmt="csv")


def test_nothing_left_after_cleaning(write_jsonl):
    path = write_jsonl("d.jsonl", [{"text": "short"}])
    with pytest.raises(DataError, match="no training examples left after cleaning"):
        prepare_data(path, cleaning=CleaningConfig(min_chars=100))


def test_settings_objects_with_the_same_fields_are_accepted(write_jsonl):
    @dataclass
    class Options:  # the shape of a training config's cleaning section
        html: bool = False
        normalize_unicode: bool = True
        whitespace: bool = True
        dedup_exact: bool = True
        dedup_near: bool = False
        near_threshold: float = 0.8
        min_chars: int | None = 3
        max_chars: int | None = None
        pii: bool = True

    path = write_jsonl("d.jsonl", [{"text": "hi"}, {"text": "mail a@b.com"}, {"text": "mail c@d.org"}])
    data = prepare_data(path, cleaning=Options(), val_fraction=0.0)
    assert [e.text for e in data.train] == ["mail [EMAIL]"]


def test_banking77_csv_is_classification_with_77_labels():
    if not BANKING77.is_dir():
        pytest.skip("../shared/datasets/banking77 is not present")
    data = prepare_data(BANKING77 / "train.csv")
    categories = json.loads((BANKING77 / "categories.json").read_text(encoding="utf-8"))
    assert data.format == "classification"
    assert data.labels == sorted(categories) and len(data.labels) == 77
    assert {e.label for e in data.val} == set(data.labels)  # stratified: every intent is validated
    assert len(data.train) + len(data.val) == data.report.after
