"""A registered name as an engine that follows the registry: what apps (support bot, writing assistant) get from
``load_text_engine`` for a name made with ``llmeco models register``.

Each call is answered by the version the registry routes it to at that moment (the active one, or a canary's
candidate for its share), so register / rollback / promote take effect in a running app with its next call. A
call keeps the engine it started on; a version that gets no more traffic is closed once its calls are done. The
answer names its version (``Completion.model``, the last ``StreamChunk.model``), so apps record feedback per version."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from core.config import Settings
from core.errors import ModelNotAvailableError
from core.models.routing import Drain, Router
from core.text.base import Completion, Request, StreamChunk, TextEngine


class LiveEngine(TextEngine):
    engine_name = "live"
    forwards_tools = True  # the version's own engine parses tool calls

    def __init__(self, name: str, settings: Settings) -> None:
        self.model_name = name
        self.settings = settings
        self.router = Router(settings)
        self._engines: dict[str, TextEngine] = {}  # by version label, "name@v3"
        self._drain: Drain[TextEngine] = Drain(lambda engine: engine.close())
        self._revision = 0
        self._lock = threading.Lock()

    def _acquire(self, key: str | None) -> tuple[str, TextEngine]:
        from core.text import load_text_engine

        with self._lock:
            target = self.router.target(self.model_name, key)
            if self.router.revision != self._revision:
                self._revision = self.router.revision
                routed = self.router.routed()
                for label in [label for label in self._engines if label not in routed]:
                    self._drain.retire(self._engines.pop(label))
            if target is None:
                raise ModelNotAvailableError(f"{self.model_name!r} is no longer a registered model")
            if target.label not in self._engines:
                self._engines[target.label] = load_text_engine(str(target.run), self.settings)
            engine = self._engines[target.label]
            self._drain.hold(engine)
        return target.label, engine

    def loaded(self) -> list[str]:
        """Labels of the versions loaded now."""
        with self._lock:
            return list(self._engines)

    def _stream(self, request: Request) -> Iterator[StreamChunk]:
        label, engine = self._acquire(request.route_key)
        try:
            for chunk in engine.stream(request):
                if chunk.finish_reason:
                    chunk.model = label
                yield chunk
        finally:
            self._drain.release(engine)

    def generate_batch(self, requests: Sequence[Request]) -> list[Completion]:
        label, engine = self._acquire(requests[0].route_key if requests else None)
        try:
            completions = engine.generate_batch(requests)
        finally:
            self._drain.release(engine)
        for completion in completions:
            completion.model = label
        return completions

    def close(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                self._drain.retire(engine)
            self._engines.clear()
