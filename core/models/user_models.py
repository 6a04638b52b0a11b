"""Models users make: run folders (``llmeco train`` output) and names registered for them, with versions so a
name can be rolled back. Stored in ``$LLMECO_HOME/registered_models.json``."""

from __future__ import annotations

import json
import time
from pathlib import Path

from core.config import Settings
from core.errors import ConfigError, ModelNotAvailableError
from core.models.embedded import ModelFiles


def run_files(run_dir: Path) -> tuple[str, ModelFiles] | None:
    """(task, files) for a training run folder, or None when ``run_dir`` is not one."""
    info_path = Path(run_dir) / "run.json"
    if not info_path.exists():
        return None
    info = json.loads(info_path.read_text())
    model_dir = Path(run_dir) / "model"
    if not model_dir.is_dir():
        raise ModelNotAvailableError(f"run {run_dir} has no trained model yet (status: {info.get('status')})")
    if (model_dir / "adapter_config.json").exists():
        files = ModelFiles(path=model_dir, adapter=model_dir, base=Path(info["base_path"]), fine_tuned=True)
        return info["task"], files
    return info["task"], ModelFiles(path=model_dir, fine_tuned=True)


SERVING_HINTS = "llmeco.json"  # written by `llmeco export`: how the folder wants to be served


def serving_hints(folder: Path) -> dict:
    path = Path(folder) / SERVING_HINTS
    return json.loads(path.read_text()) if path.is_file() else {}


def _store(settings: Settings) -> Path:
    return settings.home / "registered_models.json"


def load_names(settings: Settings) -> dict:
    path = _store(settings)
    return json.loads(path.read_text()) if path.exists() else {}


def _save(settings: Settings, names: dict) -> None:
    settings.home.mkdir(parents=True, exist_ok=True)
    tmp = _store(settings).with_suffix(".tmp")
    tmp.write_text(json.dumps(names, indent=2))
    tmp.replace(_store(settings))  # atomic: a crash never leaves half a registry


def register(settings: Settings, run_dir: Path, name: str) -> int:
    """Point ``name`` at a new version: ``run_dir``. Returns the version number."""
    run_dir = Path(run_dir).expanduser().resolve()
    if run_files(run_dir) is None:
        raise ConfigError(f"{run_dir} is not a training run folder (no run.json)")
    names = load_names(settings)
    entry = names.setdefault(name, {"versions": [], "active": None})
    entry["versions"].append({"version": len(entry["versions"]) + 1, "run": str(run_dir), "registered": time.time()})
    entry["active"] = len(entry["versions"])
    _save(settings, names)
    return entry["active"]


def rollback(settings: Settings, name: str, version: int | None = None) -> int:
    """Make an earlier version active (default: the one before the active one)."""
    names = load_names(settings)
    if name not in names:
        raise ConfigError(f"no registered model {name!r}; registered: {', '.join(sorted(names)) or 'none'}")
    entry = names[name]
    target = version if version is not None else entry["active"] - 1
    if not 1 <= target <= len(entry["versions"]):
        raise ConfigError(f"{name!r} has versions 1..{len(entry['versions'])}; cannot activate {target}")
    entry["active"] = target
    _save(settings, names)
    return target


def active_run(settings: Settings, name: str) -> Path | None:
    entry = load_names(settings).get(name)
    if not entry:
        return None
    return Path(entry["versions"][entry["active"] - 1]["run"])
