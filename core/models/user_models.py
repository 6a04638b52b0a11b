"""Models users make: run folders (``llmeco train`` output), GGUF exports of them, and names registered for
them, with versions so a name can be rolled back. Stored in ``$LLMECO_HOME/registered_models.json``."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

from core.config import Settings
from core.errors import ConfigError, ModelNotAvailableError
from core.models.embedded import ModelFiles

SERVING_HINTS = "llmeco.json"  # written by `llmeco export`: how the folder wants to be served


def serving_hints(folder: Path) -> dict:
    path = Path(folder) / SERVING_HINTS
    return json.loads(path.read_text()) if path.is_file() else {}


def run_files(run_dir: Path) -> tuple[str, ModelFiles] | None:
    """(task, files) for a training run folder or a GGUF export of one, or None when ``run_dir`` is neither.
    ``files.gguf`` is the run's checked GGUF export when it has one (the llama.cpp engine serves it)."""
    hints = serving_hints(run_dir)
    if hints.get("format") == "gguf":
        gguf = Path(run_dir) / hints["gguf"]
        source = Path(hints["exported_from"])
        found = run_files(source) if (source / "run.json").exists() else None
        files = found[1] if found else ModelFiles(path=gguf, fine_tuned=True)
        return "text-generation", replace(files, gguf=gguf)
    info_path = Path(run_dir) / "run.json"
    if not info_path.exists():
        return None
    info = json.loads(info_path.read_text())
    model_dir = Path(run_dir) / "model"
    if not model_dir.is_dir():
        raise ModelNotAvailableError(f"run {run_dir} has no trained model yet (status: {info.get('status')})")
    gguf = Path(info["gguf"]) if info.get("gguf") and Path(info["gguf"]).is_file() else None
    if (model_dir / "adapter_config.json").exists():
        files = ModelFiles(path=model_dir, gguf=gguf, adapter=model_dir, base=Path(info["base_path"]), fine_tuned=True)
        return info["task"], files
    return info["task"], ModelFiles(path=model_dir, gguf=gguf, fine_tuned=True)


def link_gguf(run_dir: Path, gguf: Path) -> None:
    """Record a checked GGUF export in its run, so the run itself is served by llama.cpp from now on."""
    info_path = Path(run_dir) / "run.json"
    info = json.loads(info_path.read_text())
    info["gguf"] = str(Path(gguf).resolve())
    info_path.write_text(json.dumps(info, indent=2))


def gguf_for(settings: Settings, ref: str) -> Path | None:
    """The GGUF of a run, export or registered name, without loading anything; None when it has none."""
    path = active_run(settings, ref) or Path(ref).expanduser()
    if not path.is_dir():
        return None
    try:
        found = run_files(path)
    except ModelNotAvailableError:
        return None
    return found[1].gguf if found else None


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
        raise ConfigError(f"{run_dir} is not a training run folder (no run.json) or a GGUF export")
    quality = serving_hints(run_dir).get("quality")
    if quality is not None and not quality["passed"]:
        why = "; ".join(quality["reasons"])
        raise ConfigError(f"{run_dir} fell below its quality tolerance ({why}); it cannot be registered")
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
