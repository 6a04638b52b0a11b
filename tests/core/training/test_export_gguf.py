"""Done-when of GGUF export: the defaults-trained LoRA run, exported with ``--format gguf --quant q8_0``, answers the
held-out fact questions as well as the merged fp32 model, is served by llama.cpp, and loads by name in the real
``llmeco serve``; bad inputs get one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from core.errors import ConfigError
from core.models import user_models
from core.text import choose_engine
from core.training.export import BelowTolerance, export_gguf
from core.training.export_check import Tolerance
from tests.conftest import serving, settings_in

from .conftest import FACTS
from .test_train_facts import fact_hits

pytestmark = pytest.mark.slow
NAME = "facts-gguf"


def scratch_run(run, into):
    """A run folder sharing ``run``'s adapter: exports link into it, not into the session's shared run."""
    into.mkdir(parents=True)
    for name in ("run.json", "config.yaml"):
        (into / name).write_text((run / name).read_text())
    (into / "model").symlink_to(run / "model", target_is_directory=True)
    return into


@pytest.fixture(scope="module")
def exported(facts_run, user_home, tmp_path_factory):
    """``llmeco export RUN --format gguf --quant q8_0 --name facts-gguf`` on the defaults-trained run."""
    run = scratch_run(facts_run.run_dir, tmp_path_factory.mktemp("gguf") / "run")
    result = export_gguf(str(run), user_home, run.parent / "q8_0", "q8_0", name=NAME)
    return run, result


def test_q8_0_export_answers_the_held_out_facts_as_well_as_fp32(exported, user_home):
    run, result = exported
    report = result.report
    assert report["passed"] and report["examples"] >= 2
    assert report["agreement"]["rouge_l"] >= Tolerance().min_rouge_l
    assert report["gguf"]["perplexity"] <= report["fp32"]["perplexity"] * 1.1
    assert choose_engine(user_home, str(run)) == "llamacpp"  # the run itself now takes the fast path
    assert choose_engine(user_home, NAME) == "llamacpp"
    fp32 = user_home.model_copy(update={"text": user_home.text.model_copy(update={"engine": "transformers"})})
    fp32_hits = fact_hits(str(run), fp32)
    assert fp32_hits >= 7
    assert fact_hits(NAME, user_home) >= fp32_hits


def test_export_keeps_the_base_gguf_tokenizer_and_chat_template(exported, user_home):
    from gguf import GGUFReader

    from core.models import registry

    _, result = exported
    base = GGUFReader(registry.resolve("smollm2-135m-instruct", user_home, "text-generation").gguf)
    ours = GGUFReader(result.path)
    keys = [k for k in base.fields if k.startswith("tokenizer.")]
    assert "tokenizer.chat_template" in keys and "tokenizer.ggml.merges" in keys
    assert all(ours.fields[k].contents() == base.fields[k].contents() for k in keys)
    assert {t.tensor_type.name for t in ours.tensors} == {"Q8_0", "F32"}


def test_registered_export_loads_by_name_in_llmeco_serve(exported, user_home):
    test = json.loads((FACTS.parent / "facts_test.jsonl").read_text().splitlines()[2])
    env = {**os.environ, "LLMECO_HOME": str(user_home.home)}
    with serving([sys.executable, "-m", "apps.cli", "serve", "--model", NAME], env) as url:
        body = {"model": NAME, "messages": test["messages"][:1], "max_tokens": 40}
        r = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=120)
    assert r.status_code == 200, r.text
    assert test["keyword"].lower() in r.json()["choices"][0]["message"]["content"].lower()


def test_model_lab_export_step_reports_size_speed_and_agreement(facts_run, tmp_path):
    from apps.model_lab import ui

    (tmp_path / "lab").mkdir()
    lab = settings_in(tmp_path / "lab")
    scratch_run(facts_run.run_dir, lab.runs_dir / "lab-run")
    text = ui.export_to_gguf(lab, "lab-run", "q4_k_m")
    assert "| size | | " in text and " MB |" in text and "| tokens/s |" in text and "answers equal to fp32's" in text
    assert "now served by llama.cpp" in text or "**Not used:**" in text
    with pytest.raises(ConfigError, match="choose a run"):
        ui.export_to_gguf(lab, "", "q8_0")


def test_an_export_below_tolerance_is_neither_linked_nor_registered(facts_run, user_home, tmp_path):
    run = scratch_run(facts_run.run_dir, tmp_path / "run")
    impossible = Tolerance(min_rouge_l=1.01)
    with pytest.raises(BelowTolerance, match="below tolerance") as caught:
        export_gguf(str(run), user_home, tmp_path / "f16", "f16", tolerance=impossible, name="never")
    assert not caught.value.report["passed"] and (tmp_path / "f16" / "model-f16.gguf").exists()
    assert user_models.gguf_for(user_home, str(run)) is None and choose_engine(user_home, str(run)) == "transformers"
    with pytest.raises(ConfigError, match="quality tolerance"):
        user_models.register(user_home, tmp_path / "f16", "never")


def test_bad_inputs_get_clear_errors(tiny_run, user_home, tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    with pytest.raises(ConfigError, match="unknown GGUF quantisation 'q5'"):
        export_gguf(str(tiny_run), user_home, tmp_path / "a", "q5")
    gpt2 = tmp_path / "gpt2"
    GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=8, vocab_size=64)).save_pretrained(gpt2)
    with pytest.raises(ConfigError, match="supports llama and qwen2 models; this one is 'gpt2'"):
        export_gguf(str(gpt2), user_home, tmp_path / "b", data=str(FACTS))
    with pytest.raises(ConfigError, match="needs chat data"):
        export_gguf("smollm2-135m-instruct", user_home, tmp_path / "c")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(ConfigError, match="not empty"):
        export_gguf(str(tiny_run), user_home, tmp_path / "full")
    env = {**os.environ, "LLMECO_HOME": str(user_home.home)}
    cli = [sys.executable, "-m", "apps.cli", "export", str(tiny_run), "--format", "onnx", "-o", str(tmp_path / "d")]
    done = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and "unknown export format 'onnx'" in done.stderr and "Traceback" not in done.stderr


def test_hugging_face_base_gets_metadata_built_from_its_tokenizer(user_home, tmp_path):
    """Without a base GGUF the vocabulary, merges, special tokens and template come from tokenizer files: llama.cpp
    then tokenises a chat exactly like transformers and predicts the same next tokens."""
    import numpy as np
    import torch
    from llama_cpp import Llama
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.models import registry
    from core.training.to_gguf import write_gguf

    folder = registry.resolve("smollm2-135m-instruct", user_home, "text-generation", dtype="float32").path
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    path = write_gguf(model, folder, tmp_path / "hf.gguf", "f16", base_gguf=None, name="hf")
    messages = [{"role": "user", "content": "Add 1234 and 56, then say: Hello, world!"}]
    text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    llm = Llama(model_path=str(path), n_ctx=256, n_threads=2, logits_all=True, verbose=False)
    try:
        assert llm.tokenize(text.encode(), add_bos=False, special=True) == ids
        llm.eval(ids)
        ours = np.array(llm.scores[: len(ids)])
    finally:
        llm.close()
    with torch.no_grad():
        reference = model(input_ids=torch.tensor([ids])).logits[0].numpy()
    assert (ours.argmax(-1) == reference.argmax(-1)).all()  # q/k rows permuted the way llama.cpp expects
    assert np.abs(ours - reference).max() < 0.5  # f16 rounding only (measured: 0.1)
