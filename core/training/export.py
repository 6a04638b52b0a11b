"""Export a run (or any model) as one self-contained safetensors folder, LoRA merged into the base weights."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from core.config import Settings
from core.errors import ConfigError
from core.models import registry
from core.models.user_models import SERVING_HINTS


def export(ref: str, settings: Settings, output: Path, int8: bool = False) -> Path:
    """Write ``output`` with merged fp32 safetensors weights and the tokenizer. ``int8=True`` marks the export
    to be served with per-channel int8 dynamic quantisation on CPU (applied at load; ~2x decode speed)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    files = registry.resolve(ref, settings, "text-generation", dtype="float32")
    if files.path.suffix == ".gguf":
        raise ConfigError("a GGUF file is already a single-file export; use it with engine=llamacpp")
    output = Path(output).expanduser().resolve()
    if output.exists() and any(output.iterdir()):
        raise ConfigError(f"{output} is not empty; choose a new folder")
    source = files.base or files.path
    model = AutoModelForCausalLM.from_pretrained(str(source), dtype=torch.float32)
    if files.adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(files.adapter)).merge_and_unload()
    model.save_pretrained(str(output), safe_serialization=True)
    AutoTokenizer.from_pretrained(str(files.adapter or source)).save_pretrained(str(output))
    hints = {"exported_from": ref, "quantize": "int8" if int8 else "none"}
    (output / SERVING_HINTS).write_text(json.dumps(hints, indent=2))
    return output
