"""Model Lab tab: pick a base model and data, preview it, fine-tune in a subprocess while watching the loss curve,
evaluate, compare runs, register the best one under a name (then try a new version on a share of the traffic as a
canary, promote it or roll back), export it to GGUF for llama.cpp speed, and chat with it next to its base model.

Everything except ``build`` is a plain function over ``core`` interfaces, so tests call them directly."""

from __future__ import annotations

import hashlib
import queue
import shlex
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import pandas as pd

import apps
from apps.chat_history import to_chat_messages
from apps.model_lab.jobs import JobManager, TrainJob, log_tail, run_dir_for
from core.config import Settings, parse_overrides
from core.data import ChatExample, ClassificationExample, DataError, prepare_data
from core.errors import ConfigError, LLMEcoError
from core.governance.audit import acting_as, ui_actor
from core.models import registry, user_models
from core.serving.pool import ModelPool
from core.text import GenerationParams, Request
from core.training import runs
from core.training.plots import read_metrics

TITLE = "Model Lab"
ORDER = 10

SHARED_DATA = Path(apps.__file__).resolve().parents[1] / "shared_data"
DATA_SUFFIXES = (".jsonl", ".json", ".csv")
MAX_UPLOAD_MB = 50
METHODS = ("lora", "full")
PLOT_SERIES = {"loss": "train loss", "eval_loss": "validation loss"}
PLOT_COLORS = {"train loss": "#2563eb", "validation loss": "#f97316"}
PLOT_CAPTION = "blue: train loss · orange: validation loss"  # Gradio 6 does not always draw the legend
SERIES = {**PLOT_SERIES, "eval_macro_f1": "validation macro-F1"}  # the status line also shows macro-F1
RUN_COLUMNS = ["name", "task", "method", "base", "status", "val loss", "macro-F1", "created"]


# ---------------------------------------------------------------- models and data


def base_model_names(settings: Settings) -> list[str]:
    """Registered text-generation models, then names users registered for their runs."""
    names = [s.name for s in registry.all_specs() if s.task == "text-generation"]
    return names + [n for n in sorted(user_models.load_names(settings)) if n not in names]


def shared_datasets(root: Path = SHARED_DATA) -> list[str]:
    """Data files under ``shared_data/`` (recursively), as paths relative to it."""
    if not root.is_dir():
        return []
    found = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in DATA_SUFFIXES]
    return sorted(p.relative_to(root).as_posix() for p in found)


def shared_path(relative: str, root: Path = SHARED_DATA) -> Path:
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()) or not path.is_file():
        raise DataError(f"{relative}: no such file in shared_data/")
    return path


def stash_upload(settings: Settings, upload: str | Path, max_mb: float = MAX_UPLOAD_MB) -> Path:
    """Check an uploaded file and keep a copy under ``$LLMECO_HOME/uploads`` (the run refers to it on resume)."""
    src = Path(upload)
    if src.suffix.lower() not in DATA_SUFFIXES:
        raise DataError(f"{src.name}: unsupported file type {src.suffix!r}; upload a .jsonl, .json or .csv file")
    size = src.stat().st_size
    if size > max_mb * 1024 * 1024:
        raise DataError(
            f"{src.name} is {size / 1024 / 1024:.1f} MB; the upload limit is {max_mb:g} MB. For larger data run"
            " `llmeco train --data FILE` on the command line"
        )
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:12]
    dest = settings.home / "uploads" / f"{digest}-{src.name}"
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    return dest


def dataset_path(settings: Settings, upload: str | None, shared: str | None) -> Path:
    """The uploaded file if there is one, else the chosen shared_data file."""
    if upload:
        return stash_upload(settings, upload)
    if shared:
        return shared_path(shared)
    raise DataError("choose the data: upload a .jsonl, .json or .csv file, or pick one from shared_data/")


def preview_data(path: str | Path) -> str:
    """Markdown: detected format, example counts, the cleaning report and a sample. Raises ``DataError``."""
    data = prepare_data(path)
    n_train, n_val = len(data.train), len(data.val)
    lines = [
        f"**{Path(path).name}**: format **{data.format}**, **{n_train + n_val} examples** after cleaning"
        f" ({n_train} train / {n_val} validation; {data.report.before} read)",
    ]
    if data.labels:
        shown = ", ".join(data.labels[:20]) + (" ..." if len(data.labels) > 20 else "")
        lines.append(f"{len(data.labels)} labels: {shown}")
    lines += ["", "```", data.report.summary(), "```", "", f"First example: {_sample(data.train[0])}"]
    return "\n".join(lines)


