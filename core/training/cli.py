"""``llmeco train | eval | tune | export | runs`` and ``llmeco models register | rollback | canary | promote |
versions``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from core.cli import app, console, models_app, settings_from
from core.models import user_models
from core.training.export_check import Tolerance

runs_app = typer.Typer(help="Training runs under $LLMECO_HOME/runs.")
app.add_typer(runs_app, name="runs")


def _split_config(args: list[str] | None) -> tuple[str | None, list[str]]:
    """``train CONFIG.yaml a=b`` or ``train a=b``: a first argument without '=' is the config file."""
    args = list(args or [])
    if args and "=" not in args[0]:
        return args[0], args[1:]
    return None, args


@app.command()
def train(
    args: list[str] = typer.Argument(
        None, help="Optional CONFIG.yaml, then key=value settings, e.g. epochs=3 lora.r=8"
    ),
    model: str | None = typer.Option(None, "--model", "-m", help="Base model: name, folder, HF id or run."),
    data: str | None = typer.Option(None, "--data", "-d", help="JSONL / JSON / CSV file or datasets folder."),
    method: str | None = typer.Option(None, "--method", help="lora | full | qlora"),
    output: str | None = typer.Option(None, "--output", "-o", help="Run folder (default: $LLMECO_HOME/runs/...)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --output from its last checkpoint."),
) -> None:
    """Fine-tune a model on your data (hyperparameters you leave out are chosen from the data size)."""
    from core.training.config import load_train_config
    from core.training.trainer import is_main_process
    from core.training.trainer import train as run_training

    config_file, overrides = _split_config(args)
    cfg = load_train_config(
        config_file,
        overrides,
        {"model": model, "data": data, "method": method, "output": output, "resume": resume or None},
    )
    result = run_training(cfg, settings_from())
    if is_main_process():
        shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in result.metrics.items()}
        console.print(f"[green]done[/green] {result.run_dir}\n{json.dumps(shown)}")


@app.command("eval")
def evaluate(
    model: str = typer.Option(..., "--model", "-m", help="Model name, run folder or HF id."),
    data: str = typer.Option(..., "--data", "-d", help="Test data file."),
    task: str = typer.Option("auto", "--task", help="auto | lm | classification | generation"),
    output: Path | None = typer.Option(None, "--output", "-o", help="Folder for reports, plots and outputs."),
    as_json: bool = typer.Option(False, "--json", help="Print metrics as JSON."),
) -> None:
    """Perplexity (LMs), accuracy/macro-F1/confusion matrix (classifiers), or EM/contains/ROUGE-L (generation)."""
    from core.training.evaluate import evaluate as run_eval

    result = run_eval(model, data, settings_from(), task=task, output=output)
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    for key, value in result.items():
        if not isinstance(value, dict | list):
            console.print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")


@runs_app.command("list")
def runs_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every run: task, method, base model, status and headline metrics."""
    from core.training.runs import list_runs

    found = list_runs(settings_from())
    if as_json:
        print(json.dumps([{**r.__dict__, "path": str(r.path)} for r in found], indent=2))
        return
    table = Table(title="Runs")
    for col in ("name", "task", "method", "base", "status", "val loss", "macro-F1", "created"):
        table.add_column(col)
    for r in found:
        loss, f1 = r.metrics.get("loss"), r.metrics.get("macro_f1")
        table.add_row(
            r.name,
            r.task,
            r.method,
            r.base_model,
            r.status,
            f"{loss:.4f}" if loss is not None else "-",
            f"{f1:.4f}" if f1 is not None else "-",
            r.created,
        )
    console.print(table)


