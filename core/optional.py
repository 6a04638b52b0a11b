"""Engine libraries that may be missing (an extra not installed, a broken wheel): loading a model then fails
with a ModelLoadError naming the pip package and the extra that installs it, instead of an ImportError
traceback, so the CLI prints one line and the server answers 503 and keeps serving the other models."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from core.errors import ModelLoadError

# import name -> (pip package, the extra of llm-ecosystem that installs it; None: a core dependency)
PACKAGES: dict[str, tuple[str, str | None]] = {
    "whisper": ("openai-whisper", "whisper"),
    "vllm": ("vllm", "gpu"),
    "bitsandbytes": ("bitsandbytes", "gpu"),
    "deepspeed": ("deepspeed", "gpu"),
    "llama_cpp": ("llama-cpp-python", None),
    "faster_whisper": ("faster-whisper", None),
    "ctranslate2": ("ctranslate2", None),
    "piper": ("piper-tts", None),
    "sentence_transformers": ("sentence-transformers", None),
    "xgrammar": ("xgrammar", None),
    "peft": ("peft", None),
}

P = ParamSpec("P")
R = TypeVar("R")


def missing_package(module: str, what: str) -> ModelLoadError:
    """The error for ``what`` (e.g. "the llamacpp engine") when ``module`` cannot be imported."""
    top = module.split(".")[0]
    package, extra = PACKAGES.get(top, (top.replace("_", "-"), None))
    install = (
        f"pip install 'llm-ecosystem[{extra}]'"
        if extra
        else f"pip install {package} (a core dependency: `pip install -e .` reinstalls them all)"
    )
    return ModelLoadError(f"{what} needs the Python package {package!r} (import {top}), not installed: {install}")


def reports_missing_packages(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a model loader (its first parameter names the model): a ModuleNotFoundError while it runs
    becomes ``missing_package``, and every ModelLoadError it raises carries the model's name."""

    def wrap(load: Callable[P, R]) -> Callable[P, R]:
        first = next(iter(inspect.signature(load).parameters))  # the model (or engine) the loader is given

        @functools.wraps(load)
        def loader(*args: P.args, **kwargs: P.kwargs) -> R:
            name = kwargs.get(first, args[0] if args else None)
            try:
                return load(*args, **kwargs)
            except ModuleNotFoundError as exc:
                error = missing_package(exc.name or str(exc), f"{what} {name!r}" if name else what)
                error.model = name
                raise error from None
            except ModelLoadError as exc:
                exc.model = exc.model or name  # so a server can say which model failed
                raise

        return loader

    return wrap
