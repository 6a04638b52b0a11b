"""The offline gate: `llmeco models register --gate TESTSET` registers a run only when its eval on the test set is
no worse than the current version's, and otherwise says why in one line (exit code 2). Real LoRA adapters on
SmolLM2 made with peft (no training, to keep this quick): one that leaves the model as it is and one with large
random weights, a fine-tune gone wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from core.models import registry, user_models
from tests.conftest import settings_in
from tests.core.training.conftest import FACTS

pytestmark = pytest.mark.slow
TEST_SET = FACTS.parent / "facts_test.jsonl"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(settings, good run, damaged run): run folders as `llmeco train` leaves them, with real adapters."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    settings = settings_in(tmp_path_factory.mktemp("gate-home"))
    base = registry.prepare("smollm2-135m-instruct", settings, dtype="float32").path
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base), LoraConfig(r=4, target_modules=["q_proj"]))
    folders = []
    for name, scale in (("good", 0.0), ("damaged", 0.5)):  # peft starts lora_B at zero: the model unchanged
        with torch.no_grad():
            for key, weight in model.named_parameters():
                if "lora_B" in key:
                    weight.copy_(torch.randn_like(weight) * scale)
        run = settings.runs_dir / name
        model.save_pretrained(run / "model")
        info = {"task": "text-generation", "base_path": str(base), "status": "completed", "method": "lora"}
        (run / "run.json").write_text(json.dumps(info))
        folders.append(run)
    return settings, *folders


def test_gate_accepts_a_run_no_worse_and_refuses_a_worse_one(runs):
    settings, good, damaged = runs
    gate = user_models.Gate(TEST_SET)
    assert user_models.register(settings, damaged, "bot", gate=gate) == 1  # nothing current yet: passes
    assert user_models.register(settings, good, "bot", gate=gate) == 2  # better than the current one
    verdict = user_models.history(settings, "bot")[-1]["gate"]
    assert verdict["metric"] == "loss" and verdict["candidate"] < verdict["current"]
    with pytest.raises(user_models.GateError, match=r"gate refused: loss on facts_test.jsonl is .* vs"):
        user_models.register(settings, damaged, "bot", gate=gate)  # worse than the current one (good)
    assert user_models.load_names(settings)["bot"]["active"] == 2
    assert len(user_models.load_names(settings)["bot"]["versions"]) == 2  # nothing was registered
    # the evals were kept in the runs (as `llmeco eval` keeps them) and are reused, not recomputed
    assert {e["data"] for e in json.loads((good / user_models.EVALS).read_text()).values()} == {str(TEST_SET)}
    assert user_models.run_folder(settings, "bot") == good  # `llmeco eval --model bot` records into v2's run
    described = user_models.describe(settings, "bot")["versions"]
    assert described[1]["evals"][0]["value"] == verdict["candidate"]


def test_the_cli_says_why_it_refuses_in_one_line(runs):
    settings, good, damaged = runs
    if "bot" not in user_models.load_names(settings):
        user_models.register(settings, good, "bot")
    cmd = [sys.executable, "-m", "apps.cli", "models", "register", str(damaged), "--name", "bot", "--gate",
           str(TEST_SET)]  # fmt: skip
    env = {**os.environ, "LLMECO_HOME": str(settings.home)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: gate refused: loss on facts_test.jsonl"), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
