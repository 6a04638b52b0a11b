"""Which weights load without an opt-in. Safetensors, GGUF, CTranslate2 and ONNX files hold tensors only;
PyTorch's pickle files (``pytorch_model.bin``, ``.pt``, ``.pth``, ``.ckpt``) are unpickled when loaded, and a
crafted one runs code. So a model whose only weights are pickles is refused unless ``allow_pickle_weights`` is
set (``LLMECO_ALLOW_PICKLE_WEIGHTS=true``), and transformers is told to take safetensors only."""

from __future__ import annotations

import struct
from pathlib import Path

from core.errors import ModelLoadError

SAFE_SUFFIXES = (".safetensors", ".gguf", ".onnx")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def is_ctranslate2(path: Path) -> bool:
    """Whether ``path`` is a CTranslate2 ``model.bin`` (a binary version, then a ``...Spec`` name; no pickle)."""
    try:
        with path.open("rb") as f:
            head = f.read(64)
        version, length = struct.unpack_from("<IH", head)
        return 1 <= version < 100 and head[6 : 6 + length - 1].decode().endswith("Spec")
    except (OSError, struct.error, UnicodeDecodeError):
        return False


def _is_pickle(path: Path) -> bool:
    return path.suffix in PICKLE_SUFFIXES and not (path.name == "model.bin" and is_ctranslate2(path))


def check_weights(source: str | Path, allow_pickle: bool) -> None:
    """Raise ModelLoadError when the local file or folder ``source`` holds pickle weights and no safe ones,
    unless ``allow_pickle``. A Hugging Face id (no such path) is left to ``safetensors_only``."""
    path = Path(source)
    if allow_pickle or not path.exists():
        return
    files = [path] if path.is_file() else [p for p in path.iterdir() if p.is_file()]
    if any(p.suffix in SAFE_SUFFIXES for p in files):
        return
    pickles = sorted(p.name for p in files if _is_pickle(p))
    if pickles:
        raise ModelLoadError(
            f"{path} holds only PyTorch pickle weights ({', '.join(pickles)}), which can run code when loaded: "
            "convert them to safetensors (model.save_pretrained(folder) saves safetensors), or set "
            "allow_pickle_weights=true (LLMECO_ALLOW_PICKLE_WEIGHTS=true) if you trust where they came from"
        )


def safetensors_only(source: str | Path, allow_pickle: bool) -> dict:
    """``from_pretrained`` arguments: refuse pickles (checked first, with a clear message) and make
    transformers take safetensors only (``use_safetensors=True``, which also holds for Hub downloads)."""
    check_weights(source, allow_pickle)
    return {} if allow_pickle else {"use_safetensors": True}
