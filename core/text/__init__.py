"""Text generation: ``load_text_engine`` picks and loads an engine for a model reference."""

from __future__ import annotations

from core.config import Settings
from core.errors import ConfigError
from core.models import registry, user_models
from core.optional import reports_missing_packages
from core.text.base import ChatMessage, Completion, GenerationParams, Request, StreamChunk, TextEngine


def choose_engine(settings: Settings, model: str) -> str:
    """auto: a remote server when configured, llama.cpp for a bare .gguf file, transformers otherwise.

    Registered GGUF models (SmolLM2) have both forms; transformers is the default for them because llama.cpp's
    Q4_1 kernels (8-bit activations) flip close greedy choices: on our 20-question factual set
    (benchmarks/data/factual_qa.jsonl) transformers int8 scored 14/20 and llama.cpp Q4_1 12/20, and only
    transformers answers "What is the capital of France?" with Paris. ``text.engine=llamacpp`` gives ~4x speed.

    A fine-tuned run with a GGUF export (``llmeco export --format gguf``, checked against fp32 before it is
    linked) is served by llama.cpp on CPU: ~7x the transformers fp32 speed at the same answers."""
    if settings.text.engine != "auto":
        return settings.text.engine
    if settings.text.remote_base_url:
        return "remote"
    spec = registry.find(model)
    if spec is not None and spec.engine != "default":
        return spec.engine
    if model.endswith(".gguf") or (user_models.gguf_for(settings, model) and not _on_cuda(settings)):
        return "llamacpp"
    return "transformers"


def _on_cuda(settings: Settings) -> bool:
    if settings.text.device != "auto":
        return settings.text.device.startswith("cuda")
    import torch

    return torch.cuda.is_available()


@reports_missing_packages("text model")
def load_text_engine(
    model: str | None = None, settings: Settings | None = None, engine: str | None = None
) -> TextEngine:
    """Load ``model`` (registered name, local folder or .gguf file, or Hugging Face id) on the configured
    engine; ``engine`` overrides ``settings.text.engine``. A name made with ``llmeco models register`` gives a
    ``LiveEngine`` that follows the registry's versions, unless ``engine`` is given: then its active version."""
    settings = settings or Settings()
    t = settings.text
    model = model or t.model
    chosen = engine or choose_engine(settings, model)
    if engine is None and chosen != "remote" and model in user_models.load_names(settings):
        from core.text.live import LiveEngine

        return LiveEngine(model, settings)  # follows the registry: hot swap and canary in running apps
    if chosen == "remote":
        from core.text.remote_engine import RemoteEngine

        if not t.remote_base_url:
            raise ConfigError("engine=remote needs text.remote_base_url (e.g. http://gpu-host:8000/v1)")
        return RemoteEngine(model, t.remote_base_url, t.remote_api_key)
    if chosen == "llamacpp":
        from core.text.llamacpp_engine import LlamaCppEngine

        files = registry.resolve(model, settings, "text-generation")
        if files.gguf is None:
            raise ConfigError(f"engine=llamacpp needs a GGUF model; {model!r} has none")
        return LlamaCppEngine(
            model,
            files.gguf,
            context_length=t.context_length,
            threads=t.threads,
            gpu_layers=-1 if t.device.startswith("cuda") else 0,
        )
    if chosen != "transformers":
        raise ConfigError(f"unknown engine {chosen!r}: use auto, transformers, llamacpp or remote")
    from core.text.transformers_engine import TransformersEngine, pick_device, pick_dtype

    device = pick_device(t.device)
    dtype = str(pick_dtype(device, t.dtype)).removeprefix("torch.")
    files = registry.resolve(model, settings, "text-generation", dtype=dtype)
    if files.path.suffix == ".gguf":
        raise ConfigError(f"{model!r} is a GGUF file: use engine=llamacpp for it")
    # Fine-tuned runs stay unquantised by default: int8 rounding erased learned facts here (a LoRA run that
    # answered 8/8 held-out fact questions in fp32 answered 5/8 after per-channel int8).
    quantize = "none" if t.quantize == "auto" and files.fine_tuned else t.quantize
    if t.quantize == "auto" and files.path.is_dir():  # an export says how it wants to be served
        quantize = user_models.serving_hints(files.path).get("quantize", quantize)
    return TransformersEngine(
        model,
        files.base or files.path,
        device=device,
        dtype=t.dtype,
        quantize=quantize,
        threads=t.threads,
        context_length=t.context_length,
        trust_remote_code=settings.trust_remote_code,
        allow_pickle_weights=settings.allow_pickle_weights,
        adapter=files.adapter,
    )


__all__ = [
    "ChatMessage",
    "Completion",
    "GenerationParams",
    "Request",
    "StreamChunk",
    "TextEngine",
    "load_text_engine",
]
