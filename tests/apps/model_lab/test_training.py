"""Model Lab end to end with the real model: a short LoRA run in a subprocess, watched, listed, evaluated,
registered and chatted with next to its base model; and a long run stopped from the page."""

from __future__ import annotations

import os
import time

import pytest

from apps.model_lab import ui
from apps.model_lab.jobs import JobManager
from core.models import user_models
from core.serving.pool import ModelPool
from core.training import runs
from core.training.plots import read_metrics
from tests.conftest import settings_in

pytestmark = pytest.mark.slow

BASE = "smollm2-135m-instruct"
QUICK = "max_steps=2 eval_steps=1 save_steps=2"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    settings = settings_in(tmp_path_factory.mktemp("lab-home"))
    manager = JobManager(settings)
    yield settings, manager
    manager.stop_all(grace=5)


@pytest.fixture(scope="module")
def trained(lab):
    settings, manager = lab
    data = ui.dataset_path(settings, None, "finetune/facts_train.jsonl")
    job = ui.start_training(
        manager, settings, BASE, data, "lora", lora_r=4, max_length=64, extra=QUICK, run_name="facts-quick"
    )
    try:
        rc = job.wait(timeout=300)
    except Exception:
        job.stop(grace=5)
        raise
    assert rc == 0, job.log_tail(40)
    return job


def test_short_training_run_is_watched_and_listed(lab, trained):
    settings, manager = lab
    run_dir = trained.run_dir
    assert run_dir == settings.runs_dir / "facts-quick"
    assert [r["loss"] for r in read_metrics(run_dir) if "loss" in r]
    frame, status, log, running = ui.watch(manager, settings, "facts-quick")
    assert not running
    assert len(frame[frame.series == "train loss"]) == 2
    assert not frame[frame.series == "validation loss"].empty
    assert "completed" in status and "step 2/2" in status
    assert "done" in log
    assert trained.log_path.read_text().startswith("$ llmeco train --model smollm2-135m-instruct --data ")
    assert runs.read_run(run_dir)["status"] == "completed"
    table = ui.runs_table(settings, manager).set_index("name")
    assert table.loc["facts-quick", "status"] == "completed"
    assert table.loc["facts-quick", "val loss"] != "-"
    assert "facts-quick" in ui.run_names(settings, with_model=True)


def test_evaluate_the_run_on_the_test_file(lab, trained):
    settings, _ = lab
    frame, png = ui.evaluate_model(settings, "facts-quick", ui.shared_path("finetune/facts_test.jsonl"))
    rows = dict(zip(frame.metric, frame.value, strict=True))
    assert rows["task"] == "lm" and float(rows["perplexity"]) > 1 and png is None
    assert (trained.run_dir / "evals" / "facts_test" / "metrics.json").exists()


def test_register_then_chat_side_by_side(lab, trained, transformers_engine):
    settings, _ = lab
    assert "v1" in ui.register_run(settings, "facts-quick", "facts-bot")
    assert user_models.active_run(settings, "facts-bot") == trained.run_dir

    pool = ModelPool(settings)
    pool.adopt(BASE, engine=transformers_engine)
    try:
        steps = list(
            ui.side_by_side(pool, settings, "Where was Nimbus Outfitters founded?", [], [], BASE, "facts-bot", 24)
        )
    finally:
        pool.close()
    left, right = steps[-1]
    assert len(steps) > 3
    assert [m["role"] for m in left] == ["user", "assistant"] and [m["role"] for m in right] == ["user", "assistant"]
    assert left[-1]["content"].strip() and right[-1]["content"].strip()


def test_stop_ends_the_process_and_the_run_is_interrupted(lab):
    settings, manager = lab
    data = ui.shared_path("finetune/facts_train.jsonl")
    job = ui.start_training(
        manager, settings, BASE, data, max_length=64, extra="max_steps=200 save_steps=150", run_name="long"
    )
    deadline = time.time() + 300
    while not [r for r in read_metrics(job.run_dir) if "loss" in r]:
        assert job.running, job.log_tail(40)
        assert time.time() < deadline, "no metrics within 300 s"
        time.sleep(1)
    assert manager.stop(job.run_dir)
    assert not job.running and job.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(job.process.pid, 0)
    frame, status, _, running = ui.watch(manager, settings, "long")
    assert not running and ("stopped" in status or "interrupted" in status)
    assert runs.read_run(job.run_dir)["status"] == "interrupted"
    assert ui.runs_table(settings, manager).set_index("name").loc["long", "status"].startswith(("stopped", "interr"))
    # Stopped before the first checkpoint (step 150; on a loaded machine the default, step 6, came first).
    with pytest.raises(Exception, match="no checkpoint"):
        manager.resume(job.run_dir)
