"""Backups of everything under ``$LLMECO_HOME`` (stores, knowledge bases, runs, the model registry) and of the
PostgreSQL databases stores use, with a manifest of SHA-256 checksums that a restore verifies before it touches
anything. The prepared-model cache (``models/``) is left out: ``llmeco setup`` rebuilds it; so are the web UIs'
temporary files (``gradio/``, see ``core/governance/ui_cache.py``).

    DIR/manifest.json   DIR/home/<path under LLMECO_HOME>   DIR/postgres/<store>.dump

SQLite files are copied with SQLite's backup API, so a store in use is copied consistently. The manifest is written
last: a backup that stopped half-way has none and is refused."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from core.config import Settings
from core.errors import ConfigError, InvalidRequestError
from core.governance import DataStore, ui_cache
from core.governance.audit import AuditLog, default_url

MANIFEST = "manifest.json"
FORMAT = 1
# Relative to LLMECO_HOME: the model cache `llmeco setup` rebuilds, and the web UIs' temporary files.
SKIPPED_DIRS = ("models", ui_cache.FOLDER)
_SQLITE_HEADER = b"SQLite format 3\x00"


class BackupError(InvalidRequestError):
    """A backup folder that is missing, corrupt or partial (nothing was restored)."""


@dataclass
class BackupSummary:
    folder: Path
    files: int
    bytes: int
    databases: list[str]  # stores whose PostgreSQL database was dumped

    def to_dict(self) -> dict:
        return {"folder": str(self.folder), "files": self.files, "bytes": self.bytes, "databases": self.databases}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(16) == _SQLITE_HEADER


def _home_files(home: Path) -> list[Path]:
    """Files under ``home`` (relative), without skipped caches and SQLite's -wal/-shm side files (the backup API
    folds the WAL into the copy)."""
    found = []
    for root, dirs, files in os.walk(home):
        rel_root = Path(root).relative_to(home)
        if rel_root == Path("."):
            dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
        for name in files:
            if name.endswith(("-wal", "-shm", "-journal")):
                continue
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                found.append(rel_root / name)
    return sorted(found)


def _copy_sqlite(source: Path, target: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _pg_tool(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        raise ConfigError(f"{name} was not found; install PostgreSQL's client tools (Debian: postgresql-client)")
    return found


def _pg_args(url: str) -> tuple[list[str], dict[str, str]]:
    """libpq connection options for a SQLAlchemy URL; the password goes in the environment, not the arguments."""
    parsed = make_url(url)
    args = ["-h", parsed.host or "localhost", "-p", str(parsed.port or 5432), "-U", parsed.username or "postgres"]
    env = {**os.environ, **({"PGPASSWORD": parsed.password} if parsed.password else {})}
    return [*args, "-d", parsed.database or "postgres"], env


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        raise ConfigError(f"{what} failed: {done.stderr.strip() or done.stdout.strip()}")


def _pg_restore(url: str, dump: Path, name: str) -> None:
    """Replace the database's objects by the dump's, except the audit log's (it may share the database): the log
    only ever grows, a restore must not roll it back."""
    args, env = _pg_args(url)
    tool = _pg_tool("pg_restore")
    listing = subprocess.run([tool, "-l", str(dump)], capture_output=True, text=True, env=env)
    if listing.returncode:
        raise BackupError(f"{dump} is not a PostgreSQL dump pg_restore can read: {listing.stderr.strip()}")
    kept = [line for line in listing.stdout.splitlines() if "audit_log" not in line]
    with tempfile.NamedTemporaryFile("w", suffix=".list") as contents:
        contents.write("\n".join(kept) + "\n")
        contents.flush()
        command = [tool, "--clean", "--if-exists", "--no-owner", "--single-transaction", "-L", contents.name, *args]
        _run([*command, str(dump)], env, f"pg_restore of {name}")


def backup(settings: Settings, output: Path, stores: Sequence[DataStore] = (), actor: str = "system") -> BackupSummary:
    """Copy ``$LLMECO_HOME`` and dump the stores' PostgreSQL databases into ``output`` (new or empty)."""
    output = Path(output).expanduser()
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise InvalidRequestError(f"{output} is not an empty folder; back up into a new one")
    home = settings.home
    if not home.is_dir():
        raise InvalidRequestError(f"LLMECO_HOME {home} does not exist: nothing to back up")
    if output.resolve().is_relative_to(home.resolve()):
        raise InvalidRequestError(f"{output} is inside LLMECO_HOME ({home}); back up to a folder outside it")
    files: dict[str, dict] = {}
    for rel in _home_files(home):
        source, target = home / rel, output / "home" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if _is_sqlite(source):
            _copy_sqlite(source, target)
        else:
            shutil.copy2(source, target)
        files[f"home/{rel.as_posix()}"] = {"sha256": _sha256(target), "bytes": target.stat().st_size}
    databases = {}
    for store in stores:
        url = store.database_url()
        if url is None:
            continue
        target = output / "postgres" / f"{store.name}.dump"
        target.parent.mkdir(parents=True, exist_ok=True)
        args, env = _pg_args(url)
        _run([_pg_tool("pg_dump"), "-Fc", "--no-owner", "-f", str(target), *args], env, f"pg_dump of {store.name}")
        rel = f"postgres/{store.name}.dump"
        files[rel] = {"sha256": _sha256(target), "bytes": target.stat().st_size}
        databases[store.name] = rel
    manifest = {
        "format": FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "home": str(home),
        "files": files,
        "databases": databases,
    }
    (output / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    AuditLog.for_settings(settings).record(actor, "export", "backup", str(output), {"files": len(files)})
    total = sum(f["bytes"] for f in files.values())
    return BackupSummary(output, len(files), total, sorted(databases))


def verify(folder: Path) -> dict:
    """The backup's manifest once every file it lists is present with its checksum; BackupError otherwise."""
    folder = Path(folder).expanduser()
    path = folder / MANIFEST
    if not path.is_file():
        raise BackupError(f"{folder} has no {MANIFEST}: not a backup, or one that did not finish")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files = manifest["files"]
        if not isinstance(files, dict) or not isinstance(manifest["databases"], dict):
            raise TypeError
    except (json.JSONDecodeError, KeyError, TypeError):
        raise BackupError(f"{path} is damaged (not a backup manifest)") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: backup format {manifest.get('format')!r}; this version reads format {FORMAT}")
    problems = []
    for rel, meta in files.items():
        file = folder / rel
        if ".." in Path(rel).parts or not (rel.startswith("home/") or rel.startswith("postgres/")):
            problems.append(f"{rel}: not a path inside the backup")
        elif not file.is_file():
            problems.append(f"{rel}: missing")
        elif file.stat().st_size != meta["bytes"] or _sha256(file) != meta["sha256"]:
            problems.append(f"{rel}: checksum mismatch")
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise BackupError(f"backup {folder} is corrupt or partial, nothing was restored: {shown}")
    return manifest


def restore(settings: Settings, folder: Path, stores: Sequence[DataStore] = (), actor: str = "system") -> BackupSummary:
    """Verify the backup, then make ``$LLMECO_HOME`` what it was (files the backup does not have are removed,
    except the model cache and the audit log, which only ever grows) and restore the PostgreSQL dumps. Stop the
    apps first: a store open during the restore keeps serving its old data."""
    folder = Path(folder).expanduser()
    manifest = verify(folder)
    home = settings.home
    audit_db = Path(make_url(default_url(settings)).database or "")
    by_store = {s.name: s for s in stores}
    for name in manifest["databases"]:
        if name not in by_store or by_store[name].database_url() is None:
            raise BackupError(
                f"the backup holds a PostgreSQL dump of {name!r}, but that store is not configured with a "
                "PostgreSQL database here; set its URL (e.g. apps.support_bot.store_url) and restore again"
            )
    wanted = {Path(rel).relative_to("home") for rel in manifest["files"] if rel.startswith("home/")}
    home.mkdir(parents=True, exist_ok=True)
    for rel in _home_files(home):
        if rel not in wanted and home / rel != audit_db:
            (home / rel).unlink()
    for rel in sorted(wanted):
        target = home / rel
        if target == audit_db and target.exists():
            continue  # append-only: the current log already holds everything the backup's did, and more
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".restoring")
        shutil.copy2(folder / "home" / rel, tmp)
        for side in ("-wal", "-shm"):
            target.with_name(target.name + side).unlink(missing_ok=True)
        tmp.replace(target)
    for name, rel in manifest["databases"].items():
        _pg_restore(by_store[name].database_url(), folder / rel, name)
    AuditLog.for_settings(settings).record(
        actor, "restore", "data", str(folder), {"created": manifest["created"], "files": len(manifest["files"])}
    )
    total = sum(f["bytes"] for f in manifest["files"].values())
    return BackupSummary(folder, len(manifest["files"]), total, sorted(manifest["databases"]))
