"""Fine-tuned models at llama.cpp speed? The default LoRA recipe on the 24 fact-learning chats
(`shared_data/finetune/facts_train.jsonl`), merged and served five ways, in one run: fp32 and per-channel int8
(transformers), and GGUF exports f16, q8_0 and q4_k_m (`llmeco export --format gguf`, llama.cpp engine).

Per variant: the 8 held-out paraphrased fact questions (`facts_test.jsonl`, greedy, a hit = the answer holds the
fact's keyword), which of fp32's hits it keeps, and decode speed (greedy, 128 new tokens with end-of-turn
suppressed, the prompt of benchmarks/generation.py; variants take turns for --runs rounds, median), as wall-clock
tokens/s and as tokens per CPU-second of this process (on a shared machine the wall clock mostly measures the other
processes; one thread per variant keeps CPU time free of llama.cpp's spinning workers). Goal: a GGUF variant that
keeps every fact fp32 knows at >= 5x fp32's tokens/s. Each export's own check against fp32 on the
run's validation examples (perplexity, ROUGE-L) is recorded too.

    python benchmarks/export.py [--run RUN_DIR] [--runs 3] [--out benchmarks/results/export.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generation import engine_run, median_of, sample  # noqa: E402
from machine_info import machine, run_record, write_result  # noqa: E402

from core.config import load_settings  # noqa: E402
from core.text import GenerationParams, load_text_engine  # noqa: E402
from core.text.llamacpp_engine import LlamaCppEngine  # noqa: E402
from core.training.config import TrainConfig  # noqa: E402
from core.training.export import BelowTolerance, export_gguf  # noqa: E402
from core.training.trainer import train  # noqa: E402

MODEL = "smollm2-135m-instruct"
DATA = ROOT / "shared_data" / "finetune"
QUANTS = ("f16", "q8_0", "q4_k_m")


def fact_hits(engine) -> tuple[list[bool], list[str]]:
    tests = [json.loads(line) for line in (DATA / "facts_test.jsonl").read_text().splitlines()]
    answers = [engine.chat(t["messages"][:1], GenerationParams(max_new_tokens=40)).text for t in tests]
    return [t["keyword"].lower() in a.lower() for t, a in zip(tests, answers, strict=True)], answers


def timed(run_once) -> dict:
    """``sample`` plus tokens per CPU-second of this process (all its threads)."""
    cpu = time.process_time()
    result = sample(run_once)
    result["tokens_per_cpu_s"] = result["tokens"] / (time.process_time() - cpu)
    return result


def scratch_copy(run: Path, into: Path) -> Path:
    """A run folder sharing ``run``'s model, so linking exports to it leaves ``run`` itself untouched."""
    into.mkdir(parents=True)
    for name in ("run.json", "config.yaml"):
        (into / name).write_text((run / name).read_text())
    (into / "model").symlink_to(run / "model", target_is_directory=True)
    return into


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", help="an existing run of the default recipe on facts_train.jsonl (default: train one)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--out", default="benchmarks/results/export.json")
    args = ap.parse_args()
    at_start = machine()
    settings = load_settings(None, [f"text.threads={args.threads}"])
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        if args.run:
            source = Path(args.run).resolve()
        else:
            source = train(TrainConfig(data=str(DATA / "facts_train.jsonl"), output=f"{tmp}/trained"), settings).run_dir
        train_s = None if args.run else time.perf_counter() - started
        run = scratch_copy(source, Path(tmp) / "run")
        variants = {}
        for mode in ("none", "int8"):
            served = load_settings(None, [f"text.threads={args.threads}", f"text.quantize={mode}"])
            name = "fp32 (transformers)" if mode == "none" else "int8 (transformers)"
            variants[name] = {"engine": load_text_engine(str(run), served, "transformers")}
        for quant in QUANTS:
            started = time.perf_counter()
            try:
                done = export_gguf(str(run), settings, Path(tmp) / quant, quant)
                path, report = done.path, done.report
            except BelowTolerance as exc:  # measured all the same: the table shows what the check refused
                path, report = Path(tmp) / quant / f"model-{quant}.gguf", exc.report
            variants[f"GGUF {quant} (llama.cpp)"] = {
                "engine": LlamaCppEngine(path.name, path, context_length=4096, threads=args.threads),
                "export_s": round(time.perf_counter() - started, 1),
                "size_mb": round(path.stat().st_size / 2**20, 1),
                "check": {k: v for k, v in report.items() if k != "answers"},
            }
            print(f"exported {quant}: {variants[f'GGUF {quant} (llama.cpp)']['size_mb']} MB, check {report['passed']}")
        runners = {}
        for name, v in variants.items():
            runners[name] = engine_run(v["engine"], args.tokens)
            timed(runners[name])  # warm-up
        rounds: dict[str, list[dict]] = {name: [] for name in runners}
        for i in range(args.runs):  # interleaved: a change in the machine's load hits every variant alike
            for name, run_once in runners.items():
                rounds[name].append(timed(run_once))
            print(f"round {i + 1}: " + ", ".join(f"{n} {r[-1]['tokens_per_s']:.1f}" for n, r in rounds.items()))
        results = []
        for name, v in variants.items():
            hits, answers = fact_hits(v.pop("engine"))
            runners[name].close()
            results.append({"name": name, **median_of(rounds[name]), "hits": sum(hits), "hit": hits, **v})
            results[-1]["answers"] = answers
            results[-1]["rounds_tokens_per_s"] = [r["tokens_per_s"] for r in rounds[name]]
            results[-1]["tokens_per_cpu_s"] = statistics.median(r["tokens_per_cpu_s"] for r in rounds[name])
    fp32 = results[0]
    for r in results:
        r["speedup_vs_fp32"] = round(r["tokens_per_s"] / fp32["tokens_per_s"], 2)
        r["cpu_speedup_vs_fp32"] = round(r["tokens_per_cpu_s"] / fp32["tokens_per_cpu_s"], 2)
        r["keeps_fp32_facts"] = all(h for h, f in zip(r["hit"], fp32["hit"], strict=True) if f)
        print(
            f"{r['name']:<26} {r['hits']}/8 facts (keeps fp32's: {r['keeps_fp32_facts']})"
            f"  {r['tokens_per_s']:6.1f} tok/s  {r['speedup_vs_fp32']:5.2f}x"
            f"  {r['tokens_per_cpu_s']:6.1f} tok/CPU-s  {r['cpu_speedup_vs_fp32']:5.2f}x"
        )
    kept = [r for r in results if r["name"].startswith("GGUF") and r["keeps_fp32_facts"]]
    goal = [r["name"] for r in kept if r["speedup_vs_fp32"] >= 5]
    goal_cpu = [r["name"] for r in kept if r["cpu_speedup_vs_fp32"] >= 5]
    record = run_record(
        **{
            "benchmark": "export",
            "model": MODEL,
            "data": "shared_data/finetune facts_train.jsonl (24 chats) / facts_test.jsonl (8 held-out paraphrases)",
            "run": str(source) if args.run else "trained by this benchmark (default LoRA recipe)",
            "train_s": round(train_s, 1) if train_s else None,
            "questions": 8,
            "new_tokens": args.tokens,
            "runs": args.runs,
            "threads": args.threads,
            "goal": "a GGUF variant keeping every fact fp32 knows at >= 5x fp32 tokens/s",
            "goal_met_by": goal,
            "goal_met_by_cpu_time": goal_cpu,
            "results": results,
            "machine": at_start,
            "machine_at_end": machine(),
        }
    )
    out = write_result(args.out, record)
    print(f"goal met by: {', '.join(goal) or 'none'} (wall clock), {', '.join(goal_cpu) or 'none'} (CPU time)")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