@models_app.command("register")
def models_register(
    run: Path = typer.Argument(..., help="Run folder to publish."),
    name: str = typer.Option(..., "--name", "-n", help="Name to serve it under."),
    canary: float | None = typer.Option(
        None, "--canary", help="Register as a candidate taking this share of the traffic (e.g. 0.2), not as current."
    ),
    gate: Path | None = typer.Option(
        None, "--gate", help="Test set: refuse the run if its eval on it is worse than the current version's."
    ),
    gate_task: str = typer.Option("auto", "--gate-task", help="auto | lm | classification | generation"),
    gate_tolerance: float = typer.Option(0.0, "--gate-tolerance", min=0.0, help="How much worse still passes."),
) -> None:
    """Make a run servable by name (a new version if the name exists). Running servers and apps switch to it with
    their next request; with --canary it only takes that share of the traffic until `llmeco models promote`."""
    from core.models import registry

    if registry.find(name) is not None:
        raise typer.BadParameter(f"{name!r} is a built-in model name; choose another", param_hint="--name")
    settings = settings_from()
    checker = user_models.Gate(gate, gate_task, gate_tolerance) if gate is not None else None
    version = user_models.register(settings, run, name, canary=canary, gate=checker)
    verdict = user_models.history(settings, name)[-1].get("gate")
    if verdict is not None:
        old = "none" if verdict["current"] is None else f"{verdict['current']:.4f}"
        console.print(f"gate passed: {verdict['metric']} {verdict['candidate']:.4f} (current: {old})")
    role = f"candidate for {canary:.0%} of the traffic" if canary is not None else "current"
    console.print(f"[green]registered[/green] {name} v{version} ({role}) -> {run.resolve()}")


@models_app.command("rollback")
def models_rollback(
    name: str = typer.Argument(...),
    version: int | None = typer.Option(None, "--to", help="Version to activate (default: the previous one)."),
) -> None:
    """Serve an earlier version of a registered name (ends any canary)."""
    active = user_models.rollback(settings_from(), name, version)
    console.print(f"{name} now serves v{active}")


@models_app.command("canary")
def models_canary(
    name: str = typer.Argument(...),
    share: float = typer.Option(..., "--share", min=0.0, max=1.0, help="Share of the traffic; 0 ends the canary."),
    version: int | None = typer.Option(
        None, "--version", help="Candidate version (default: the current candidate, else the newest)."
    ),
) -> None:
    """Send a share of a registered name's traffic to a candidate version (A/B test), or end the canary."""
    candidate = user_models.set_canary(settings_from(), name, share, version)
    if candidate is None:
        console.print(f"{name}: canary ended; all traffic to the current version")
    else:
        console.print(f"{name}: v{candidate} takes {share:.0%} of the traffic")


@models_app.command("promote")
def models_promote(name: str = typer.Argument(...)) -> None:
    """Make the canary's candidate the current version of NAME."""
    active = user_models.promote(settings_from(), name)
    console.print(f"{name} now serves v{active}")


@models_app.command("versions")
def models_versions(
    name: str = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json", help="The registry entry, with its history."),
) -> None:
    """A registered name's versions: which is current, which is a candidate, and their recorded evals."""
    entry = user_models.describe(settings_from(), name)
    if as_json:
        print(json.dumps(entry, indent=2, ensure_ascii=False))
        return
    table = Table(title=name)
    for col in ("version", "role", "run", "evals"):
        table.add_column(col)
    for v in entry["versions"]:
        evals = ", ".join(f"{Path(e['data']).name} {e['metric']} {e['value']:.4f}" for e in v["evals"])
        table.add_row(f"v{v['version']}", v["role"], v["run"], evals or "-")
    console.print(table)


