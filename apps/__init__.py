"""Apps built on ``core``. Each app is a sub-package; the CLI and the portal discover them, so adding an app
touches no other file:

- ``apps/<name>/cli.py`` may define ``app: typer.Typer`` and ``COMMAND`` (the ``llmeco`` sub-command name);
- ``apps/<name>/ui.py`` may define ``TITLE``, ``ORDER`` and ``build(settings)`` (a Gradio tab's content).
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def app_modules(kind: str) -> list[ModuleType]:
    """Import ``apps.<name>.<kind>`` for every app that has one, in ``ORDER`` then name order."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if not info.ispkg:
            continue
        name = f"{__name__}.{info.name}.{kind}"
        if importlib.util.find_spec(name) is not None:
            found.append(importlib.import_module(name))
    return sorted(found, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))
