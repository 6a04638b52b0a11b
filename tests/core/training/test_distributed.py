"""The same `llmeco train` command under torchrun: two CPU processes (gloo DDP)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
DATA = Path(__file__).resolve().parents[3] / "shared_data" / "finetune" / "facts_train.jsonl"


def test_two_process_ddp_run(tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29531",
        "-m", "apps.cli", "train", "--data", str(DATA), "--output", str(out),
        "max_steps=4", "max_length=64", "lora.r=4", "batch_size=2", "eval_steps=2", "save_steps=2",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    info = json.loads((out / "run.json").read_text())
    assert info["world_size"] == 2 and info["status"] == "completed"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 4 and metrics["loss"] > 0
    assert (out / "model" / "adapter_model.safetensors").exists()
