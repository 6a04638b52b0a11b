"""Fine-tuning cost: seconds per optimizer step and peak memory, LoRA vs full, through ``llmeco train``'s
trainer, against a plain peft + PyTorch loop (the baseline) with the same model, data, batch and LoRA config.

Each variant runs in its own process so peak RSS (CPU) / peak CUDA memory is its own.

    python benchmarks/finetune.py [--steps 8] [--batch 4] [--tokens 256] [--out benchmarks/results/finetune.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine_info import machine, run_record, write_result  # noqa: E402

MODEL = "smollm2-135m-instruct"
LORA = {"r": 16, "alpha": 32, "dropout": 0.05}
VARIANTS = ["plain-lora (baseline)", "plain-full", "ours-lora", "ours-full"]


def make_data(path: Path, n: int) -> None:
    """Multi-turn chats built from the facts set, long enough to fill the token budget."""
    facts = [json.loads(line) for line in (ROOT / "shared_data/finetune/facts_train.jsonl").read_text().splitlines()]
    with path.open("w") as f:
        for i in range(n):
            messages = []
            for j in range(12):
                messages += facts[(i + j) % len(facts)]["messages"]
            f.write(json.dumps({"messages": messages}) + "\n")


def peak_mb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_plain(method: str, data: Path, steps: int, batch: int, tokens: int) -> dict:
    """The baseline: a hand-written loop, no Trainer, no callbacks."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.config import load_settings
    from core.data import prepare_data
    from core.data.chat_tokens import encode_chat
    from core.models import registry
    from core.training.defaults import LORA_TARGETS

    torch.manual_seed(0)
    path = registry.prepare(MODEL, load_settings(), dtype="float32").path
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    if method == "lora":
        cfg = LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"],
                         target_modules=LORA_TARGETS["llama"], task_type="CAUSAL_LM")  # fmt: skip
        model = get_peft_model(model, cfg)
    lr = 3e-4 if method == "lora" else 5e-5
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    examples = prepare_data(data, val_fraction=0.0).train
    feats = [encode_chat(tok, e.messages, tokens) for e in examples]
    model.train()
    times = []
    for step in range(steps + 1):
        chunk = [feats[(step * batch + i) % len(feats)] for i in range(batch)]
        ids = torch.tensor([f["input_ids"] for f in chunk])
        labels = torch.tensor([f["labels"] for f in chunk])
        start = time.perf_counter()
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if step:  # step 0 warms up allocations
            times.append(time.perf_counter() - start)
    return {"s_per_step": sum(times) / len(times), "peak_mb": peak_mb()}


def run_ours(method: str, data: Path, steps: int, batch: int, tokens: int) -> dict:
    from core.config import load_settings
    from core.training.config import TrainConfig
    from core.training.plots import read_metrics
    from core.training.trainer import train

    out = Path(tempfile.mkdtemp()) / "run"
    cfg = TrainConfig(
        data=str(data), method=method, output=str(out), max_steps=steps + 1, batch_size=batch, max_length=tokens,
        val_fraction=0.0, early_stopping_patience=None, save_steps=10_000, warmup_ratio=0.0,
        lora={"r": LORA["r"], "alpha": LORA["alpha"], "dropout": LORA["dropout"]},
    )  # fmt: skip
    train(cfg, load_settings())
    stamps = [r["time"] for r in read_metrics(out) if "loss" in r]
    saved = sum(f.stat().st_size for f in (out / "model").glob("*.safetensors")) / 2**20
    return {"s_per_step": (stamps[-1] - stamps[0]) / (len(stamps) - 1), "peak_mb": peak_mb(), "saved_mb": saved}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--out", default="benchmarks/results/finetune.json")
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:  # child process: one measurement, printed as JSON
        kind, method = args.variant.split("-", 1)
        method = method.split(" ")[0]
        fn = run_plain if kind == "plain" else run_ours
        print("RESULT " + json.dumps(fn(method, Path(args.data), args.steps, args.batch, args.tokens)))
        return

    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    at_start = machine()
    data = Path(tempfile.mkdtemp()) / "long_chats.jsonl"
    make_data(data, 64)
    results = []
    for variant in VARIANTS:
        with console.status(f"{variant} ..."):
            cmd = [sys.executable, __file__, "--variant", variant, "--data", str(data), "--steps", str(args.steps),
                   "--batch", str(args.batch), "--tokens", str(args.tokens)]  # fmt: skip
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        r = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
        results.append({"variant": variant, **r})
        console.print(f"{variant}: {r['s_per_step']:.2f} s/step, peak {r['peak_mb']:.0f} MB")
    by = {r["variant"]: r for r in results}
    base = by["plain-lora (baseline)"]
    table = Table(title=f"{MODEL}: batch {args.batch} x {args.tokens} tokens, {args.steps} steps, LoRA r=16 all-linear")
    for col in ("variant", "s/step", "x baseline time", "peak MB", "x baseline memory"):
        table.add_column(col)
    for r in results:
        r["time_ratio"] = r["s_per_step"] / base["s_per_step"]
        r["memory_ratio"] = r["peak_mb"] / base["peak_mb"]
        table.add_row(r["variant"], f"{r['s_per_step']:.2f}", f"{r['time_ratio']:.2f}", f"{r['peak_mb']:.0f}",
                      f"{r['memory_ratio']:.2f}")  # fmt: skip
    console.print(table)
    record = run_record(
        **{
            "benchmark": "finetune",
            "model": MODEL,
            "data": "shared_data/finetune/facts_train.jsonl as 12-turn chats, truncated to --tokens",
            "baseline": "plain-lora (baseline)",
            "batch": args.batch,
            "tokens": args.tokens,
            "steps": args.steps,
            "machine": at_start,
            "machine_at_end": machine(),
            "results": results,
        }
    )
    write_result(args.out, record)
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
