"""Model Lab without training: the page builds, data is listed and previewed, inputs are checked, tables and
curves are read from run folders."""

from __future__ import annotations

import json

import gradio as gr
import pytest

from apps.model_lab import ui
from apps.model_lab.jobs import JobManager, resume_command, run_dir_for, train_command
from apps.portal import build_portal
from core.data import DataError
from core.errors import ConfigError
from core.models import user_models
from core.serving.pool import ModelPool

FACTS = "finetune/facts_train.jsonl"


def write_run(settings, name: str, status: str = "completed", metrics: dict | None = None, model: bool = False):
    run_dir = settings.runs_dir / name
    run_dir.mkdir(parents=True)
    info = {
        "name": name,
        "task": "text-generation",
        "method": "lora",
        "base_model": "smollm2-135m-instruct",
        "base_path": "/nowhere",
        "created": f"2026-01-0{len(list(settings.runs_dir.iterdir()))}T10:00:00",
        "status": status,
    }
    (run_dir / "run.json").write_text(json.dumps(info))
    if metrics is not None:
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
    if model:
        (run_dir / "model").mkdir()
    return run_dir


def test_tab_builds_and_portal_has_model_lab_tab(lab_settings):
    with gr.Blocks() as page:
        ui.build(lab_settings)
    assert isinstance(page, gr.Blocks)
    assert (ui.TITLE, ui.ORDER) == ("Model Lab", 10)
    config = build_portal(lab_settings).get_config_file()
    labels = [c.get("props", {}).get("label") for c in config["components"]]
    assert "Model Lab" in labels and "Chat playground" in labels


def test_base_models_include_registered_and_user_names(lab_settings):
    assert "smollm2-135m-instruct" in ui.base_model_names(lab_settings)
    run = write_run(lab_settings, "r1", model=True)
    ui.register_run(lab_settings, "r1", "facts-bot")
    assert "facts-bot" in ui.base_model_names(lab_settings)
    assert ui.model_ref(lab_settings, "facts-bot") == str(run)
    assert ui.model_ref(lab_settings, "r1") == str(run)
    assert ui.model_ref(lab_settings, "smollm2-135m-instruct") == "smollm2-135m-instruct"
    assert ui.model_ref(lab_settings, "org/some-model") == "org/some-model"


def test_shared_data_listing_finds_the_fine_tuning_facts():
    found = ui.shared_datasets()
    assert FACTS in found
    assert all(not f.startswith("/") and f.endswith((".jsonl", ".json", ".csv")) for f in found)
    assert ui.shared_path(FACTS) == ui.SHARED_DATA.resolve() / FACTS
    with pytest.raises(DataError, match="no such file"):
        ui.shared_path("../README.md")


def test_preview_reports_format_counts_and_cleaning():
    text = ui.preview_data(ui.shared_path(FACTS))
    assert "format **chat**" in text and "**24 examples**" in text
    assert "examples: 24 -> 24" in text  # the cleaning report
    assert "classification" in ui.preview_markdown(ui.shared_path("support_bot/intents.csv"))


def test_preview_of_malformed_jsonl_names_file_and_line(tmp_path):
    bad = tmp_path / "broken.jsonl"
    good = json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]})
    bad.write_text(f"{good}\n{good}\n{{'messages': [oops\n{good}\n")
    with pytest.raises(DataError, match=r"broken\.jsonl line 3"):
        ui.preview_data(bad)
    text = ui.preview_markdown(bad)
    assert text.startswith("**Data problem:**") and str(bad) in text and "line 3" in text
    assert "Traceback" not in text


def test_uploads_are_checked_and_kept_under_home(lab_settings, tmp_path):
    src = tmp_path / "mine.jsonl"
    src.write_text((ui.SHARED_DATA / FACTS).read_text())
    kept = ui.dataset_path(lab_settings, str(src), FACTS)  # an upload wins over the shared choice
    assert kept.parent == lab_settings.home / "uploads" and kept.read_text() == src.read_text()
    with pytest.raises(DataError, match="upload limit is 0.0001 MB"):
        ui.stash_upload(lab_settings, src, max_mb=0.0001)
    with pytest.raises(DataError, match="unsupported file type"):
        ui.stash_upload(lab_settings, tmp_path / "notes.txt")
    with pytest.raises(DataError, match="choose the data"):
        ui.dataset_path(lab_settings, None, None)
    assert ui.dataset_path(lab_settings, None, FACTS) == ui.shared_path(FACTS)


