from pathlib import Path

import pytest

from core.training.config import TrainConfig
from core.training.trainer import train
from tests.conftest import settings_in

FACTS = Path(__file__).resolve().parents[3] / "shared_data" / "finetune" / "facts_train.jsonl"
TINY = {"max_steps": 2, "max_length": 64, "lora": {"r": 4}, "eval_steps": 1, "save_steps": 2}


@pytest.fixture(scope="session")
def user_home(tmp_path_factory, settings):
    """A fresh LLMECO_HOME that shares the real model cache (no re-conversion)."""
    return settings_in(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="session")
def tiny_run(user_home):
    """A real two-step LoRA run on SmolLM2 (seconds): enough to exercise everything that consumes runs."""
    return train(TrainConfig(data=str(FACTS), name="tiny-lora", **TINY), user_home).run_dir


@pytest.fixture(scope="session")
def facts_run(tmp_path_factory, settings):
    """The default LoRA recipe on the 24 fact-learning chats (~2 min): an adapter that measurably changes the
    model's answers, shared by the fact-learning and the export tests."""
    return train(TrainConfig(data=str(FACTS), output=str(tmp_path_factory.mktemp("facts") / "run")), settings)
