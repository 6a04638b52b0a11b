"""CUDA training paths (skipped without CUDA; `.ci/gpu` runs them on a GPU host): a QLoRA step with bitsandbytes,
and `llmeco train` launched under torchrun with FSDP and with DeepSpeed ZeRO-2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from core.training.config import TrainConfig
from core.training.trainer import train

from .conftest import FACTS

pytestmark = [pytest.mark.gpu, pytest.mark.slow]
SHORT = {"max_steps": 2, "max_length": 64, "val_fraction": 0.0, "save_steps": 2}


def test_qlora_step_trains_a_4bit_model(settings, tmp_path):
    pytest.importorskip("bitsandbytes", reason="pip install '.[gpu]' for QLoRA")
    result = train(TrainConfig(data=str(FACTS), method="qlora", output=str(tmp_path / "q"), **SHORT), settings)
    assert result.metrics["steps"] == 2 and result.metrics["train_loss"] > 0
    assert (result.run_dir / "model" / "adapter_model.safetensors").exists()


def launch(tmp_path, name: str, *extra: str) -> dict:
    out = tmp_path / name
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(torch.cuda.device_count()),
           "-m", "apps.cli", "train", "--data", str(FACTS), "--output", str(out), "method=full", "batch_size=2",
           *(f"{k}={v}" for k, v in SHORT.items()), *extra]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, env=dict(os.environ))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return json.loads((out / "run.json").read_text())


def test_fsdp_launch(tmp_path):
    info = launch(tmp_path, "fsdp", "fsdp=full_shard auto_wrap")
    assert info["status"] == "completed" and info["world_size"] == torch.cuda.device_count()


def test_deepspeed_launch(tmp_path):
    pytest.importorskip("deepspeed", reason="pip install '.[gpu]' for DeepSpeed")
    ds = tmp_path / "ds.json"
    config = {"zero_optimization": {"stage": 2}, "bf16": {"enabled": "auto"},
              "train_micro_batch_size_per_gpu": "auto", "gradient_accumulation_steps": "auto"}  # fmt: skip
    ds.write_text(json.dumps(config))
    assert launch(tmp_path, "ds", f"deepspeed={ds}")["status"] == "completed"
