from pathlib import Path

import pytest

from core.config import load_settings
from core.training.config import TrainConfig
from core.training.trainer import train

FACTS = Path(__file__).resolve().parents[3] / "shared_data" / "finetune" / "facts_train.jsonl"
TINY = {"max_steps": 2, "max_length": 64, "lora": {"r": 4}, "eval_steps": 1, "save_steps": 2}


@pytest.fixture(scope="session")
def user_home(tmp_path_factory, settings):
    """A fresh LLMECO_HOME that shares the real model cache (no re-conversion)."""
    home = tmp_path_factory.mktemp("home")
    (home / "models").symlink_to(settings.models_dir)
    return load_settings(None, [f"home={home}"])


@pytest.fixture(scope="session")
def tiny_run(user_home):
    """A real two-step LoRA run on SmolLM2 (seconds): enough to exercise everything that consumes runs."""
    return train(TrainConfig(data=str(FACTS), name="tiny-lora", **TINY), user_home).run_dir