def test_hyperparameters_blank_or_zero_mean_auto():
    assert ui.hyper_overrides("lora", 0, 0, 0, 0, "") == []
    assert ui.hyper_overrides("lora", None, None, None, None) == []
    assert ui.hyper_overrides("lora", 3, 3e-5, 8, 256, "max_steps=10") == [
        "epochs=3.0",
        "learning_rate=0.00003",
        "lora.r=8",
        "max_length=256",
        "max_steps=10",
    ]
    assert ui.hyper_overrides("full", 0, 0, 8, 0) == []  # no LoRA rank for full fine-tuning
    with pytest.raises(ConfigError, match="key=value"):
        ui.hyper_overrides("lora", extra="max_steps")
    with pytest.raises(ConfigError, match="positive"):
        ui.hyper_overrides("lora", epochs=-1)


def test_start_checks_inputs_before_starting_anything(lab_settings):
    manager = JobManager(lab_settings)
    data = ui.shared_path(FACTS)
    with pytest.raises(ConfigError, match="run name"):
        ui.start_training(manager, lab_settings, "smollm2-135m-instruct", data, run_name="../escape")
    with pytest.raises(ConfigError, match="base model"):
        ui.start_training(manager, lab_settings, " ", data)
    with pytest.raises(ConfigError, match="method"):
        ui.start_training(manager, lab_settings, "smollm2-135m-instruct", data, method="qlora-9000")
    write_run(lab_settings, "taken")
    with pytest.raises(ConfigError, match="already exists"):
        ui.start_training(manager, lab_settings, "smollm2-135m-instruct", data, run_name="taken")
    assert manager.running() == []
    with pytest.raises(ConfigError, match="no checkpoint|never started"):
        resume_command(lab_settings.runs_dir / "taken")


def test_train_command_is_llmeco_train(lab_settings):
    run_dir = run_dir_for(lab_settings, "r")
    cmd = train_command("m", "/d.jsonl", "lora", run_dir, ["max_steps=2"])
    assert cmd[1:] == ["-m", "apps.cli", "train", "--model", "m", "--data", "/d.jsonl", "--method", "lora"] + [
        "--output",
        str(run_dir),
        "max_steps=2",
    ]
    assert ui.default_run_name("org/base", "lora").endswith("-base-lora")


def test_curves_and_status_come_from_the_run_folder(lab_settings):
    run_dir = write_run(lab_settings, "curve", status="running")
    (run_dir / "config.yaml").write_text("config: {}\nchosen: {max_steps: 10}\n")
    lines = [
        {"step": 1, "loss": 2.5},
        {"step": 2, "loss": 2.0},
        {"step": 2, "eval_loss": 2.2},
        {"step": 2, "eval_loss": 2.1},  # the final evaluation repeats the last step
    ]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"step": 3, "lo')
    frame = ui.metrics_frame(run_dir)
    assert list(frame.columns) == ["step", "value", "series"]
    assert frame[frame.series == "train loss"].step.tolist() == [1, 2]
    assert frame[frame.series == "validation loss"].value.tolist() == [2.1]
    text = ui.status_markdown(run_dir, None)
    assert "running" in text and "step 2/10" in text and "train loss 2.0000" in text
    assert ui.metrics_frame(None).empty
    frame, text, log, running = ui.watch(JobManager(lab_settings), lab_settings, "curve")
    assert len(frame) == 3 and not running
    with pytest.raises(ConfigError, match="run name"):
        ui.watch(JobManager(lab_settings), lab_settings, "../../etc")


def test_plot_frame_keeps_every_series_in_the_legend():
    frame = ui.plot_frame(ui.metrics_frame(None))
    assert frame.series.tolist() == ["train loss", "validation loss"] and frame.value.isna().all()


def test_runs_table_and_choices(lab_settings):
    write_run(lab_settings, "a", metrics={"loss": 1.23456})
    write_run(lab_settings, "b", status="interrupted")
    write_run(lab_settings, "c", metrics={"loss": 0.5, "macro_f1": 0.9}, model=True)
    table = ui.runs_table(lab_settings)
    assert list(table.columns) == ui.RUN_COLUMNS
    assert table.name.tolist() == ["c", "b", "a"]  # newest first
    assert table.set_index("name").loc["a", "val loss"] == "1.2346"
    assert table.set_index("name").loc["c", "macro-F1"] == "0.9000"
    assert ui.run_names(lab_settings, with_model=True) == ["c"]


