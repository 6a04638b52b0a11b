"""What ``GET /health`` says about models, in one shape for the server and every app: ``status`` ("ok", or
"degraded" while a model that failed to load has not loaded since), the service's own fields, ``loaded`` (models
loaded) and ``failed`` (model -> why it failed to load). A degraded service still answers 200: it is up and serves
its other models and features, so liveness and readiness probes keep it; clients and alerts read ``status``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from core.errors import InvalidRequestError, LLMEcoError, ModelLoadError, UnknownModelError

T = TypeVar("T")
CLIENT_ERRORS = (UnknownModelError, InvalidRequestError)  # a wrong name or option is the caller's, not a failure


def health_body(failures: Mapping[str, str], loaded: Iterable[str], **fields: Any) -> dict[str, Any]:
    """The /health JSON: ``failures`` that are not ``loaded`` (any more) make the status "degraded"."""
    loaded = list(loaded)
    failed = {model: why for model, why in failures.items() if model not in loaded}
    return {"status": "degraded" if failed else "ok", **fields, "loaded": loaded, "failed": failed}


class ModelHealth:
    """The models a service has loaded and those that failed to load, with why, until they load. Thread-safe:
    apps load models lazily in request threads."""

    def __init__(self) -> None:
        self._loaded: dict[str, None] = {}  # insertion-ordered set
        self._failed: dict[str, str] = {}
        self._lock = threading.Lock()

    def load(self, model: str, loader: Callable[[], T]) -> T:
        """``loader()``, recording that ``model`` loaded or why it did not. An error that is not the library's
        own (a native loader's RuntimeError on a corrupt file) becomes a ModelLoadError naming the model, so the
        caller answers 503 with the reason instead of a 500; a ModelLoadError gets ``model`` when it has none."""
        try:
            value = loader()
        except CLIENT_ERRORS:
            raise
        except LLMEcoError as exc:  # ModelLoadError, and e.g. a missing espeak-ng or a Coqui server not running
            if isinstance(exc, ModelLoadError) and exc.model is None:
                exc.model = model
            self.failed(model, exc)
            raise
        except Exception as exc:
            error = ModelLoadError(f"could not load {model!r}: {type(exc).__name__}: {exc}")
            error.model = model
            self.failed(model, error)
            raise error from exc
        self.loaded(model)
        return value

    def loaded(self, model: str) -> None:
        with self._lock:
            self._failed.pop(model, None)
            self._loaded[model] = None

    def failed(self, model: str, why: BaseException | str) -> None:
        with self._lock:
            self._failed[model] = str(why)

    def failures(self) -> dict[str, str]:
        """Models whose last load failed -> why."""
        with self._lock:
            return dict(self._failed)

    def health(self, **fields: Any) -> dict[str, Any]:
        """The /health JSON with the service's own ``fields`` (e.g. its configured model)."""
        with self._lock:
            return health_body(dict(self._failed), list(self._loaded), **fields)