def _sample(example, limit: int = 300) -> str:
    if isinstance(example, ChatExample):
        text = " | ".join(f"{m['role']}: {m['content']}" for m in example.messages)
    elif isinstance(example, ClassificationExample):
        text = f"{example.text} -> {example.label}"
    else:
        text = example.text
    text = text if len(text) <= limit else text[:limit] + " ..."
    return f"`{text.replace('`', chr(39))}`"


def preview_markdown(path: str | Path) -> str:
    """``preview_data`` that never raises: problems with the data become an error paragraph."""
    try:
        return preview_data(path)
    except LLMEcoError as exc:
        return f"**Data problem:** {exc}"
    except Exception as exc:  # an unexpected reader failure is still a message, not a traceback
        return f"**Data problem:** {Path(path).name} could not be read ({type(exc).__name__}: {exc})"


# ---------------------------------------------------------------- training


def _number(value) -> str:
    text = f"{float(value):.12f}".rstrip("0").rstrip(".")
    return text if "." in text or "e" in text else f"{text}.0"


def hyper_overrides(
    method: str,
    epochs: float | None = None,
    learning_rate: float | None = None,
    lora_r: int | None = None,
    max_length: int | None = None,
    extra: str = "",
) -> list[str]:
    """``key=value`` overrides for ``llmeco train``; empty / 0 leaves the choice to ``core.training.defaults``.
    ``extra`` holds further ``key=value`` pairs (e.g. ``max_steps=100 batch_size=8``)."""
    values = {"epochs": epochs, "learning_rate": learning_rate, "lora.r": lora_r, "max_length": max_length}
    for key, value in values.items():
        if value is not None and value != "" and float(value) < 0:
            raise ConfigError(f"{key} must be positive (0 or empty = auto)")
    out = []
    if epochs:
        out.append(f"epochs={_number(epochs)}")
    if learning_rate:
        out.append(f"learning_rate={_number(learning_rate)}")
    if lora_r and method != "full":
        out.append(f"lora.r={int(lora_r)}")
    if max_length:
        out.append(f"max_length={int(max_length)}")
    try:
        out += shlex.split(extra or "")
    except ValueError as exc:
        raise ConfigError(f"extra settings: {exc}") from None
    parse_overrides(out)  # a malformed pair is reported now, not in the training log
    return out


def default_run_name(model: str, method: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{Path(model.strip()).name or 'model'}-{method}"


def start_training(
    manager: JobManager,
    settings: Settings,
    model: str,
    data: str | Path,
    method: str = "lora",
    epochs: float | None = None,
    learning_rate: float | None = None,
    lora_r: int | None = None,
    max_length: int | None = None,
    extra: str = "",
    run_name: str = "",
) -> TrainJob:
    """Start ``llmeco train`` for these choices in ``settings.runs_dir/<run_name>``."""
    model = (model or "").strip()
    if not model:
        raise ConfigError("choose a base model")
    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}")
    overrides = hyper_overrides(method, epochs, learning_rate, lora_r, max_length, extra)
    run_dir = run_dir_for(settings, (run_name or "").strip() or default_run_name(model, method))
    return manager.start(model, data, method, run_dir, overrides)


def metrics_frame(run_dir: Path | str | None) -> pd.DataFrame:
    """Train loss and validation loss against the step, long format (columns step, value, series)."""
    points: dict[tuple[str, int], float] = {}
    for entry in read_metrics(Path(run_dir)) if run_dir else []:
        for key, series in PLOT_SERIES.items():
            if key in entry and "step" in entry:
                points[(series, int(entry["step"]))] = float(entry[key])  # a re-evaluation replaces the point
    rows = [{"step": step, "value": value, "series": series} for (series, step), value in points.items()]
    frame = pd.DataFrame(rows, columns=["step", "value", "series"]).astype({"step": "int64", "value": "float64"})
    return frame.sort_values(["series", "step"], ignore_index=True)  # typed even when empty: numeric plot axes


