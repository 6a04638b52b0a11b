"""Training jobs for the Model Lab: ``llmeco train`` in a subprocess, so the portal stays responsive and a crash
in training (out of memory, a bad file) cannot take the portal down. Each job writes ``train.log`` in its run
folder; stopping sends Ctrl+C first so the trainer records the run as interrupted (resumable with ``--resume``)."""

from __future__ import annotations

import atexit
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import yaml

import apps
from core.config import Settings
from core.errors import ConfigError
from core.training import runs

REPO_ROOT = Path(apps.__file__).resolve().parents[1]
LOG_NAME = "train.log"
RESUME_NAME = ".resume.yaml"
_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def run_dir_for(settings: Settings, name: str) -> Path:
    """The run folder for ``name`` under ``settings.runs_dir``; the name must be a plain folder name."""
    name = name.strip()
    if not _RUN_NAME.match(name):
        raise ConfigError(
            f"run name {name!r} is not valid: use letters, digits, '.', '_' or '-' (at most 100), e.g. facts-lora-1"
        )
    return settings.runs_dir / name


def train_command(
    model: str, data: str | Path, method: str, run_dir: Path, overrides: list[str] | tuple[str, ...] = ()
) -> list[str]:
    """The ``llmeco train`` command line for one run."""
    return [
        sys.executable,
        "-m",
        "apps.cli",
        "train",
        "--model",
        model,
        "--data",
        str(data),
        "--method",
        method,
        "--output",
        str(run_dir),
        *overrides,
    ]


def resume_command(run_dir: Path) -> list[str]:
    """Continue ``run_dir`` from its last checkpoint with the config it was started with (from ``config.yaml``,
    so runs started from the command line resume too)."""
    if not (Path(run_dir) / "config.yaml").exists():
        raise ConfigError(f"{Path(run_dir).name} never started training (no config.yaml); start it again instead")
    config = dict(runs.read_run_config(run_dir).get("config") or {})
    if not (Path(run_dir) / "checkpoints").is_dir() or not any((Path(run_dir) / "checkpoints").glob("checkpoint-*")):
        raise ConfigError(f"{Path(run_dir).name} has no checkpoint yet (one is saved every save_steps steps)")
    for key in ("resume", "output"):
        config.pop(key, None)
    resume_file = Path(run_dir) / RESUME_NAME
    resume_file.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return [sys.executable, "-m", "apps.cli", "train", str(resume_file), "--output", str(run_dir), "--resume"]


def child_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "LLMECO_HOME": str(settings.home),
            "LLMECO_TRUST_REMOTE_CODE": "true" if settings.trust_remote_code else "false",
            "PYTHONUNBUFFERED": "1",  # the log file fills as training goes
            "COLUMNS": "160",  # rich wraps its (non-terminal) output at this width
        }
    )
    return env


@dataclass
class TrainJob:
    run_dir: Path
    command: list[str]
    process: subprocess.Popen
    log_path: Path
    started: float = field(default_factory=time.time)
    stopped: bool = False  # the user pressed Stop

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    def wait(self, timeout: float | None = None) -> int:
        rc = self.process.wait(timeout)
        self._record_end()
        return rc

    def stop(self, grace: float = 30.0) -> None:
        """Ctrl+C (the trainer marks the run interrupted and exits), then SIGTERM, then SIGKILL."""
        if not self.running:
            return
        self.stopped = True
        steps = [(signal.SIGINT, grace), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)]
        if os.name == "nt":  # no process groups / SIGINT delivery to a child on Windows
            steps = [(signal.SIGTERM, grace)]
        for sig, wait in steps:
            try:
                if os.name == "nt":
                    self.process.terminate()
                else:
                    os.killpg(self.process.pid, sig)
            except (ProcessLookupError, PermissionError):
                break
            try:
                self.process.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        self._record_end()

    def _record_end(self) -> None:
        """A process killed hard (or crashed) leaves run.json saying "running": record how it ended."""
        rc = self.process.poll()
        if rc is None:
            return
        info = runs.read_run(self.run_dir)
        if info is not None and info.get("status") == "running" and (self.stopped or rc != 0):
            runs.finish_run(self.run_dir, status="interrupted" if self.stopped else "failed")

    def log_tail(self, lines: int = 15) -> str:
        return log_tail(self.log_path, lines)


def log_tail(path: Path, lines: int = 15) -> str:
    if not Path(path).exists():
        return ""
    with open(path, encoding="utf-8", errors="replace") as f:
        return "".join(deque(f, maxlen=lines)).rstrip()


class JobManager:
    """The portal's training subprocesses, by run folder. ``max_running`` jobs at a time (training on a shared
    CPU or one GPU is fastest one run at a time)."""

    def __init__(self, settings: Settings, max_running: int = 1):
        self.settings = settings
        self.max_running = max_running
        self._jobs: dict[Path, TrainJob] = {}
        self._lock = threading.Lock()
        atexit.register(self.stop_all, 5.0)

    def get(self, run_dir: Path | str | None) -> TrainJob | None:
        if not run_dir:
            return None
        job = self._jobs.get(Path(run_dir).resolve())
        if job is not None and not job.running:
            job._record_end()
        return job

    def jobs(self) -> list[TrainJob]:
        """Every job this manager started, oldest first."""
        return list(self._jobs.values())

    def running(self) -> list[TrainJob]:
        return [j for j in self._jobs.values() if j.running]

    def start(
        self, model: str, data: str | Path, method: str, run_dir: Path, overrides: list[str] | tuple[str, ...] = ()
    ) -> TrainJob:
        """Start a new run in ``run_dir`` (which must not hold a run yet)."""
        run_dir = Path(run_dir).resolve()
        if runs.read_run(run_dir) is not None:
            raise ConfigError(f"a run named {run_dir.name!r} already exists: choose another name, or resume it")
        return self._launch(run_dir, train_command(model, Path(data).resolve(), method, run_dir, overrides))

    def resume(self, run_dir: Path) -> TrainJob:
        run_dir = Path(run_dir).resolve()
        return self._launch(run_dir, resume_command(run_dir))

    def _launch(self, run_dir: Path, command: list[str]) -> TrainJob:
        with self._lock:
            busy = self.running()
            if len(busy) >= self.max_running:
                names = ", ".join(j.run_dir.name for j in busy)
                raise ConfigError(f"a training job is already running ({names}): stop it or wait for it to finish")
            run_dir.mkdir(parents=True, exist_ok=True)
            log_path = run_dir / LOG_NAME
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(f"$ llmeco {' '.join(command[3:])}\n")
                log.flush()
                process = subprocess.Popen(
                    command,
                    cwd=REPO_ROOT,
                    env=child_env(self.settings),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=os.name != "nt",  # its own process group: Stop reaches it alone
                )
            job = TrainJob(run_dir=run_dir, command=command, process=process, log_path=log_path)
            self._jobs[run_dir] = job
            return job

    def stop(self, run_dir: Path | str, grace: float = 30.0) -> bool:
        job = self.get(run_dir)
        if job is None or not job.running:
            return False
        job.stop(grace)
        return True

    def stop_all(self, grace: float = 30.0) -> None:
        for job in list(self._jobs.values()):
            job.stop(grace)
