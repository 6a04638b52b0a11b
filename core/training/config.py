"""Training configuration: one YAML file (or CLI flags) plus ``key=value`` overrides. ``None`` means "choose
for me": ``core.training.defaults`` fills those from the dataset size, and the run saves what it chose."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.config import _deep_merge, parse_overrides, read_yaml_mapping, validation_problems
from core.data.cleaning import CleaningConfig
from core.data.dataset import PreparedData
from core.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoraConfig(_Section):
    r: int | None = None
    alpha: int | None = None
    dropout: float = 0.05
    target_modules: list[str] | str | None = None  # None: chosen per architecture (all linear layers)


class TrainConfig(_Section):
    model: str = "smollm2-135m-instruct"  # base model: registered name, folder, HF id or a run folder
    data: str
    val_data: str | None = None
    format: Literal["auto", "chat", "alpaca", "text", "classification"] = "auto"
    method: Literal["lora", "full", "qlora"] = "lora"
    output: str | None = None  # default: $LLMECO_HOME/runs/<name>
    name: str | None = None

    epochs: float | None = None
    max_steps: int | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    grad_accum: int = 1
    max_length: int = 512
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    scheduler: str = "cosine"
    eval_steps: int | None = None
    save_steps: int | None = None
    save_total_limit: int = 2
    early_stopping_patience: int | None = 3  # evaluations without improvement; None disables
    val_fraction: float = Field(default=0.1, ge=0.0, lt=1.0)
    seed: int = 42
    max_default_steps: int = 3000  # cap on the chosen step count so huge datasets finish in hours, not days

    lora: LoraConfig = LoraConfig()
    cleaning: CleaningConfig = CleaningConfig()

    device: str = "auto"
    bf16: bool | None = None  # None: on when CUDA supports it
    gradient_checkpointing: bool = False
    fsdp: str | None = None  # e.g. "full_shard auto_wrap" (GPUs, under torchrun/accelerate)
    deepspeed: str | None = None  # path to a DeepSpeed JSON config (GPUs)
    resume: bool = False


def load_train_config(
    config_file: str | Path | None, overrides: list[str] | tuple[str, ...] = (), values: dict[str, Any] | None = None
) -> TrainConfig:
    """YAML file < ``key=value`` overrides < explicit flag ``values``."""
    data = read_yaml_mapping(config_file, "training config") if config_file else {}
    data = _deep_merge(data, parse_overrides(overrides))
    data = _deep_merge(data, {k: v for k, v in (values or {}).items() if v is not None})
    if "data" not in data:
        raise ConfigError("no training data: give --data FILE or data=FILE (JSONL, JSON, CSV or a datasets folder)")
    try:
        return TrainConfig(**data)
    except ValidationError as exc:
        raise ConfigError(f"invalid training config: {validation_problems(exc)}") from None


def prepare_run_data(cfg: TrainConfig) -> PreparedData:
    """The training and validation data ``cfg`` describes, split the same way wherever it is needed (the trainer,
    and the export check that re-reads a run's validation split)."""
    from core.data import prepare_data

    return prepare_data(
        cfg.data,
        fmt=cfg.format,
        cleaning=cfg.cleaning,
        val_fraction=cfg.val_fraction,
        seed=cfg.seed,
        val_path=cfg.val_data,
    )
