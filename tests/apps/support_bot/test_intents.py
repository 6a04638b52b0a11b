"""The intent classifier: CSV errors with file and line, the demo model trained for real (English and Chinese
held-out accuracy), atomic retraining, and train-then-score evaluation."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from apps.support_bot.config import SHARED_DATA
from apps.support_bot.intents import (
    INFO,
    IntentClassifier,
    ensure_intent_model,
    evaluate_intents,
    load_intents,
    read_intent_csv,
    train_intents,
)
from core.config import load_settings
from core.data import DataError
from core.errors import UnknownModelError
from tests.conftest import settings_in

CJK = re.compile(r"[\u4e00-\u9fff]")


def write(tmp_path: Path, content: str | bytes, name: str = "intents.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def write_rows(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([("text", "label"), *rows])
    return path


def test_read_intent_csv_accepts_label_or_category(tmp_path):
    rows = read_intent_csv(write(tmp_path, "text,category\nWhere is my card?,card_arrival\n你好,greeting\n"))
    assert rows == [("Where is my card?", "card_arrival"), ("你好", "greeting")]
    assert len(read_intent_csv(SHARED_DATA / "intents.csv")) == 128


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("question,label\nhi,greeting\n", "line 1: needs columns text and label (or category)"),
        ("text,label\nhi,greeting\n  ,refund\n", "line 3: empty text"),
        ("text,label\nhi,\nrefund please,refund\n", "line 2: empty label"),
        ("text,label\nhi,greeting\nbye\n", "line 3: 1 fields, but the header has 2"),
        (b"text,label\nhi,greeting\ncaf\xe9,refund\n", "line 3: not UTF-8"),
        ("", "holds no records"),
        ("text,label\n", "holds no records"),
    ],
)
def test_read_intent_csv_errors_name_file_and_line(tmp_path, content, message):
    path = write(tmp_path, content)
    with pytest.raises(DataError, match=re.escape(message)) as err:
        read_intent_csv(path)
    assert str(path) in str(err.value)


def test_training_needs_two_labels(tmp_path, settings):
    path = write(tmp_path, "text,label\nhi,greeting\nhello,greeting\n")
    with pytest.raises(DataError, match="needs at least 2 different labels"):
        train_intents(path, settings, tmp_path / "intents")
    assert not (tmp_path / "intents").exists()


def test_read_intent_csv_wants_a_csv(tmp_path):
    with pytest.raises(DataError, match=r"must be a \.csv file"):
        read_intent_csv(write(tmp_path, '{"text": "hi", "label": "greeting"}\n', "intents.jsonl"))


@pytest.fixture(scope="module")
def home_settings(tmp_path_factory, settings):
    """A fresh LLMECO_HOME (no intent model yet) sharing the real model cache."""
    return settings_in(tmp_path_factory.mktemp("intents-home"))


@pytest.fixture(scope="module")
def demo_model(home_settings) -> Path:
    """The shipped demo model, trained for real by ensure_intent_model (as `llmeco bot setup` does)."""
    return ensure_intent_model(home_settings)


@pytest.mark.slow
def test_ensure_intent_model_trains_once(home_settings, demo_model):
    info = json.loads((demo_model / INFO).read_text())
    assert demo_model == home_settings.home / "support_bot" / "intents"
    assert info["n_train"] == 128 and len(info["labels"]) == 8
    assert not (demo_model / "encoder" / "checkpoints").exists()
    stamp = (demo_model / INFO).stat().st_mtime_ns
    assert ensure_intent_model(home_settings) == demo_model
    assert (demo_model / INFO).stat().st_mtime_ns == stamp  # idempotent: not retrained


@pytest.mark.slow
def test_demo_model_classifies_english_and_chinese(home_settings, demo_model):
    clf = load_intents(home_settings)
    rows = read_intent_csv(SHARED_DATA / "intents_test.csv")
    preds = clf.predict([text for text, _ in rows])
    correct = {"en": [], "zh": []}
    for (text, label), p in zip(rows, preds, strict=True):
        correct["zh" if CJK.search(text) else "en"].append(p.label == label)
        assert 0 < p.confidence <= 1 and p.confidence == max(p.scores.values())
        assert set(p.scores) == set(clf.labels) and sum(p.scores.values()) == pytest.approx(1, abs=1e-6)
    # measured 16/16 English and 8/8 Chinese; the bounds leave room for run-to-run noise
    assert sum(correct["en"]) >= 14 and len(correct["en"]) == 16
    assert sum(correct["zh"]) >= 6 and len(correct["zh"]) == 8
    assert clf.predict([]) == []


@pytest.mark.slow
def test_configured_plain_core_classifier_is_used_alone(home_settings, demo_model):
    """intent_model may name any core classifier: here the demo model's encoder run folder."""
    run = demo_model / "encoder"
    settings = load_settings(None, [f"home={home_settings.home}", f"apps.support_bot.intent_model={run}"])
    assert ensure_intent_model(settings) == run / "model"
    clf = IntentClassifier(ensure_intent_model(settings), settings)
    assert len(clf.views) == 1 and clf.predict(["I want to talk to a human agent"])[0].label == "human_agent"


@pytest.mark.slow
def test_failed_retrain_keeps_the_old_model(home_settings, demo_model, tmp_path):
    before = (demo_model / INFO).read_text()
    bad = write(tmp_path, "text,label\nhi,greeting\n,refund\n")
    with pytest.raises(DataError, match="line 3: empty text"):
        train_intents(bad, home_settings, demo_model)
    with pytest.raises(UnknownModelError):  # fails inside the fine-tune, after the work folder exists
        train_intents(SHARED_DATA / "intents.csv", home_settings, demo_model, model="no-such-encoder")
    assert (demo_model / INFO).read_text() == before
    assert [p.name for p in demo_model.parent.iterdir()] == ["intents"]  # no half-written folder left


@pytest.mark.slow
def test_evaluate_intents_on_a_small_subset(tmp_path, settings, capfd):
    keep = {"refund", "shipping", "greeting", "human_agent"}
    rows = [r for r in read_intent_csv(SHARED_DATA / "intents.csv") if r[1] in keep]
    test_rows = [r for r in read_intent_csv(SHARED_DATA / "intents_test.csv") if r[1] in keep]
    train, test = write_rows(tmp_path / "train.csv", rows), write_rows(tmp_path / "test.csv", test_rows)
    result = evaluate_intents(train, test, settings, progress=False)
    assert capfd.readouterr().out == ""  # stdout stays clean for `eval-intents --json`
    assert (result["n_train"], result["n_test"], result["n_labels"]) == (64, 12, 4)
    assert result["accuracy"] >= 0.9 and result["macro_f1"] >= 0.9  # measured 1.0
    assert result["labels"] == sorted(keep) and sum(map(sum, result["confusion_matrix"])) == 12
    assert result["train_seconds"] > 0 and "fine-tuned" in result["method"]


def test_evaluate_intents_rejects_unknown_test_labels_before_training(tmp_path, settings):
    train = write(tmp_path, "text,label\nhi,greeting\nrefund please,refund\n", "train.csv")
    test = write(tmp_path, "text,label\nwhere is it,order_status\n", "test.csv")
    with pytest.raises(DataError, match="order_status"):
        evaluate_intents(train, test, settings, progress=False)
