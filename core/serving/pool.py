"""Models the server holds: loaded on first request, least recently used unloaded beyond a limit.

A registered name (``llmeco models register``) is served by version: each request is routed by
``core/models/routing.py`` to the active version or a canary's candidate, and holds that version (a ``Lease``) until
it is done. When the registry changes, versions that get no more traffic are retired: new requests go to the new
version at once, and the old engine is closed after its last request has finished."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from core.config import Settings
from core.embeddings import Embedder
from core.errors import InvalidRequestError
from core.models import registry
from core.models.routing import Drain, Router
from core.serving.health import ModelHealth
from core.serving.worker import GenerationWorker
from core.text.base import TextEngine


@dataclass
class Lease:
    """A worker held for one request; ``release`` (idempotent) when the request is done."""

    worker: GenerationWorker
    model: str  # what answers: "name@v3" for a version of a registered name, else the model asked for
    version: int | None
    _release: Callable[[], None] = field(repr=False)
    _released: bool = field(default=False, repr=False)

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._release()

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class ModelPool:
    def __init__(self, settings: Settings, default_model: str | None = None):
        self.settings = settings
        self.default_model = default_model or settings.text.model
        self.router = Router(settings)
        self._workers: OrderedDict[str, GenerationWorker] = OrderedDict()
        self._labels: dict[str, str] = {}  # worker key -> the registered version it serves
        self._draining: dict[GenerationWorker, str] = {}  # retired, still finishing requests -> its key
        self._embedders: dict[str, Embedder] = {}
        self._adopted: set[GenerationWorker] = set()  # engines we were handed: their owner closes them
        self._drain: Drain[GenerationWorker] = Drain(self._close)
        self._revision = 0
        self._lock = threading.Lock()
        self.health = ModelHealth()  # loads that failed, with why, until the model loads (the server's /health)
        # Told of every failed load (``ServiceMetrics.watch_pool`` counts them); the error still reaches the caller.
        self.on_load_failure: Callable[[str, BaseException], None] | None = None

    def _loading(self, name: str, load: Callable[[], object]):
        try:
            return self.health.load(name, load)
        except Exception as exc:
            if self.on_load_failure is not None:
                self.on_load_failure(name, exc)
            raise

    def acquire(self, name: str, engine: str | None = None, key: str | None = None) -> Lease:
        """Hold the worker that answers ``name`` now (on ``engine``, default from settings), loading it if needed.
        ``key`` (a user or session id) keeps a user on one version during a canary."""
        with self._lock:
            target = self.router.target(name, key)
            self._retire_unrouted()
            label = target.label if target else name
            worker = self._load(label, str(target.run) if target else name, engine)
            self._drain.hold(worker)
        return Lease(worker, label, target.version if target else None, lambda: self._drain.release(worker))

    def _load(self, label: str, ref: str, engine: str | None) -> GenerationWorker:
        from core.text import load_text_engine

        key = label if engine in (None, "auto") else f"{label}@{engine}"
        if key in self._workers:
            self._workers.move_to_end(key)
            return self._workers[key]
        spec = registry.find(ref)
        if spec is not None and spec.task != "text-generation":
            raise InvalidRequestError(f"{ref!r} is a {spec.task} model, not a text-generation model")
        loaded = self._loading(
            label, lambda: load_text_engine(ref, self.settings, None if engine == "auto" else engine)
        )
        while len(self._workers) >= self.settings.server.max_loaded_models:
            self._retire(next(iter(self._workers)))
        s = self.settings.server
        self._workers[key] = GenerationWorker(loaded, s.max_queue, s.max_batch_size)
        if label != ref:
            self._labels[key] = label
        return self._workers[key]

    def _retire_unrouted(self) -> None:
        """After a registry change: unload versions that get no more traffic, once their requests are done."""
        if self.router.revision == self._revision:
            return
        self._revision = self.router.revision
        routed = self.router.routed()
        for key in [k for k, label in self._labels.items() if label not in routed]:
            self._retire(key)

    def _retire(self, key: str) -> None:
        """No new requests for ``key``; its worker closes once the requests it has are done."""
        self._labels.pop(key, None)
        worker = self._workers.pop(key)
        self._draining[worker] = key
        self._drain.retire(worker)

    def _close(self, worker: GenerationWorker) -> None:
        self._draining.pop(worker, None)
        worker.close(close_engine=worker not in self._adopted)
        self._adopted.discard(worker)

    def adopt(self, name: str, engine: TextEngine | None = None, embedder: Embedder | None = None) -> None:
        """Serve an engine or embedder that is already loaded under ``name``."""
        with self._lock:
            if engine is not None:
                s = self.settings.server
                self._workers[name] = GenerationWorker(engine, s.max_queue, s.max_batch_size)
                self._adopted.add(self._workers[name])
            if embedder is not None:
                self._embedders[name] = embedder

    def embedder(self, name: str) -> Embedder:
        from core.embeddings import load_embedder

        with self._lock:
            if name not in self._embedders:
                self._embedders[name] = self._loading(name, lambda: load_embedder(name, self.settings))
            return self._embedders[name]

    def queues(self) -> dict[str, tuple[int, int]]:
        """Per loaded model: (requests waiting, queue capacity)."""
        with self._lock:
            return {key: (w.jobs.qsize(), w.jobs.maxsize) for key, w in self._workers.items()}

    def loaded(self) -> list[str]:
        """Models in memory: those serving, those retired but still finishing requests, and embedders."""
        return list(self._workers) + list(self._draining.values()) + list(self._embedders)

    def servable(self) -> list[tuple[str, str]]:
        """Loaded models, registered names, and every built-in text/embedding model that is ready to load."""
        names = {n: "text-generation" for n in self._workers} | {n: "embeddings" for n in self._embedders}
        for spec in registry.all_specs():
            if spec.task in ("text-generation", "embeddings") and registry.status(spec, self.settings).ready:
                names.setdefault(spec.name, spec.task)
        for name in self.router.names():
            names.setdefault(name, "text-generation")
        names.setdefault(self.default_model, "text-generation")
        return sorted(names.items())

    def close(self) -> None:
        with self._lock:
            for w in [*self._workers.values(), *self._draining]:  # at shutdown, draining ones go too
                self._close(w)
            self._workers.clear()
            self._labels.clear()
