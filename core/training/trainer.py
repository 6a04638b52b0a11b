"""``train()``: from a user's data file to a run folder with a model that ``generate``, ``serve`` and the apps
load by path or registered name. Built on the transformers ``Trainer`` (checkpoints, exact resume incl. optimizer,
scheduler, RNG and data position, DDP under torchrun/accelerate, FSDP/DeepSpeed on GPUs)."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console

from core.config import Settings
from core.data import ChatExample, ClassificationExample, PreparedData, TextExample
from core.data.chat_tokens import encode_chat
from core.errors import ConfigError, DiskFullError
from core.models import registry
from core.models.weights import check_weights, safetensors_only
from core.training import runs
from core.training.callbacks import MetricsLogger, RichProgress
from core.training.config import TrainConfig, prepare_run_data
from core.training.defaults import Chosen, choose

console = Console(stderr=True)


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict
    chosen: Chosen


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _device(cfg: TrainConfig) -> str:
    if cfg.device != "auto":
        return cfg.device
    return "cuda" if torch.cuda.is_available() else "cpu"


class _ListDataset(torch.utils.data.Dataset):
    def __init__(self, items: list[dict]):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def _lm_features(tokenizer, examples, max_length: int) -> list[dict]:
    out = []
    for ex in examples:
        if isinstance(ex, ChatExample):
            enc = encode_chat(tokenizer, ex.messages, max_length)
        elif isinstance(ex, TextExample):
            ids = tokenizer(ex.text + (tokenizer.eos_token or ""), add_special_tokens=False)["input_ids"][:max_length]
            enc = {"input_ids": ids, "labels": list(ids)}
        else:
            raise ConfigError(f"{type(ex).__name__} cannot train a causal LM; use a classification base model")
        if any(label != -100 for label in enc["labels"]):
            out.append(enc)
    return out


def _pad_lm(pad_id: int):
    def collate(batch: list[dict]) -> dict:
        width = max(len(b["input_ids"]) for b in batch)
        ids = [b["input_ids"] + [pad_id] * (width - len(b["input_ids"])) for b in batch]
        labels = [b["labels"] + [-100] * (width - len(b["labels"])) for b in batch]
        mask = [[1] * len(b["input_ids"]) + [0] * (width - len(b["input_ids"])) for b in batch]
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "attention_mask": torch.tensor(mask)}

    return collate


def _classification_features(tokenizer, examples, label2id: dict[str, int], max_length: int) -> list[dict]:
    return [
        {**tokenizer(ex.text, truncation=True, max_length=max_length), "labels": label2id[ex.label]}
        for ex in examples
        if isinstance(ex, ClassificationExample)
    ]


def _classification_metrics(eval_pred) -> dict:
    from core.training.metrics import classification_scores

    logits, labels = eval_pred
    scores = classification_scores(labels.tolist(), logits.argmax(-1).tolist())
    return {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"]}


def _run_dir(cfg: TrainConfig, settings: Settings) -> Path:
    if cfg.output:
        return Path(cfg.output).expanduser().resolve()
    name = cfg.name or f"{time.strftime('%Y%m%d-%H%M%S')}-{Path(cfg.model).name}-{cfg.method}"
    return settings.runs_dir / name


def train(cfg: TrainConfig, settings: Settings, progress: bool = True) -> TrainResult:
    """Prepare the data (errors surface before any model loads), fine-tune, and write the run folder.
    ``progress=False`` keeps the console quiet (apps that train as one step of a bigger job)."""
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        EarlyStoppingCallback,
        PrinterCallback,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    data: PreparedData = prepare_run_data(cfg)
    task = "classification" if data.format == "classification" else "text-generation"
    run_dir = _run_dir(cfg, settings)
    ckpt_dir = run_dir / "checkpoints"
    if cfg.resume and is_main_process():
        _drop_incomplete_checkpoints(ckpt_dir)
    has_ckpt = ckpt_dir.is_dir() and any(ckpt_dir.glob("checkpoint-*"))
    if cfg.resume and not has_ckpt:
        raise ConfigError(f"--resume: {run_dir} has no checkpoint to resume from")
    if has_ckpt and not cfg.resume:
        raise ConfigError(f"{run_dir} already holds a run; add --resume to continue it or choose another --output")

    set_seed(cfg.seed)  # new weights (LoRA A, a classifier head) start the same in every run and on every rank
    device = _device(cfg)
    bf16 = cfg.bf16 if cfg.bf16 is not None else (device == "cuda" and torch.cuda.is_bf16_supported())
    dtype = "bfloat16" if bf16 and cfg.method != "full" else "float32"
    base = registry.resolve(cfg.model, settings, None, dtype=dtype)
    base_path = base.base if base.adapter is not None else base.path
    tokenizer = AutoTokenizer.from_pretrained(str(base_path), trust_remote_code=settings.trust_remote_code)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token

    if task == "classification":
        labels = data.labels
        label2id = {label: i for i, label in enumerate(labels)}
        model = AutoModelForSequenceClassification.from_pretrained(
            str(base_path),
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id=label2id,
            trust_remote_code=settings.trust_remote_code,
            **safetensors_only(base_path, settings.allow_pickle_weights),
        )
        train_feats = _classification_features(tokenizer, data.train, label2id, cfg.max_length)
        val_feats = _classification_features(tokenizer, data.val, label2id, cfg.max_length)
        collator = DataCollatorWithPadding(tokenizer)
        model_type = model.config.model_type
    else:
        model = _load_causal_lm(cfg, base, device, settings)
        model_type = model.config.model_type
        train_feats = _lm_features(tokenizer, data.train, cfg.max_length)
        val_feats = _lm_features(tokenizer, data.val, cfg.max_length)
        collator = _pad_lm(tokenizer.pad_token_id)
    if not train_feats:
        raise ConfigError("no training example has a target to learn (assistant reply / text) within max_length")

    chosen = choose(cfg, len(train_feats), model_type, task)
    if task == "text-generation" and cfg.method in ("lora", "qlora"):
        model = _add_lora(model, cfg, chosen)
    if is_main_process():
        runs.start_run(run_dir, cfg, chosen, data, base_ref=cfg.model, base_path=base_path, task=task)
        if progress:
            _print_chosen(chosen, len(train_feats), len(val_feats), run_dir)

    early = cfg.early_stopping_patience is not None and bool(val_feats)
    metric = "macro_f1" if task == "classification" else "loss"
    args = TrainingArguments(
        output_dir=str(ckpt_dir),
        per_device_train_batch_size=chosen.batch_size,
        per_device_eval_batch_size=chosen.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        max_steps=chosen.max_steps,
        learning_rate=chosen.learning_rate,
        lr_scheduler_type=cfg.scheduler,
        warmup_steps=int(cfg.warmup_ratio * chosen.max_steps),
        weight_decay=cfg.weight_decay,
        eval_strategy="steps" if val_feats else "no",
        eval_steps=chosen.eval_steps,
        save_strategy="steps",
        save_steps=chosen.save_steps,
        save_total_limit=cfg.save_total_limit,
        load_best_model_at_end=early,
        metric_for_best_model=metric,
        greater_is_better=task == "classification",
        logging_steps=1,
        report_to="none",
        disable_tqdm=True,
        seed=cfg.seed,
        data_seed=cfg.seed,
        use_cpu=device == "cpu",
        ddp_backend="gloo" if device == "cpu" and int(os.environ.get("WORLD_SIZE", "1")) > 1 else None,
        bf16=bf16,
        gradient_checkpointing=cfg.gradient_checkpointing,
        fsdp=cfg.fsdp or "",
        deepspeed=cfg.deepspeed,
        remove_unused_columns=False,
        dataloader_num_workers=0,
    )
    callbacks = [RichProgress(), MetricsLogger(run_dir)] if progress else [MetricsLogger(run_dir)]
    if early:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=_ListDataset(train_feats),
        eval_dataset=_ListDataset(val_feats) if val_feats else None,
        data_collator=collator,
        compute_metrics=_classification_metrics if task == "classification" else None,
        callbacks=callbacks,
    )
    if not progress:
        trainer.remove_callback(PrinterCallback)  # the per-step log lines
    if threading.current_thread() is threading.main_thread():
        # `kill` / container stop: unwind like Ctrl+C so the run is recorded as interrupted (resumable).
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        trainer.train(resume_from_checkpoint=True if cfg.resume else None)
        final = trainer.evaluate() if val_feats else {}
        final = {k.removeprefix("eval_"): v for k, v in final.items()}
        final["train_loss"] = _last_train_loss(trainer)
        final["steps"] = trainer.state.global_step
        if trainer.is_world_process_zero():
            _save_model(trainer.model, tokenizer, run_dir / "model")
            runs.finish_run(run_dir, status="completed", metrics=final)
    except BaseException as exc:
        if (reason := _disk_full_reason(exc)) is not None:
            raise _disk_full(run_dir, reason) from None
        if is_main_process():
            runs.finish_run(run_dir, status="interrupted")
        raise
    return TrainResult(run_dir=run_dir, metrics=final, chosen=chosen)


DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)  # no space, a file-size limit, a quota


def _disk_full_reason(exc: BaseException) -> str | None:
    """What failed, when ``exc`` is a write that found no space: an OSError, safetensors' error (its Rust writer
    reports the OS error in its message, e.g. "No space left on device (os error 28)"), or torch.save's (the
    optimizer state: "[enforce fail at inline_container.cc] unexpected pos", no errno at all)."""
    from safetensors import SafetensorError

    if isinstance(exc, OSError) and exc.errno in DISK_FULL:
        return f"{exc.strerror} writing {exc.filename}" if exc.filename else str(exc.strerror)
    if isinstance(exc, SafetensorError) and any(f"(os error {n})" in str(exc) for n in DISK_FULL):
        return str(exc).rsplit(": ", 1)[-1]
    if isinstance(exc, RuntimeError) and any(s in str(exc) for s in ("PytorchStreamWriter", "inline_container")):
        return f"torch.save could not write a checkpoint file: {exc}"  # its writer reports no errno
    return None


def _drop_incomplete_checkpoints(ckpt_dir: Path) -> None:
    """Remove checkpoint folders cut short (by a full disk or a kill mid-save): transformers writes
    ``trainer_state.json`` last and resumes from the highest-numbered folder, complete or not."""
    for folder in ckpt_dir.glob("checkpoint-*"):
        if not (folder / "trainer_state.json").is_file():
            shutil.rmtree(folder, ignore_errors=True)


def _save_model(model, tokenizer, model_dir: Path) -> None:
    """Write the final model beside ``model_dir`` and rename it into place: a run has a ``model`` folder only
    once it is whole."""
    partial = model_dir.with_name(model_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(str(partial), safe_serialization=True)
    tokenizer.save_pretrained(str(partial))
    shutil.rmtree(model_dir, ignore_errors=True)
    partial.rename(model_dir)


def _disk_full(run_dir: Path, where: str) -> DiskFullError:
    """Clean up after a write that found no space (the half-written checkpoint or model goes, freeing some),
    mark the run failed and say what is left to resume from."""
    if is_main_process():
        _drop_incomplete_checkpoints(run_dir / "checkpoints")
        shutil.rmtree(run_dir / "model.partial", ignore_errors=True)
        with contextlib.suppress(OSError):  # on a disk that is still full, run.json keeps its last status
            runs.finish_run(run_dir, status="failed", error=f"disk full: {where}")
    done = sorted((run_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.rsplit("-", 1)[1]))
    resume = f"`--resume` continues from {done[-1].name}" if done else "no checkpoint was complete: start again"
    return DiskFullError(f"the disk is full ({where}); run {run_dir} is marked failed. Free some space; {resume}")


def _load_causal_lm(cfg: TrainConfig, base, device: str, settings: Settings):
    from transformers import AutoModelForCausalLM

    kwargs: dict = {"trust_remote_code": settings.trust_remote_code}
    if cfg.method == "qlora":
        if device != "cuda":
            raise ConfigError("method=qlora needs a CUDA GPU with bitsandbytes (pip install '.[gpu]'); use lora on CPU")
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=torch.bfloat16,
            bnb_4bit_use_double_quant=True,
        )
    else:
        kwargs["dtype"] = torch.float32 if device == "cpu" else torch.bfloat16
    source = base.base or base.path
    model = AutoModelForCausalLM.from_pretrained(
        str(source), **kwargs, **safetensors_only(source, settings.allow_pickle_weights)
    )
    if base.adapter is not None:  # continue from a LoRA run: fold its adapter in first
        from peft import PeftModel

        check_weights(base.adapter, settings.allow_pickle_weights)
        model = PeftModel.from_pretrained(model, str(base.adapter)).merge_and_unload()
    if cfg.method == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    return model


def _add_lora(model, cfg: TrainConfig, chosen: Chosen):
    from peft import LoraConfig, TaskType, get_peft_model

    lora = LoraConfig(
        r=chosen.lora_r,
        lora_alpha=chosen.lora_alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=chosen.lora_targets,
        task_type=TaskType.CAUSAL_LM,
    )
    return get_peft_model(model, lora)


def _last_train_loss(trainer) -> float | None:
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return losses[-1] if losses else None


def _print_chosen(chosen: Chosen, n_train: int, n_val: int, run_dir: Path) -> None:
    c = chosen
    lora = f", LoRA r={c.lora_r} alpha={c.lora_alpha} on {c.lora_targets}" if c.lora_r else ""
    cap = " (capped; set max_steps to train longer)" if c.capped else ""
    console.print(
        f"[bold]train[/bold] {n_train} examples, validate {n_val} | {c.max_steps} steps{cap}, ~{c.epochs:g} epochs,"
        f" batch {c.batch_size}, lr {c.learning_rate:g}{lora}\n[bold]run[/bold] {run_dir}"
    )
