"""Trainer callbacks: a rich progress bar, and a metrics log + loss curve written while training runs (the
Model Lab page polls them for its live plot)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from transformers import TrainerCallback

from core.training.plots import plot_curves


class RichProgress(TrainerCallback):
    def __init__(self) -> None:
        self.progress: Progress | None = None
        self.task = None
        self.last: dict = {}

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        self.progress = Progress(
            TextColumn("[bold]training"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=state.max_steps, completed=state.global_step, info="")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.progress is None or not logs:
            return
        self.last.update({k: v for k, v in logs.items() if k in ("loss", "eval_loss", "eval_macro_f1")})
        info = " ".join(f"{k}={v:.4f}" for k, v in self.last.items())
        self.progress.update(self.task, info=info)

    def on_step_end(self, args, state, control, **kwargs):
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step)

    def on_train_end(self, args, state, control, **kwargs):
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class MetricsLogger(TrainerCallback):
    """Appends every log entry to ``metrics.jsonl`` and redraws ``loss.png`` after each evaluation."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        entry = {"step": state.global_step, "epoch": state.epoch, "time": time.time(), **logs}
        with (self.run_dir / "metrics.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
        if any(k.startswith("eval_") for k in logs):
            plot_curves(self.run_dir)

    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            plot_curves(self.run_dir)