def test_metric_rows_show_scalars_and_per_class_f1():
    result = {
        "task": "classification",
        "model": "m",
        "data": "d",
        "accuracy": 0.75,
        "macro_f1": 0.5,
        "n": 4,
        "confusion_matrix": [[1, 0], [1, 2]],
        "per_class": {"a": {"precision": 0.5, "recall": 1.0, "f1": 0.6667, "support": 1}},
        "confusion_png": "/x.png",
    }
    rows = dict(ui.metric_rows(result))
    assert rows["accuracy"] == "0.7500" and rows["n"] == "4" and rows["F1 a"].startswith("0.6667")
    assert "confusion_matrix" not in rows and "model" not in rows


def test_register_and_rollback_errors_are_user_errors(lab_settings):
    write_run(lab_settings, "r1", model=True)
    with pytest.raises(ConfigError, match="built-in"):
        ui.register_run(lab_settings, "r1", "smollm2-135m-instruct")
    with pytest.raises(ConfigError, match="without spaces"):
        ui.register_run(lab_settings, "r1", "my bot")
    with pytest.raises(ConfigError, match="no registered model"):
        ui.rollback_model(lab_settings, "nobody")
    assert "v1" in ui.register_run(lab_settings, "r1", "bot")
    assert "v2" in ui.register_run(lab_settings, "r1", "bot")
    assert ui.rollback_model(lab_settings, "bot") == "**bot** now serves v1"
    table = ui.versions_table(lab_settings, "bot")
    assert table.version.tolist() == [1, 2] and table.role.tolist() == ["current", ""]
    assert ui.versions_table(lab_settings, None).empty


def test_canary_promote_and_rollback_from_the_ui(lab_settings):
    """Two versions of a run: a canary sends a share to the candidate (shown per name), promote makes it current,
    rollback returns to the earlier one; the registry records each change as the CLI's commands do."""
    write_run(lab_settings, "r1", model=True)
    ui.register_run(lab_settings, "r1", "bot")
    ui.register_run(lab_settings, "r1", "bot")
    ui.rollback_model(lab_settings, "bot")  # v1 current, v2 the newest: the default candidate
    assert ui.canary_model(lab_settings, "bot", 0.2) == "**bot**: v2 takes 20% of the traffic, v1 the rest"
    assert ui.registered_table(lab_settings).values.tolist() == [["bot", "v1", "v2", "20%", 2]]
    assert ui.versions_table(lab_settings, "bot").role.tolist() == ["current", "candidate (20%)"]
    assert ui.canary_model(lab_settings, "bot", 0) == "**bot**: canary ended; v1 takes all the traffic"
    assert ui.registered_table(lab_settings).values.tolist() == [["bot", "v1", "", "", 2]]

    ui.canary_model(lab_settings, "bot", 0.5, version=2)
    assert ui.promote_model(lab_settings, "bot") == "**bot** now serves v2"
    assert ui.registered_table(lab_settings).values.tolist() == [["bot", "v2", "", "", 2]]
    assert ui.rollback_model(lab_settings, "bot") == "**bot** now serves v1"
    actions = [e["action"] for e in user_models.history(lab_settings, "bot")]
    assert actions == ["register", "register", "rollback", "canary", "canary_stop", "canary", "promote", "rollback"]

    for bad, message in [
        (lambda: ui.canary_model(lab_settings, "bot", 0.2, version=1), "active version"),
        (lambda: ui.canary_model(lab_settings, "bot", 1.0), "between 0 and 1"),
        (lambda: ui.canary_model(lab_settings, "bot", None), "share of the traffic"),
        (lambda: ui.canary_model(lab_settings, "bot", 0.2, version=3), "no v3"),
        (lambda: ui.promote_model(lab_settings, "bot"), "no candidate to promote"),
        (lambda: ui.canary_model(lab_settings, "", 0.2), "choose a registered name"),
    ]:
        with pytest.raises(ConfigError, match=message):
            bad()
    assert ui.registered_table(lab_settings).values.tolist() == [["bot", "v1", "", "", 2]]  # nothing changed


def test_chat_errors_are_shown_not_raised(lab_settings):
    pool = ModelPool(lab_settings)
    with pytest.raises(gr.Error, match="Type a message"):
        list(ui.side_by_side(pool, lab_settings, "  ", [], [], "smollm2-135m-instruct", "x"))
    with pytest.raises(gr.Error, match="both sides"):
        list(ui.side_by_side(pool, lab_settings, "hi", [], [], "smollm2-135m-instruct", ""))
    with pytest.raises(gr.Error, match="Registered models"):
        list(ui.side_by_side(pool, lab_settings, "hi", [], [], "gpt-17", "gpt-18"))
