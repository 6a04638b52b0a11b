"""Hyperparameters chosen from the dataset when the user gives none.

The rules come from what worked here: LoRA r=16 on every linear layer, lr 3e-4, ~8 epochs taught SmolLM2-135M
four new facts from 24 examples (0/8 -> 8/8 on unseen paraphrases). Epochs shrink as data grows, and the step
count is capped so that 100k examples finish in hours on one GPU instead of days."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

# Linear layers worth adapting, per model family (config.model_type). Unknown families use peft's "all-linear".
LORA_TARGETS: dict[str, list[str]] = {
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "qwen3": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "gemma": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "phi3": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
    "gpt2": ["c_attn", "c_proj", "c_fc"],
    "gpt_neox": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
    "bert": ["query", "key", "value", "dense"],
}


@dataclass
class Chosen:
    """The hyperparameters a run actually uses (printed and saved in the run folder)."""

    epochs: float
    max_steps: int
    learning_rate: float
    batch_size: int
    eval_steps: int
    save_steps: int
    lora_r: int | None
    lora_alpha: int | None
    lora_targets: list[str] | str | None
    capped: bool

    def to_dict(self) -> dict:
        return asdict(self)


def choose(cfg, n_train: int, model_type: str, task: str) -> Chosen:
    """Fill every ``None`` in ``cfg`` (a TrainConfig) for ``n_train`` examples."""
    classification = task == "classification"
    batch = cfg.batch_size or (16 if classification else 4)
    steps_per_epoch = max(1, math.ceil(n_train / (batch * cfg.grad_accum)))
    if classification:  # small encoders need more passes: 10 epochs for a few hundred rows, 3 for 10k+
        auto_epochs = min(10, max(3, math.ceil(3000 / max(n_train, 1))))
    else:
        auto_epochs = min(8, max(1, math.ceil(200 / max(n_train, 1))))
    epochs = cfg.epochs or float(auto_epochs)
    capped = False
    if cfg.max_steps:
        max_steps = cfg.max_steps
    else:
        max_steps = math.ceil(steps_per_epoch * epochs)
        if max_steps > cfg.max_default_steps:
            max_steps, capped = cfg.max_default_steps, True
    if cfg.learning_rate:
        lr = cfg.learning_rate
    elif classification:
        lr = 1e-4
    else:
        lr = {"lora": 3e-4, "qlora": 2e-4, "full": 5e-5}[cfg.method]
    # Evaluate about once per epoch, but at least 4 and at most 50 times per run.
    per_epoch = min(steps_per_epoch, math.ceil(max_steps / 4))
    eval_steps = cfg.eval_steps or max(1, per_epoch, math.ceil(max_steps / 50))
    save_steps = cfg.save_steps or eval_steps
    lora = cfg.method in ("lora", "qlora") and not classification
    r = (cfg.lora.r or 16) if lora else None
    return Chosen(
        epochs=epochs,
        max_steps=max_steps,
        learning_rate=lr,
        batch_size=batch,
        eval_steps=eval_steps,
        save_steps=save_steps,
        lora_r=r,
        lora_alpha=(cfg.lora.alpha or 2 * r) if lora else None,
        lora_targets=(cfg.lora.target_modules or LORA_TARGETS.get(model_type, "all-linear")) if lora else None,
        capped=capped,
    )
