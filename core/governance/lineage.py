"""Training-data lineage: a data file exported from stored conversations carries a sidecar
``<file>.sources.json`` naming the sessions it came from; ``llmeco train`` copies it into the run's ``data.json``,
so ``llmeco data forget`` can say which runs learned from a forgotten customer (and need retraining)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from core.config import Settings

SIDECAR = ".sources.json"


def sidecar_path(data_path: str | Path) -> Path:
    path = Path(data_path)
    return path.with_name(path.name + SIDECAR)


def write_sources(data_path: Path, store: str, sessions: list[str]) -> Path:
    """Write the sidecar of ``data_path`` (already written): which store and sessions its lines came from, and the
    file's SHA-256, so a sidecar left next to an edited file is not trusted."""
    digest = hashlib.sha256(Path(data_path).read_bytes()).hexdigest()
    sidecar = sidecar_path(data_path)
    record = {"store": store, "sessions": sorted(set(sessions)), "sha256": digest}
    sidecar.write_text(json.dumps(record, indent=2), encoding="utf-8")
    return sidecar


def read_sources(data_path: str | Path) -> dict[str, Any] | None:
    """The sidecar of a data file, or None when it has none or the file changed since it was written."""
    sidecar = sidecar_path(data_path)
    if not sidecar.is_file() or not Path(data_path).is_file():
        return None
    record = json.loads(sidecar.read_text(encoding="utf-8"))
    if record.get("sha256") != hashlib.sha256(Path(data_path).read_bytes()).hexdigest():
        return None
    return record


def runs_using(settings: Settings, sessions: list[str]) -> dict[str, list[str]]:
    """Run folder -> the given sessions its training data came from (only runs that used any)."""
    wanted, found = set(sessions), {}
    if not wanted or not settings.runs_dir.is_dir():
        return found
    for data_file in sorted(settings.runs_dir.glob("*/data.json")):
        sources = json.loads(data_file.read_text(encoding="utf-8")).get("sources") or {}
        used = sorted(wanted.intersection(sources.get("sessions", [])))
        if used:
            found[str(data_file.parent)] = used
    return found
