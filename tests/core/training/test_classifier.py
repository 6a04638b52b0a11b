"""Sequence-classification fine-tuning of an encoder (the support bot's intent model) and its evaluation."""

import json
from pathlib import Path

import pytest

from core.classify import TransformersClassifier
from core.models import registry
from core.training.config import TrainConfig
from core.training.evaluate import evaluate
from core.training.trainer import train

pytestmark = pytest.mark.slow
DATA = Path(__file__).resolve().parents[3] / "shared_data" / "support_bot"


def test_intent_classifier_fine_tune_and_eval(settings, tmp_path):
    cfg = TrainConfig(model="all-minilm-l6-v2", data=str(DATA / "intents.csv"), output=str(tmp_path / "clf"))
    result = train(cfg, settings)
    assert result.chosen.lora_r is None and result.chosen.epochs == 10
    info = json.loads((result.run_dir / "run.json").read_text())
    assert info["task"] == "classification" and len(info["labels"]) == 8
    report = evaluate(str(result.run_dir), str(DATA / "intents_test.csv"), settings, output=tmp_path / "eval")
    assert report["task"] == "classification" and report["n"] == 24
    assert report["accuracy"] >= 0.75 and report["macro_f1"] >= 0.7
    assert (tmp_path / "eval" / "confusion.png").stat().st_size > 1000
    clf = TransformersClassifier(registry.resolve(str(result.run_dir), settings, "classification").path)
    assert clf.predict(["I want to speak to a human please"])[0].label == "human_agent"
