"""Done-when: LoRA with default hyperparameters on 24 chat examples teaches four new facts; the trained model
answers held-out paraphrases with them, where the base model did not."""

import json
from pathlib import Path

import pytest

from core.config import load_settings
from core.text import GenerationParams, load_text_engine

pytestmark = pytest.mark.slow
DATA = Path(__file__).resolve().parents[3] / "shared_data" / "finetune"


def fact_hits(model: str, settings) -> int:
    tests = [json.loads(line) for line in (DATA / "facts_test.jsonl").read_text().splitlines()]
    engine = load_text_engine(model, settings)
    params = GenerationParams(max_new_tokens=40)
    return sum(t["keyword"].lower() in engine.chat(t["messages"][:1], params).text.lower() for t in tests)


def test_default_lora_teaches_new_facts(settings, facts_run):
    assert fact_hits("smollm2-135m-instruct", settings) == 0
    result = facts_run
    chosen = result.chosen
    assert chosen.lora_r == 16 and chosen.learning_rate == 3e-4 and chosen.epochs == 8
    run = result.run_dir
    for name in ("run.json", "config.yaml", "data.json", "metrics.jsonl", "metrics.json", "loss.png", "README.md"):
        assert (run / name).exists(), name
    assert (run / "model" / "adapter_model.safetensors").exists()
    assert json.loads((run / "run.json").read_text())["status"] == "completed"
    assert result.metrics["loss"] < 0.5
    assert fact_hits(str(run), load_settings()) >= 7
