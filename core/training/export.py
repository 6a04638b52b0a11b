"""Export a run (or any model) with its LoRA merged into the base weights: one safetensors folder for
transformers, or one GGUF file for llama.cpp (the CPU fast path), checked against fp32 before it is registered."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from core.config import Settings
from core.errors import ConfigError
from core.models import registry, user_models
from core.models.embedded import ModelFiles
from core.models.user_models import SERVING_HINTS
from core.models.weights import check_weights, safetensors_only
from core.training.export_check import Tolerance, compare_with_fp32, validation_examples
from core.training.runs import read_run

if TYPE_CHECKING:
    from transformers import PreTrainedModel


def _new_folder(output: Path) -> Path:
    output = Path(output).expanduser().resolve()
    if output.exists() and any(output.iterdir()):
        raise ConfigError(f"{output} is not empty; choose a new folder")
    return output


def _model_files(ref: str, settings: Settings) -> ModelFiles:
    files = registry.resolve(ref, settings, "text-generation", dtype="float32")
    if files.path.suffix == ".gguf":
        raise ConfigError(f"{ref!r} is already a GGUF file (a single-file export); serve it with engine=llamacpp")
    return files


def merged_model(files: ModelFiles) -> PreTrainedModel:
    """The base model in fp32 with the run's LoRA adapter (if any) folded into its weights."""
    from transformers import AutoModelForCausalLM

    source = files.base or files.path  # our runs and registered models: safetensors (pickles are refused)
    model = AutoModelForCausalLM.from_pretrained(str(source), dtype=torch.float32, **safetensors_only(source, False))
    if files.adapter is not None:
        from peft import PeftModel

        check_weights(files.adapter, False)
        model = PeftModel.from_pretrained(model, str(files.adapter)).merge_and_unload()
    return model.eval()


def export(ref: str, settings: Settings, output: Path, int8: bool = False) -> Path:
    """Write ``output`` with merged fp32 safetensors weights and the tokenizer. ``int8=True`` marks the export
    to be served with per-channel int8 dynamic quantisation on CPU (applied at load; ~2x decode speed)."""
    from transformers import AutoTokenizer

    files = _model_files(ref, settings)
    output = _new_folder(output)
    model = merged_model(files)
    model.save_pretrained(str(output), safe_serialization=True)
    AutoTokenizer.from_pretrained(str(files.adapter or files.base or files.path)).save_pretrained(str(output))
    hints = {"exported_from": ref, "quantize": "int8" if int8 else "none"}
    (output / SERVING_HINTS).write_text(json.dumps(hints, indent=2))
    return output


def _source_run(ref: str, settings: Settings) -> Path | None:
    """The training run folder behind ``ref`` (a run path or a name registered for one), if any."""
    path = user_models.active_run(settings, ref) or Path(ref).expanduser()
    return path.resolve() if read_run(path) is not None else None


def base_gguf(ref: str, settings: Settings) -> Path | None:
    """The GGUF the model's base was read from (registered SmolLM2 / Qwen), whose tokenizer metadata the export
    reuses; None for a Hugging Face base."""
    run = _source_run(ref, settings)
    base = read_run(run)["base_model"] if run is not None else ref
    if registry.find(base) is not None:
        return registry.resolve(base, settings, "text-generation").gguf
    return base_gguf(base, settings) if _source_run(base, settings) is not None else None


class BelowTolerance(ConfigError):
    """An export drifted further from fp32 than allowed; ``report`` says how far."""

    def __init__(self, message: str, report: dict):
        super().__init__(message)
        self.report = report


@dataclass
class GgufExport:
    path: Path  # the .gguf file
    report: dict  # compare_with_fp32's report plus size
    registered: str | None  # the name it was registered under


def export_gguf(
    ref: str,
    settings: Settings,
    output: Path,
    quant: str = "q8_0",
    *,
    tolerance: Tolerance = Tolerance(),
    data: str | None = None,
    name: str | None = None,
) -> GgufExport:
    """Merge, write ``output/model-<quant>.gguf``, compare it with the merged fp32 model on the run's validation
    set, and only when it is within ``tolerance``: link it from its run (so the run is served by llama.cpp) and
    register it as ``name``. Below tolerance the files stay for inspection and BelowTolerance says why."""
    from transformers import AutoConfig

    from core.training.to_gguf import check_architecture, check_quant, write_gguf

    check_quant(quant)
    files = _model_files(ref, settings)
    check_architecture(AutoConfig.from_pretrained(str(files.base or files.path)).model_type)
    run = _source_run(ref, settings)
    examples = validation_examples(run, data)  # before the slow part: bad data fails fast
    output = _new_folder(output)
    output.mkdir(parents=True, exist_ok=True)
    gguf = output / f"model-{quant}.gguf"
    label = (run.name if run else Path(ref).name) + f" ({quant})"
    write_gguf(
        merged_model(files),
        files.adapter or files.base or files.path,
        gguf,
        quant,
        base_gguf=base_gguf(ref, settings),
        name=label,
        threads=settings.text.threads or 0,
    )
    report = compare_with_fp32(ref, gguf, examples, settings, tolerance)
    report["size_mb"] = round(gguf.stat().st_size / 2**20, 1)
    hints = {
        "exported_from": str(run) if run else ref,
        "format": "gguf",
        "quant": quant,
        "gguf": gguf.name,
        "quality": report,
    }
    (output / SERVING_HINTS).write_text(json.dumps(hints, indent=2, ensure_ascii=False))
    if not report["passed"]:
        raise BelowTolerance(
            f"the {quant} export is below tolerance ({'; '.join(report['reasons'])}); it was not registered."
            f" Inspect {output / SERVING_HINTS}, try a larger --quant, or loosen --min-rouge-l / --max-ppl-increase",
            report,
        )
    if run is not None:
        user_models.link_gguf(run, gguf)
    if name is not None:
        user_models.register(settings, output, name)
    return GgufExport(gguf, report, name)
