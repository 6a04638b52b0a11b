import csv
import json

import pytest
import yaml

from core.errors import ConfigError, UnknownModelError
from core.models import registry, user_models
from core.text import GenerationParams, load_text_engine
from core.training.config import TrainConfig
from core.training.export import export
from core.training.runs import list_runs
from core.training.tune import load_space, run_search

from .conftest import FACTS, TINY

pytestmark = pytest.mark.slow


def test_run_folder_is_listed_and_loadable_by_path(tiny_run, user_home):
    assert [r.name for r in list_runs(user_home)] == ["tiny-lora"]
    files = registry.resolve(str(tiny_run), user_home, "text-generation")
    assert files.adapter == tiny_run / "model" and files.fine_tuned
    with pytest.raises(UnknownModelError, match="text-generation run"):
        registry.resolve(str(tiny_run), user_home, "classification")
    out = load_text_engine(str(tiny_run), user_home).chat(
        [{"role": "user", "content": "Hi"}], GenerationParams(max_new_tokens=8)
    )
    assert out.completion_tokens > 0


def test_register_versions_and_rollback(tiny_run, user_home, tmp_path):
    other = tmp_path / "copy"
    other.mkdir()
    (other / "run.json").write_text((tiny_run / "run.json").read_text())
    (other / "model").symlink_to(tiny_run / "model")
    assert user_models.register(user_home, tiny_run, "support-lm") == 1
    assert user_models.register(user_home, other, "support-lm") == 2
    assert user_models.active_run(user_home, "support-lm") == other
    assert registry.resolve("support-lm", user_home, "text-generation").adapter == other / "model"
    assert user_models.rollback(user_home, "support-lm") == 1
    assert user_models.active_run(user_home, "support-lm") == tiny_run
    with pytest.raises(ConfigError, match="versions 1..2"):
        user_models.rollback(user_home, "support-lm", 5)
    with pytest.raises(ConfigError, match="not a training run"):
        user_models.register(user_home, tmp_path, "x")


def test_export_merges_lora_into_safetensors(tiny_run, user_home, tmp_path):
    out = export(str(tiny_run), user_home, tmp_path / "export", int8=True)
    assert (out / "model.safetensors").exists() and not (out / "adapter_config.json").exists()
    assert json.loads((out / "llmeco.json").read_text())["quantize"] == "int8"
    engine = load_text_engine(str(out), user_home)
    assert engine.quantized  # the export asked for int8 serving
    reference = load_text_engine(str(tiny_run), user_home)
    params = GenerationParams(max_new_tokens=12)
    msgs = [{"role": "user", "content": "Where was Nimbus Outfitters founded?"}]
    fp32 = load_text_engine(
        str(out), user_home.model_copy(update={"text": user_home.text.model_copy(update={"quantize": "none"})})
    )
    assert fp32.chat(msgs, params).text == reference.chat(msgs, params).text  # merge == adapter on top
    with pytest.raises(ConfigError, match="not empty"):
        export(str(tiny_run), user_home, out)


def test_grid_search_runs_each_point_and_saves_best(user_home, tmp_path):
    space_file = tmp_path / "space.yaml"
    space_file.write_text("lora.r: {choices: [2, 4]}\nlearning_rate: {choices: [0.0003]}\n")
    base = TrainConfig(data=str(FACTS), **{k: v for k, v in TINY.items() if k != "lora"})
    summary = run_search(base, load_space(space_file), user_home, "grid", 2, tmp_path / "tune")
    assert sorted(r["lora.r"] for r in summary["trials"]) == [2, 4]
    best = yaml.safe_load((tmp_path / "tune" / "best_config.yaml").read_text())
    assert best["lora"]["r"] == summary["best"]["lora.r"]
    with (tmp_path / "tune" / "results.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match="choices"):
        load_space(bad)


def test_lm_and_generation_eval_on_a_run(tiny_run, user_home, tmp_path):
    from core.training.evaluate import evaluate

    test_file = str(FACTS.parent / "facts_test.jsonl")
    lm = evaluate(str(tiny_run), test_file, user_home, task="lm")
    assert lm["task"] == "lm" and lm["n"] == 8 and lm["tokens"] > 50
    assert lm["perplexity"] == pytest.approx(2.718281828 ** lm["loss"], rel=1e-6)
    gen = evaluate(str(tiny_run), test_file, user_home, task="generation", output=tmp_path / "gen")
    assert set(gen) >= {"exact_match", "contains", "rouge_l"} and gen["n"] == 8
    outputs = [json.loads(line) for line in (tmp_path / "gen" / "outputs.jsonl").read_text().splitlines()]
    assert len(outputs) == 8 and all(o["reference"] and "prediction" in o for o in outputs)
    assert json.loads((tmp_path / "gen" / "metrics.json").read_text())["rouge_l"] == gen["rouge_l"]
    with pytest.raises(ConfigError, match="unknown eval task"):
        evaluate(str(tiny_run), test_file, user_home, task="bleu")
