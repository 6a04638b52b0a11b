"""Models the server holds: loaded on first request, least recently used unloaded beyond a limit."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from core.config import Settings
from core.embeddings import Embedder
from core.errors import InvalidRequestError
from core.models import registry
from core.serving.worker import GenerationWorker
from core.text.base import TextEngine


class ModelPool:
    def __init__(self, settings: Settings, default_model: str | None = None):
        self.settings = settings
        self.default_model = default_model or settings.text.model
        self._workers: OrderedDict[str, GenerationWorker] = OrderedDict()
        self._embedders: dict[str, Embedder] = {}
        self._adopted: set[str] = set()  # engines we were handed: their owner closes them
        self._lock = threading.Lock()
        # Told of every failed load (``ServiceMetrics.watch_pool`` counts them); the error still reaches the caller.
        self.on_load_failure: Callable[[str, BaseException], None] | None = None

    def _loading(self, name: str, load: Callable[[], object]):
        try:
            return load()
        except Exception as exc:
            if self.on_load_failure is not None:
                self.on_load_failure(name, exc)
            raise

    def worker(self, name: str, engine: str | None = None) -> GenerationWorker:
        """The worker serving ``name`` (on ``engine``, default from settings), loading it if needed."""
        from core.text import load_text_engine

        key = name if engine in (None, "auto") else f"{name}@{engine}"
        with self._lock:
            if key in self._workers:
                self._workers.move_to_end(key)
                return self._workers[key]
            spec = registry.find(name)
            if spec is not None and spec.task != "text-generation":
                raise InvalidRequestError(f"{name!r} is a {spec.task} model, not a text-generation model")
            loaded = self._loading(
                name, lambda: load_text_engine(name, self.settings, None if engine == "auto" else engine)
            )
            while len(self._workers) >= self.settings.server.max_loaded_models:
                old_key, old = self._workers.popitem(last=False)
                old.close(close_engine=old_key not in self._adopted)
            s = self.settings.server
            self._workers[key] = GenerationWorker(loaded, s.max_queue, s.max_batch_size)
            return self._workers[key]

    def adopt(self, name: str, engine: TextEngine | None = None, embedder: Embedder | None = None) -> None:
        """Serve an engine or embedder that is already loaded under ``name``."""
        with self._lock:
            if engine is not None:
                s = self.settings.server
                self._workers[name] = GenerationWorker(engine, s.max_queue, s.max_batch_size)
                self._adopted.add(name)
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
        return list(self._workers) + list(self._embedders)

    def servable(self) -> list[tuple[str, str]]:
        """Loaded models plus every registered text/embedding model that is ready to load."""
        names = {n: "text-generation" for n in self._workers} | {n: "embeddings" for n in self._embedders}
        for spec in registry.all_specs():
            if spec.task in ("text-generation", "embeddings") and registry.status(spec, self.settings).ready:
                names.setdefault(spec.name, spec.task)
        names.setdefault(self.default_model, "text-generation")
        return sorted(names.items())

    def close(self) -> None:
        with self._lock:
            for key, w in self._workers.items():
                w.close(close_engine=key not in self._adopted)
            self._workers.clear()
