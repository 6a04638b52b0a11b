"""The ``llmeco`` console script: core's commands, every app's sub-commands, and ``demo``."""

from __future__ import annotations

import sys

import click
import typer

from apps import app_modules
from core.cli import app, console, err_console, settings_from
from core.config import Settings
from core.errors import LLMEcoError
from core.governance import DataStore
from core.governance.cli import build_app as build_data_app

# Recent typer vendors its own click, whose usage errors derive from TyperException rather than click's.
_USAGE_ERRORS = (click.ClickException, getattr(typer, "TyperException", click.ClickException))

for _module in app_modules("cli"):
    app.add_typer(_module.app, name=_module.COMMAND)


def data_stores(settings: Settings) -> list[DataStore]:
    """Every app's stored data (``apps/<name>/governance.py``), for ``llmeco data``."""
    return [store for module in app_modules("governance") for store in module.data_stores(settings)]


app.add_typer(build_data_app(data_stores), name="data")


@app.command()
def setup() -> None:
    """Prepare every embedded model, then each app's one-time work (e.g. the support bot's intent model and demo
    knowledge base). Idempotent: `make demo` and `make test` run it."""
    from core.cli import models_prepare

    models_prepare(None)
    settings = settings_from()
    for module in app_modules("cli"):
        if hasattr(module, "setup"):
            module.setup(settings)


@app.command()
def demo(
    overrides: list[str] = typer.Argument(None, help="Settings as key=value, e.g. portal.port=7861"),
    host: str | None = typer.Option(None, "--host"),
    port: int | None = typer.Option(None, "--port", "-p", help="Port (default 7860)."),
    open_browser: bool = typer.Option(True, "--open/--no-open", help="Open a browser tab."),
) -> None:
    """Open the web portal: a chat playground plus one tab per app."""
    from apps.portal import build_portal
    from core.serving.audio import MAX_UPLOAD_BYTES
    from core.serving.guard import ui_options

    settings = settings_from(overrides, **{"portal.host": host, "portal.port": port})
    portal = build_portal(settings)
    p = settings.portal
    console.print(f"portal at http://{p.host}:{p.port} (Ctrl+C to stop)")
    portal.queue(default_concurrency_limit=4).launch(
        server_name=p.host,
        server_port=p.port,
        share=p.share,
        inbrowser=open_browser,
        show_error=True,
        **ui_options(settings, MAX_UPLOAD_BYTES / 2**20),  # the login, and the largest upload any tab takes
    )


def main() -> None:
    """Run the CLI; user-facing errors print one line (no traceback) and exit with status 2."""
    try:
        app(standalone_mode=False)
    except LLMEcoError as exc:
        err_console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        sys.exit(2)
    except typer.Abort:
        sys.exit(130)
    except _USAGE_ERRORS as exc:  # unknown option, extra argument, ...: the usage line, no traceback
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err_console.print(f"[red]error:[/red] {exc.format_message()}", soft_wrap=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
