"""Live routing of registered names to versions, for processes that keep models loaded (``llmeco serve``, the apps).

Hot swap: every request stats ``registered_models.json`` (microseconds) and re-reads it when it changed (the file is
replaced atomically, so its inode changes with every write), so ``llmeco models register | rollback | canary |
promote`` in another process takes effect with the next request, without a restart or a signal. A request keeps
the model it started on: it holds its version until it is done (``Drain``), and a version nobody routes to any more
is closed once its last request has finished.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from core.config import Settings
from core.errors import ConfigError
from core.filestamp import Stamp, file_stamp
from core.models import user_models

T = TypeVar("T")


@dataclass(frozen=True)
class Target:
    """One version of a registered name."""

    name: str
    version: int
    run: Path

    @property
    def label(self) -> str:
        """How responses name what answered: ``name@v3``."""
        return f"{self.name}@v{self.version}"


def split_label(ref: str) -> tuple[str, int | None]:
    """``name@v3`` -> ("name", 3); anything else -> (ref, None)."""
    name, sep, version = ref.rpartition("@v")
    return (name, int(version)) if sep and name and version.isdigit() else (ref, None)


class Router:
    """Picks the version that answers each request for a registered name, following the registry file."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.revision = 0  # bumped whenever the registry file changed
        self._stamp: Stamp | None = None
        self._names: dict = {}
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def names(self) -> dict:
        """The registered names as the file says now."""
        stamp = file_stamp(user_models._store(self.settings))
        with self._lock:
            if stamp != self._stamp:
                self._names = user_models.load_names(self.settings) if stamp else {}
                self._stamp = stamp
                self.revision += 1
            return self._names

    def target(self, ref: str, key: str | None = None) -> Target | None:
        """The version that answers ``ref`` now, or None when ``ref`` is no registered name. ``name@vN`` pins a
        version; otherwise the active version or, for a canary's share of requests, the candidate (``key``, a user
        or session id, keeps one user on one version)."""
        names = self.names()
        name, pinned = split_label(ref)
        entry = names.get(name) if pinned is not None else names.get(ref)
        if entry is None:
            return None
        if pinned is not None:
            if not 1 <= pinned <= len(entry["versions"]):
                raise ConfigError(f"{name!r} has versions 1..{len(entry['versions'])}; there is no v{pinned}")
            version = pinned
        else:
            name = ref
            with self._lock:
                count = self._counts[name]
                self._counts[name] += 1
            version = user_models.choose_version(name, entry, key, count)
        return Target(name, version, Path(entry["versions"][version - 1]["run"]))

    def routed(self) -> set[str]:
        """Labels of every version that currently receives traffic."""
        return {f"{name}@v{v}" for name, entry in self.names().items() for v in user_models.routed_versions(entry)}


class Drain(Generic[T]):
    """Loaded models in use by requests: ``retire`` closes one as soon as no request holds it (at once when idle),
    so in-flight requests finish on the model they started with."""

    def __init__(self, close: Callable[[T], None]) -> None:
        self._close = close
        self._holds: Counter[int] = Counter()
        self._retired: dict[int, T] = {}
        self._lock = threading.Lock()

    def hold(self, item: T) -> None:
        with self._lock:
            self._holds[id(item)] += 1

    def release(self, item: T) -> None:
        with self._lock:
            self._holds[id(item)] -= 1
            idle = self._holds[id(item)] <= 0
            if idle:
                del self._holds[id(item)]
            done = idle and self._retired.pop(id(item), None) is not None
        if done:
            self._close(item)

    def retire(self, item: T) -> None:
        with self._lock:
            busy = self._holds[id(item)] > 0
            if busy:
                self._retired[id(item)] = item
        if not busy:
            self._close(item)