def plot_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` plus an empty (null) point for each series that has none yet. The plot fixes its colour legend
    when first drawn and later only swaps the data, so every series must be present from the start."""
    missing = [s for s in PLOT_SERIES.values() if s not in set(frame.series)]
    if not missing:
        return frame
    empty = pd.DataFrame({"step": [float("nan")] * len(missing), "value": float("nan"), "series": missing})
    both = pd.concat([frame.astype({"step": "float64"}), empty], ignore_index=True)
    return both.sort_values(["series", "step"], ignore_index=True)


def _max_steps(run_dir: Path) -> int | None:
    try:
        return int(runs.read_run_config(run_dir)["chosen"]["max_steps"])
    except (OSError, KeyError, TypeError, ValueError):
        return None


def run_status(run_dir: Path, job: TrainJob | None) -> str:
    """running / stopping / completed / interrupted (stopped) / failed / not started."""
    info = runs.read_run(run_dir)
    if job is not None and job.running:
        return "stopping" if job.stopped else ("running" if info else "starting")
    if job is not None and job.stopped:
        return "stopped (interrupted)"
    if info is not None:
        return info.get("status", "unknown")
    if job is not None:
        return f"failed (exit code {job.returncode})"
    return "not started"


def status_markdown(run_dir: Path, job: TrainJob | None) -> str:
    """One line for the watched run: status, step/max and the latest losses (plus the error when it failed)."""
    status = run_status(run_dir, job)
    parts = [f"**{run_dir.name}**: {status}"]
    rows = read_metrics(run_dir)
    steps = [r["step"] for r in rows if "step" in r]
    if steps:
        total = _max_steps(run_dir)
        parts.append(f"step {steps[-1]}/{total}" if total else f"step {steps[-1]}")
    for key, label in SERIES.items():
        last = [r[key] for r in rows if key in r]
        if last:
            parts.append(f"{label} {last[-1]:.4f}")
    text = " · ".join(parts)
    if status.startswith(("stopped", "interrupted")):
        text += "\n\nResume continues from the last checkpoint (saved every save_steps steps)."
    error = _log_error(run_dir)
    if error and status.startswith(("failed", "interrupted", "stopped")):
        text += f"\n\n**Error:** {error}"
    return text


def _log_error(run_dir: Path) -> str | None:
    lines = [line for line in log_tail(run_dir / "train.log", 40).splitlines() if line.startswith("error:")]
    return lines[-1].removeprefix("error:").strip() if lines else None


def watch(manager: JobManager, settings: Settings, run: str | None) -> tuple[pd.DataFrame, str, str, bool]:
    """(loss curve, status, log tail, still running) for the run named ``run``."""
    if not run:
        return plot_frame(metrics_frame(None)), "No run selected: start one, or pick one to watch.", "", False
    run_dir = run_dir_for(settings, run)
    job = manager.get(run_dir)
    log = job.log_tail() if job else log_tail(run_dir / "train.log")
    return plot_frame(metrics_frame(run_dir)), status_markdown(run_dir, job), log, bool(job and job.running)


# ---------------------------------------------------------------- runs: compare, evaluate, register


def run_names(settings: Settings, with_model: bool = False) -> list[str]:
    """Run names, newest first; ``with_model``: only runs that produced a model."""
    found = sorted(runs.list_runs(settings), key=lambda r: r.created, reverse=True)
    return [r.name for r in found if not with_model or (r.path / "model").is_dir()]


def runs_table(settings: Settings, manager: JobManager | None = None) -> pd.DataFrame:
    """Every run with its headline numbers (the ``llmeco runs list`` table)."""
    rows = []
    for r in sorted(runs.list_runs(settings), key=lambda r: r.created, reverse=True):
        job = manager.get(r.path) if manager else None
        loss, f1 = r.metrics.get("loss"), r.metrics.get("macro_f1")
        status = run_status(r.path, job) if job else r.status
        rows.append(
            [
                r.name,
                r.task,
                r.method,
                r.base_model,
                status,
                f"{loss:.4f}" if loss is not None else "-",
                f"{f1:.4f}" if f1 is not None else "-",
                r.created,
            ]
        )
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def model_ref(settings: Settings, choice: str) -> str:
    """What a model choice means: a built-in name, a registered name's active run folder, a run name's folder,
    or the text itself (a folder, .gguf file or Hugging Face id)."""
    choice = (choice or "").strip()
    if not choice or registry.find(choice) is not None:
        return choice
    active = user_models.active_run(settings, choice)
    if active is not None:
        return str(active)  # the folder, not the name: a rollback then serves the right version
    if runs.read_run(settings.runs_dir / choice) is not None:
        return str(settings.runs_dir / choice)
    return choice


def _eval_output(settings: Settings, ref: str, data: Path) -> Path:
    if runs.read_run(Path(ref)) is not None:
        return Path(ref) / "evals" / data.stem
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in ref)[-80:]
    return settings.home / "evals" / safe / data.stem


def metric_rows(result: dict) -> list[list[str]]:
    """A metrics dict as (metric, value) rows: scalars, then per-class F1 for classifiers."""
    rows = []
    for key, value in result.items():
        if key in ("model", "data", "confusion_png") or isinstance(value, dict | list):
            continue
        rows.append([key, f"{value:.4f}" if isinstance(value, float) else str(value)])
    for label, scores in (result.get("per_class") or {}).items():
        rows.append([f"F1 {label}", f"{scores['f1']:.4f} (support {scores['support']})"])
    return rows


def evaluate_model(settings: Settings, model: str, data: str | Path) -> tuple[pd.DataFrame, str | None]:
    """Evaluate a run (or any model) on a test file, task auto: (metrics table, confusion-matrix PNG or None)."""
    from core.training.evaluate import evaluate

    ref = model_ref(settings, model)
    if not ref:
        raise ConfigError("choose a run or model to evaluate")
    data = Path(data)
    result = evaluate(ref, str(data), settings, task="auto", output=_eval_output(settings, ref, data))
    return pd.DataFrame(metric_rows(result), columns=["metric", "value"]), result.get("confusion_png")


def register_run(settings: Settings, run: str, name: str) -> str:
    """Publish a run under ``name`` (a new version when the name exists)."""
    name = (name or "").strip()
    if not run:
        raise ConfigError("choose a run to register")
    if not name or any(c.isspace() for c in name):
        raise ConfigError("give the model a name without spaces, e.g. facts-bot")
    if registry.find(name) is not None:
        raise ConfigError(f"{name!r} is a built-in model name; choose another")
    version = user_models.register(settings, settings.runs_dir / run, name)
    return f"Registered **{name}** v{version} → `{settings.runs_dir / run}`"


def rollback_model(settings: Settings, name: str, version: int | None = None) -> str:
    """Activate an earlier version of a registered name (default: the one before the active one)."""
    if not name:
        raise ConfigError("choose a registered name")
    active = user_models.rollback(settings, name, int(version) if version else None)
    return f"**{name}** now serves v{active}"


def canary_model(settings: Settings, name: str, share: float | None, version: int | None = None) -> str:
    """Send ``share`` of a registered name's traffic to ``version`` (0 or None: the current candidate, else the
    newest version), as ``llmeco models canary`` does; a share of 0 ends the canary."""
    if not name:
        raise ConfigError("choose a registered name")
    if share is None:
        raise ConfigError("give the candidate's share of the traffic, e.g. 0.2 (0 ends the canary)")
    share = float(share)
    candidate = user_models.set_canary(settings, name, share, int(version) if version else None)
    active = user_models.load_names(settings)[name]["active"]
    if candidate is None:
        return f"**{name}**: canary ended; v{active} takes all the traffic"
    return f"**{name}**: v{candidate} takes {share:.0%} of the traffic, v{active} the rest"


def promote_model(settings: Settings, name: str) -> str:
    """Make the canary's candidate the active version, as ``llmeco models promote`` does."""
    if not name:
        raise ConfigError("choose a registered name")
    return f"**{name}** now serves v{user_models.promote(settings, name)}"


def registered_table(settings: Settings) -> pd.DataFrame:
    """One row per registered name: its active version and, while a canary is on, the candidate and its share."""
    rows = []
    for name, entry in sorted(user_models.load_names(settings).items()):
        canary = entry.get("canary")
        candidate, share = (f"v{canary['version']}", f"{canary['share']:.0%}") if canary else ("", "")
        rows.append([name, f"v{entry['active']}", candidate, share, len(entry["versions"])])
    return pd.DataFrame(rows, columns=["name", "active", "candidate", "share", "versions"])


def versions_table(settings: Settings, name: str | None) -> pd.DataFrame:
    """A registered name's versions with their role (current, candidate (share)), as ``llmeco models versions``."""
    versions = user_models.describe(settings, name)["versions"] if name in user_models.load_names(settings) else []
    rows = [
        [
            v["version"],
            v["role"],
            Path(v["run"]).name,
            time.strftime("%Y-%m-%d %H:%M", time.localtime(v["registered"])),
        ]
        for v in versions
    ]
    return pd.DataFrame(rows, columns=["version", "role", "run", "registered"])


def export_to_gguf(settings: Settings, run: str, quant: str = "q8_0") -> str:
    """Export a run to GGUF (checked against its merged fp32 model) and say what it reached: size, speed and how
    closely its answers match fp32. Within tolerance the run is served by llama.cpp from then on."""
    from core.training.export import BelowTolerance, export_gguf

    if not run:
        raise ConfigError("choose a run to export")
    output = settings.home / "exports" / f"{run}-{quant}-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        result = export_gguf(str(settings.runs_dir / run), settings, output, quant)
    except BelowTolerance as exc:
        return quality_markdown(exc.report, quant) + f"\n**Not used:** {exc}"
    return quality_markdown(result.report, quant) + f"\n**{run}** is now served by llama.cpp from `{result.path}`."


def quality_markdown(report: dict, quant: str) -> str:
    """The export next to fp32 on the run's validation examples, as a Markdown table."""
    fp32, gguf, agree = report["fp32"], report["gguf"], report["agreement"]
    speedup = gguf["tokens_per_s"] / fp32["tokens_per_s"] if fp32["tokens_per_s"] else 0.0
    return "\n".join(
        [
            f"| {report['examples']} validation examples | fp32 (transformers) | GGUF {quant} (llama.cpp) |",
            "|---|---|---|",
            f"| size | | {report['size_mb']} MB |",
            f"| tokens/s | {fp32['tokens_per_s']:.1f} | {gguf['tokens_per_s']:.1f} ({speedup:.1f}x) |",
            f"| perplexity | {fp32['perplexity']:.3f} | {gguf['perplexity']:.3f} |",
            f"| ROUGE-L vs reference | {fp32['rouge_l']:.3f} | {gguf['rouge_l']:.3f} |",
            f"| answers equal to fp32's | | {agree['exact_match']:.0%} (ROUGE-L {agree['rouge_l']:.3f}) |",
            "",
        ]
    )


# ---------------------------------------------------------------- chat side by side

_DONE = object()


def side_by_side(
    pool: ModelPool,
    settings: Settings,
    message: str,
    history_a: list[dict] | None,
    history_b: list[dict] | None,
    model_a: str,
    model_b: str,
    max_tokens: int = 256,
    temperature: float = 0.0,
) -> Iterator[tuple[list[dict], list[dict]]]:
    """Stream one message to two models at once; yields both growing conversations."""
    if not (message or "").strip():
        raise gr.Error("Type a message first.")
    if not (model_a or "").strip() or not (model_b or "").strip():
        raise gr.Error("Choose a model for both sides.")
    leases = []  # each side holds its model (a registered name's version) until its reply is done
    try:
        params = GenerationParams(max_new_tokens=int(max_tokens), temperature=float(temperature))
        for m in (model_a, model_b):
            leases.append(pool.acquire(model_ref(settings, m)))
    except LLMEcoError as exc:
        for lease in leases:
            lease.release()
        raise gr.Error(str(exc)) from None
    user = {"role": "user", "content": message}
    histories = [to_chat_messages(history_a) + [user], to_chat_messages(history_b) + [user]]
    requests = [Request(messages=list(h), params=params) for h in histories]
    answers = ["", ""]
    chunks: queue.Queue = queue.Queue()

    def pump(side: int) -> None:
        try:
            for chunk in leases[side].worker.submit_stream(requests[side]):
                chunks.put((side, chunk.text))
        except BaseException as exc:  # delivered to the page, never fatal here
            chunks.put((side, exc))
        chunks.put((side, _DONE))

    def snapshot() -> tuple[list[dict], list[dict]]:
        return tuple(h + [{"role": "assistant", "content": a}] for h, a in zip(histories, answers, strict=True))

    for side in (0, 1):
        threading.Thread(target=pump, args=(side,), daemon=True, name=f"model-lab-chat-{side}").start()
    yield snapshot()
    try:
        done = 0
        while done < 2:
            side, item = chunks.get()
            if item is _DONE:
                done += 1
            elif isinstance(item, BaseException):
                name = (model_a, model_b)[side]
                raise gr.Error(str(item) if isinstance(item, LLMEcoError) else f"{name}: {item}")
            else:
                answers[side] += item
                yield snapshot()
    finally:
        for request, lease in zip(requests, leases, strict=True):
            request.cancel.set()
            lease.release()


# ---------------------------------------------------------------- page


def _err(exc: Exception) -> gr.Error:
    return gr.Error(str(exc))


def build(settings: Settings) -> None:
    manager = JobManager(settings)
    pool = ModelPool(settings)
    bases = base_model_names(settings)
    datasets = shared_datasets()

    def watch_choices() -> list[str]:  # runs, plus this portal's jobs that have not written run.json (yet)
        return list(dict.fromkeys(run_names(settings) + [j.run_dir.name for j in manager.jobs()]))

    def chat_choices() -> list[str]:
        return list(dict.fromkeys(base_model_names(settings) + run_names(settings, True)))

    gr.Markdown(
        "From your data to a better model: preview the data, fine-tune a base model, watch the loss, evaluate,"
        " compare runs, register the best one under a name, and chat with it next to its base model."
    )

    # 1. Data and base model
    with gr.Accordion("1. Base model and data", open=True):
        with gr.Row():
            base = gr.Dropdown(
                bases,
                value=settings.text.model,
                label="Base model",
                allow_custom_value=True,
                info="A registered name, a name you registered, a local folder or a Hugging Face id",
            )
            method = gr.Radio(
                list(METHODS), value="lora", label="Method", info="LoRA: small adapter; full: all weights"
            )
        with gr.Row():
            upload = gr.File(
                label=f"Upload data (.jsonl, .json, .csv; ≤ {MAX_UPLOAD_MB} MB)", file_types=list(DATA_SUFFIXES)
            )
            shared = gr.Dropdown(
                datasets,
                value=next((d for d in datasets if d.endswith("facts_train.jsonl")), None),
                label="... or a file from shared_data/",
            )
        preview_btn = gr.Button("Preview data")
        preview = gr.Markdown()

    # 2. Train and watch
    with gr.Accordion("2. Train", open=True):
        with gr.Row():
            epochs = gr.Number(0, label="Epochs", info="0 = auto", minimum=0)
            lr = gr.Number(0, label="Learning rate", info="0 = auto", minimum=0)
            lora_r = gr.Number(0, label="LoRA rank", info="0 = auto", minimum=0, precision=0)
            max_length = gr.Number(0, label="Max length (tokens)", info="0 = auto", minimum=0, precision=0)
        with gr.Row():
            extra = gr.Textbox(label="More settings (key=value ...)", placeholder="max_steps=200 batch_size=8")
            run_name = gr.Textbox(label="Run name", placeholder="blank: date-model-method")
        with gr.Row():
            start_btn = gr.Button("Start training", variant="primary")
            stop_btn = gr.Button("Stop", variant="stop")
            resume_btn = gr.Button("Resume")
        watched = gr.Dropdown(watch_choices(), value=None, label="Run to watch", allow_custom_value=True)
        status = gr.Markdown()
        plot = gr.LinePlot(
            plot_frame(metrics_frame(None)),
            x="step",
            y="value",
            color="series",
            color_map=PLOT_COLORS,
            caption=PLOT_CAPTION,
            label="Loss",
            y_title="loss",
        )
        log = gr.Textbox(label="Training log (last lines)", lines=8, max_lines=15, interactive=False)
        timer = gr.Timer(2.0, active=False)
        last_state = gr.State("")

    # 3. Evaluate
    with gr.Accordion("3. Evaluate", open=False):
        with gr.Row():
            eval_model = gr.Dropdown(chat_choices(), label="Run or model", allow_custom_value=True)
            eval_upload = gr.File(label="Upload test data", file_types=list(DATA_SUFFIXES))
            eval_shared = gr.Dropdown(
                datasets,
                value=next((d for d in datasets if d.endswith("facts_test.jsonl")), None),
                label="... or shared_data/",
            )
        eval_btn = gr.Button("Evaluate")
        eval_table = gr.Dataframe(headers=["metric", "value"], label="Metrics", interactive=False)
        confusion = gr.Image(label="Confusion matrix", visible=False, type="filepath")

    # 4. Compare
    with gr.Accordion("4. Compare runs", open=False):
        table = gr.Dataframe(runs_table(settings, manager), label="Runs", interactive=False)
        refresh_btn = gr.Button("Refresh")

    # 5. Register and roll out (what `llmeco models register | canary | promote | rollback` do)
    with gr.Accordion("5. Register, canary, promote, roll back", open=False):
        with gr.Row():
            reg_run = gr.Dropdown(run_names(settings, True), label="Run")
            reg_name = gr.Textbox(label="Serve it as", placeholder="e.g. facts-bot")
            reg_btn = gr.Button("Register")
        reg_out = gr.Markdown()
        registered = gr.Dataframe(registered_table(settings), label="Registered names", interactive=False)
        rb_name = gr.Dropdown(sorted(user_models.load_names(settings)), label="Registered name")
        with gr.Row():
            canary_version = gr.Number(
                0, label="Candidate version", info="0 = the current candidate, else the newest", minimum=0, precision=0
            )
            canary_share = gr.Slider(0.05, 0.95, value=0.2, step=0.05, label="Candidate's share of the traffic")
            canary_btn = gr.Button("Start canary")
            end_canary_btn = gr.Button("End canary")
            promote_btn = gr.Button("Promote candidate", variant="primary")
        with gr.Row():
            rb_version = gr.Number(0, label="Version", info="0 = the previous one", minimum=0, precision=0)
            rb_btn = gr.Button("Roll back")
        versions = gr.Dataframe(versions_table(settings, None), label="Versions", interactive=False)

    # 6. Export to GGUF
    with gr.Accordion("6. Export to GGUF (llama.cpp speed)", open=False):
        with gr.Row():
            export_run = gr.Dropdown(run_names(settings, True), label="Run")
            export_quant = gr.Dropdown(["q8_0", "q4_k_m", "f16"], value="q8_0", label="Quantisation")
            export_btn = gr.Button("Export to GGUF")
        export_out = gr.Markdown()

    # 7. Chat side by side
    with gr.Accordion("7. Chat side by side", open=False):
        with gr.Row():
            chat_a = gr.Dropdown(bases, value=settings.text.model, label="Left: base model", allow_custom_value=True)
            first_run = next(iter(run_names(settings, True)), None)
            chat_b = gr.Dropdown(
                chat_choices(), value=first_run, label="Right: run or registered name", allow_custom_value=True
            )
        with gr.Row():
            bot_a = gr.Chatbot(height=360, label="Left", buttons=["copy"])
            bot_b = gr.Chatbot(height=360, label="Right", buttons=["copy"])
        with gr.Row():
            chat_msg = gr.Textbox(placeholder="Ask both models...", show_label=False, scale=4)
            send_btn = gr.Button("Send", variant="primary", scale=1)
            clear_btn = gr.Button("Clear", scale=1)
        with gr.Accordion("Generation settings", open=False):
            chat_tokens = gr.Slider(16, 1024, value=256, step=16, label="Max new tokens")
            chat_temp = gr.Slider(0.0, 1.5, value=0.0, step=0.05, label="Temperature (0 = greedy)")

    # ---- handlers
    def on_preview(up, sh):
        try:
            path = dataset_path(settings, up, sh)
        except LLMEcoError as exc:
            gr.Warning(str(exc))
            return f"**Data problem:** {exc}"
        text = preview_markdown(path)
        if text.startswith("**Data problem:**"):
            gr.Warning(text.removeprefix("**Data problem:**").strip())
        return text

    def show(run):
        try:
            frame, text, tail, running = watch(manager, settings, run)
        except LLMEcoError as exc:
            raise _err(exc) from None
        state = run_status(settings.runs_dir / run, manager.get(settings.runs_dir / run)) if run else ""
        return frame, text, tail, gr.Timer(active=running), f"{run}:{state}"  # lists refresh when this changes

    def on_start(model, meth, up, sh, ep, rate, r, length, more, name):
        try:
            data = dataset_path(settings, up, sh)
            job = start_training(manager, settings, model, data, meth, ep, rate, r, length, more, name)
        except LLMEcoError as exc:
            raise _err(exc) from None
        gr.Info(f"Training {job.run_dir.name} started")
        return gr.Dropdown(choices=watch_choices(), value=job.run_dir.name)

    def on_stop(run):
        try:
            stopped = bool(run) and manager.stop(run_dir_for(settings, run))
        except LLMEcoError as exc:
            raise _err(exc) from None
        if not stopped:
            raise gr.Error("No training job of this portal is running for that run.")

    def on_resume(run):
        if not run:
            raise gr.Error("Pick the run to resume under 'Run to watch'.")
        try:
            manager.resume(run_dir_for(settings, run))
        except LLMEcoError as exc:
            raise _err(exc) from None

    def refresh_lists():
        names = sorted(user_models.load_names(settings))
        return (
            registered_table(settings),
            gr.Dropdown(choices=base_model_names(settings)),
            gr.Dropdown(choices=base_model_names(settings)),
            runs_table(settings, manager),
            gr.Dropdown(choices=chat_choices()),
            gr.Dropdown(choices=run_names(settings, True)),
            gr.Dropdown(choices=chat_choices()),
            gr.Dropdown(choices=names),
            gr.Dropdown(choices=watch_choices()),
            gr.Dropdown(choices=run_names(settings, True)),
        )

    def on_eval(model, up, sh):
        try:
            frame, png = evaluate_model(settings, model, dataset_path(settings, up, sh))
        except LLMEcoError as exc:
            raise _err(exc) from None
        return frame, gr.Image(value=png, visible=png is not None)

    def on_register(run, name, request: gr.Request):
        try:
            with acting_as(ui_actor(request)):  # the audit log names the UI's user
                text = register_run(settings, run, name)
        except LLMEcoError as exc:
            raise _err(exc) from None
        return (text, gr.Dropdown(choices=sorted(user_models.load_names(settings)), value=name.strip()))

    def change_registry(change, name, request: gr.Request):
        try:
            with acting_as(ui_actor(request)):  # the audit log names the UI's user
                text = change()
        except LLMEcoError as exc:
            raise _err(exc) from None
        return text, versions_table(settings, name), registered_table(settings)

    def on_rollback(name, version, request: gr.Request):
        return change_registry(lambda: rollback_model(settings, name, version), name, request)

    def on_canary(name, version, share, request: gr.Request):
        return change_registry(lambda: canary_model(settings, name, share, version), name, request)

    def on_end_canary(name, request: gr.Request):
        return change_registry(lambda: canary_model(settings, name, 0), name, request)

    def on_promote(name, request: gr.Request):
        return change_registry(lambda: promote_model(settings, name), name, request)

    def on_export(run, quant):
        try:
            return export_to_gguf(settings, run, quant)
        except LLMEcoError as exc:
            raise _err(exc) from None

    def on_pick_right(choice):
        ref = model_ref(settings, choice)
        info = runs.read_run(Path(ref)) if ref else None
        return gr.Dropdown(value=info["base_model"]) if info else gr.skip()

    def on_send(message, hist_a, hist_b, model_a, model_b, tokens, temp):
        for a, b in side_by_side(pool, settings, message, hist_a, hist_b, model_a, model_b, tokens, temp):
            yield "", a, b

    watch_outputs = [plot, status, log, timer, last_state]
    lists = [registered, base, chat_a, table, eval_model, reg_run, chat_b, rb_name, watched, export_run]
    private = {"api_visibility": "private"}
    preview_btn.click(on_preview, [upload, shared], preview, api_name="model_lab_preview")
    upload.change(on_preview, [upload, shared], preview, **private)
    shared.change(on_preview, [upload, shared], preview, **private)
    train_inputs = [base, method, upload, shared, epochs, lr, lora_r, max_length, extra, run_name]
    start_btn.click(on_start, train_inputs, watched, api_name="model_lab_train").success(
        show, watched, watch_outputs, **private
    )
    watched.input(show, watched, watch_outputs, api_name="model_lab_watch")
    # Stop / Resume have no outputs of their own, so a refusal is a message and leaves the curve and log in place.
    stop_btn.click(on_stop, watched, None, api_name="model_lab_stop").success(show, watched, watch_outputs, **private)
    resume_btn.click(on_resume, watched, None, api_name="model_lab_resume").success(
        show, watched, watch_outputs, **private
    )
    timer.tick(show, watched, watch_outputs, **private)
    last_state.change(refresh_lists, None, lists, **private)
    refresh_btn.click(refresh_lists, None, lists, api_name="model_lab_refresh")
    eval_btn.click(on_eval, [eval_model, eval_upload, eval_shared], [eval_table, confusion], api_name="model_lab_eval")
    reg_btn.click(on_register, [reg_run, reg_name], [reg_out, rb_name], api_name="model_lab_register").success(
        refresh_lists, None, lists, **private
    )
    rb_name.change(lambda n: versions_table(settings, n), rb_name, versions, **private)
    changed = [reg_out, versions, registered]
    rb_btn.click(on_rollback, [rb_name, rb_version], changed, api_name="model_lab_rollback")
    canary_btn.click(on_canary, [rb_name, canary_version, canary_share], changed, api_name="model_lab_canary")
    end_canary_btn.click(on_end_canary, rb_name, changed, api_name="model_lab_end_canary")
    promote_btn.click(on_promote, rb_name, changed, api_name="model_lab_promote")
    export_btn.click(on_export, [export_run, export_quant], export_out, api_name="model_lab_export_gguf")
    chat_b.change(on_pick_right, chat_b, chat_a, **private)
    send_args = [chat_msg, bot_a, bot_b, chat_a, chat_b, chat_tokens, chat_temp]
    chat_msg.submit(on_send, send_args, [chat_msg, bot_a, bot_b], api_name="model_lab_chat")
    send_btn.click(on_send, send_args, [chat_msg, bot_a, bot_b], **private)
    clear_btn.click(lambda: ([], []), None, [bot_a, bot_b], **private)