@app.command()
def export(
    model: str = typer.Argument(..., help="Run folder, registered name or model folder."),
    output: Path = typer.Option(..., "--output", "-o", help="New folder for the export."),
    fmt: str = typer.Option("safetensors", "--format", "-f", help="safetensors (transformers) | gguf (llama.cpp)."),
    quant: str = typer.Option("q8_0", "--quant", "-q", help="GGUF only: f16 | q8_0 | q4_k_m."),
    int8: bool = typer.Option(False, "--int8", help="safetensors only: serve with per-channel int8 on CPU."),
    name: str | None = typer.Option(None, "--name", "-n", help="GGUF only: register the export under NAME."),
    data: str | None = typer.Option(None, "--data", "-d", help="GGUF check data (default: the run's validation set)."),
    min_rouge_l: float = typer.Option(
        Tolerance.min_rouge_l, "--min-rouge-l", help="GGUF: least mean ROUGE-L of its answers against fp32's."
    ),
    max_ppl_increase: float = typer.Option(
        Tolerance.max_perplexity_increase, "--max-ppl-increase", help="GGUF: most relative perplexity rise."
    ),
) -> None:
    """Merge LoRA into the base model: one safetensors folder, or a GGUF checked against fp32 (served by llama.cpp)."""
    from core.errors import ConfigError
    from core.training.export import BelowTolerance, export_gguf
    from core.training.export import export as run_export

    settings = settings_from()
    if fmt == "safetensors":
        console.print(f"[green]exported[/green] {run_export(model, settings, output, int8=int8)}")
        return
    if fmt != "gguf":
        raise ConfigError(f"unknown export format {fmt!r}: use safetensors or gguf")
    if int8:
        raise ConfigError("--int8 applies to safetensors exports; GGUF exports choose --quant")
    tolerance = Tolerance(min_rouge_l=min_rouge_l, max_perplexity_increase=max_ppl_increase)
    try:
        with console.status(f"exporting {model} to GGUF {quant} and checking it against fp32 ..."):
            result = export_gguf(model, settings, output, quant, tolerance=tolerance, data=data, name=name)
    except BelowTolerance as exc:
        _print_quality(exc.report)
        raise
    _print_quality(result.report)
    console.print(f"[green]exported[/green] {result.path} ({result.report['size_mb']} MB)")
    if result.registered:
        console.print(f"[green]registered[/green] {result.registered} (served by llama.cpp)")


def _print_quality(report: dict) -> None:
    """The export next to fp32 on the check set: perplexity, answer scores, agreement and speed."""
    table = Table(title=f"GGUF export vs merged fp32 on {report['examples']} validation examples")
    for col in ("model", "perplexity", "exact match", "ROUGE-L", "tokens/s"):
        table.add_column(col)
    for key in ("fp32", "gguf"):
        r = report[key]
        table.add_row(
            key,
            f"{r['perplexity']:.3f}",
            f"{r['exact_match']:.2f}",
            f"{r['rouge_l']:.3f}",
            f"{r['tokens_per_s']:.1f}",
        )
    console.print(table)
    a = report["agreement"]
    verdict = "[green]within tolerance[/green]" if report["passed"] else "[red]below tolerance[/red]"
    console.print(f"answers vs fp32: exact match {a['exact_match']:.2f}, ROUGE-L {a['rouge_l']:.3f} — {verdict}")


@app.command()
def tune(
    args: list[str] = typer.Argument(None, help="Optional CONFIG.yaml, then key=value settings for every trial"),
    space: Path = typer.Option(
        ..., "--space", help="YAML search space, e.g. learning_rate: {low: 1e-5, high: 1e-3, log: true}"
    ),
    sampler: str = typer.Option("tpe", "--sampler", help="tpe | random | grid"),
    trials: int = typer.Option(8, "--trials", "-n", min=1),
    data: str | None = typer.Option(None, "--data", "-d"),
    model: str | None = typer.Option(None, "--model", "-m"),
    output: Path = typer.Option(Path("tune-results"), "--output", "-o"),
) -> None:
    """Hyperparameter search with Optuna; prints a results table and saves the best config."""
    from core.training.config import load_train_config
    from core.training.tune import load_space, run_search

    config_file, overrides = _split_config(args)
    base = load_train_config(config_file, overrides, {"data": data, "model": model})
    study = run_search(base, load_space(space), settings_from(), sampler, trials, output)
    console.print(
        f"best trial #{study['best']['number']}: {study['best']['objective']:.4f} -> {output / 'best_config.yaml'}"
    )
