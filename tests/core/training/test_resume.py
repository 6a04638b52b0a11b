"""Killing a run mid-way (SIGKILL) and resuming it reaches the same final loss as an uninterrupted run."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
DATA = Path(__file__).resolve().parents[3] / "shared_data" / "finetune" / "facts_train.jsonl"
ARGS = [
    "max_steps=6",
    "save_steps=3",
    "eval_steps=3",
    "max_length=48",
    "batch_size=2",
    "lora.r=4",
    "early_stopping_patience=null",
]


def llmeco_train(out: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "apps.cli", "train", "--data", str(DATA), "--output", str(out), *ARGS, *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ})


@pytest.mark.parametrize("method", ["lora", "full"])
def test_kill_and_resume_matches_uninterrupted(tmp_path, method):
    straight = llmeco_train(tmp_path / "straight", "--method", method)
    assert straight.wait(900) == 0, straight.stdout.read()
    shutil.rmtree(tmp_path / "straight" / "checkpoints")  # not needed again; a full run's are GBs (optimizer state)

    killed = llmeco_train(tmp_path / "killed", "--method", method)
    ckpt = tmp_path / "killed" / "checkpoints" / "checkpoint-3"
    deadline = time.time() + 900
    while not (ckpt / "trainer_state.json").exists():
        assert killed.poll() is None and time.time() < deadline, "run ended before its second checkpoint"
        time.sleep(0.2)
    time.sleep(1)  # let the checkpoint finish writing its RNG state
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert not (tmp_path / "killed" / "model").exists()

    resumed = llmeco_train(tmp_path / "killed", "--method", method, "--resume")
    log = resumed.stdout.read()
    assert resumed.wait(900) == 0, log
    a = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    b = json.loads((tmp_path / "killed" / "metrics.json").read_text())
    assert a["steps"] == b["steps"] == 6
    assert abs(a["loss"] - b["loss"]) / a["loss"] < 0.01
    assert abs(a["train_loss"] - b["train_loss"]) / a["train_loss"] < 0.01


def test_existing_run_needs_resume_and_resume_needs_a_checkpoint(tmp_path):
    empty = llmeco_train(tmp_path / "nothing", "--resume")
    out = empty.stdout.read()
    assert empty.wait(300) == 2 and "no checkpoint" in out and "Traceback" not in out


def test_sigterm_marks_the_run_interrupted(tmp_path):
    run = llmeco_train(tmp_path / "term", "--method", "lora")
    deadline = time.time() + 600
    while not (tmp_path / "term" / "metrics.jsonl").exists():
        assert run.poll() is None and time.time() < deadline
        time.sleep(0.2)
    run.send_signal(signal.SIGTERM)
    assert run.wait(120) != 0
    assert json.loads((tmp_path / "term" / "run.json").read_text())["status"] == "interrupted"
