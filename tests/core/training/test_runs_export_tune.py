import csv
import json

import pytest
import torch
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


def chat_logits(model, tokenizer) -> torch.Tensor:
    """Next-token logits over a held-out fact question and its answer, rendered with the chat template."""
    example = json.loads((FACTS.parent / "facts_test.jsonl").read_text().splitlines()[0])
    ids = tokenizer.apply_chat_template(example["messages"], return_tensors="pt", return_dict=True)["input_ids"]
    with torch.no_grad():
        return model(input_ids=ids).logits[0].float()


def test_export_merges_an_adapter_that_changes_the_model(facts_run, user_home, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    files = registry.resolve(str(facts_run.run_dir), user_home, "text-generation", dtype="float32")
    tokenizer = AutoTokenizer.from_pretrained(str(files.adapter))
    base_model = AutoModelForCausalLM.from_pretrained(str(files.base), dtype=torch.float32).eval()
    base = chat_logits(base_model, tokenizer)
    adapter = chat_logits(PeftModel.from_pretrained(base_model, str(files.adapter)).eval(), tokenizer)
    assert (adapter - base).abs().max() > 5.0  # the adapter really changes the model (measured: 29)

    out = export(str(facts_run.run_dir), user_home, tmp_path / "merged")
    assert (out / "model.safetensors").exists() and not (out / "adapter_config.json").exists()
    merged = load_text_engine(str(out), user_home)
    assert not merged.quantized and json.loads((out / "llmeco.json").read_text())["quantize"] == "none"
    assert (chat_logits(merged.model, merged.tokenizer) - adapter).abs().max() < 1e-3  # merged == adapter (1.3e-4)

    out8 = export(str(facts_run.run_dir), user_home, tmp_path / "merged-int8", int8=True)
    assert load_text_engine(str(out8), user_home).quantized  # the export asks to be served with int8
    # ... over the same merged weights (what int8 rounding then costs is measured in benchmarks/finetune_serving.py).
    unquantized = user_home.model_copy(update={"text": user_home.text.model_copy(update={"quantize": "none"})})
    weights8 = load_text_engine(str(out8), unquantized)
    assert (chat_logits(weights8.model, weights8.tokenizer) - adapter).abs().max() < 1e-3
    with pytest.raises(ConfigError, match="not empty"):
        export(str(facts_run.run_dir), user_home, out)


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
