"""Generation speed per engine against plain ``transformers`` fp32 ``model.generate`` (the baseline), in one run.

Greedy, exactly N new tokens (end-of-turn suppressed), same chat prompt, same model. Reports tokens/s over the
whole request and time to first token (median of --runs after a warm-up), prints a table with ratios to the
baseline and writes JSON.

    python benchmarks/generation.py [--tokens 128] [--runs 3] [--out benchmarks/results/generation.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine_info import cpu_name  # noqa: E402

from core.config import load_settings  # noqa: E402
from core.models import registry  # noqa: E402
from core.text import GenerationParams, Request, load_text_engine  # noqa: E402
from core.text.templates import render_prompt  # noqa: E402

MODEL = "smollm2-135m-instruct"
MESSAGES = [{"role": "user", "content": "Write a short story about a lighthouse keeper and a storm."}]


Runner = Callable[[], tuple[int, float]]  # one request -> (tokens generated, seconds to first token)


def measure(run: Runner, runs: int) -> dict:
    """Median tokens/s (whole request) and time to first token over ``runs`` after one warm-up run."""
    samples = []
    for i in range(runs + 1):
        start = time.perf_counter()
        n, ttft = run()
        total = time.perf_counter() - start
        if i:
            samples.append((n / total, ttft, n))
    return {
        "tokens_per_s": statistics.median(s[0] for s in samples),
        "ttft_s": statistics.median(s[1] for s in samples),
        "tokens": samples[0][2],
    }


def hf_baseline(settings, tokens: int) -> Runner:
    """Plain transformers, fp32, no quantisation: ``model.generate``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.generation.streamers import BaseStreamer

    path = registry.prepare(MODEL, settings, dtype="float32").path
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    ids = tok(render_prompt(tok, MESSAGES), return_tensors="pt", add_special_tokens=False)

    def run() -> tuple[int, float]:
        stamps: list[float] = []

        class Stamp(BaseStreamer):  # the first put is the prompt, then one per new token
            def put(self, value):
                stamps.append(time.perf_counter())

            def end(self):
                pass

        start = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(
                **ids,
                max_new_tokens=tokens,
                min_new_tokens=tokens,
                do_sample=False,
                streamer=Stamp(),
                temperature=None,
                top_p=None,
                top_k=None,
            )
        return out.shape[1] - ids["input_ids"].shape[1], stamps[1] - start

    return run


def engine_run(engine, tokens: int) -> Runner:
    params = GenerationParams(max_new_tokens=tokens, ignore_eos=True)

    def run() -> tuple[int, float]:
        start, ttft, n = time.perf_counter(), None, 0
        for chunk in engine.stream(Request(messages=MESSAGES, params=params)):
            if chunk.text and ttft is None:
                ttft = time.perf_counter() - start
            n = chunk.completion_tokens or n
        return n, ttft

    run.close = engine.close  # type: ignore[attr-defined]
    run.engine = engine  # type: ignore[attr-defined]
    return run


QA = [json.loads(line) for line in (Path(__file__).parent / "data" / "factual_qa.jsonl").read_text().splitlines()]


def factual_qa(engine) -> int:
    """Greedy answers to 20 short factual questions (written for this benchmark) that match the answer."""
    params = GenerationParams(max_new_tokens=40)
    return sum(
        bool(
            re.search(
                item["answer_regex"],
                engine.chat([{"role": "user", "content": item["question"]}], params).text.lower(),
            )
        )
        for item in QA
    )


def llamacpp_raw(settings, tokens: int, threads: int) -> Runner:
    """llama.cpp's own streaming completion API on the same GGUF: the reference for our engine's overhead."""
    from llama_cpp import Llama

    from core.text.templates import render_chat_template

    gguf = registry.prepare(MODEL, settings).gguf
    llm = Llama(model_path=str(gguf), n_ctx=4096, n_threads=threads, verbose=False)
    banned = {llm.token_eos(): -1e9, llm.tokenize(b"<|im_end|>", add_bos=False, special=True)[0]: -1e9}
    prompt = render_chat_template(llm.metadata.get("tokenizer.chat_template"), MESSAGES)

    def run() -> tuple[int, float]:
        start, ttft, n = time.perf_counter(), None, 0
        for _ in llm.create_completion(prompt, max_tokens=tokens, temperature=0.0, stream=True, logit_bias=banned):
            n += 1  # one streamed chunk per token
            ttft = ttft or time.perf_counter() - start
        return n, ttft

    run.close = llm.close  # type: ignore[attr-defined]
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--out", default="benchmarks/results/generation.json")
    ap.add_argument("--skip", nargs="*", default=[], help="row names to skip")
    ap.add_argument("--no-qa", action="store_true", help="skip the factual-QA quality column")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    settings = load_settings(None, [f"text.threads={args.threads}"])
    console = Console(width=160)

    rows: list[tuple[str, str, Callable[[], Runner]]] = [
        ("hf-fp32 (baseline)", "transformers generate, fp32", lambda: hf_baseline(settings, args.tokens)),
        (
            "engine transformers int8",
            "ours: per-channel int8 dynamic (CPU default)",
            lambda: engine_run(load_text_engine(MODEL, settings, "transformers"), args.tokens),
        ),
        (
            "llama.cpp raw",
            "llama-cpp-python create_completion, Q4_1",
            lambda: llamacpp_raw(settings, args.tokens, args.threads),
        ),
        (
            "engine llamacpp",
            "ours: llama.cpp engine, Q4_1",
            lambda: engine_run(load_text_engine(MODEL, settings, "llamacpp"), args.tokens),
        ),
    ]
    results = []
    for name, what, build in rows:
        if name in args.skip:
            continue
        with console.status(f"{name} ..."):
            run = build()
            r = measure(run, args.runs)
            engine = getattr(run, "engine", None)
            if engine is not None and not args.no_qa:
                r["factual_qa"] = factual_qa(engine)
            if hasattr(run, "close"):
                run.close()
        results.append({"name": name, "what": what, **r})
        console.print(f"{name}: {r['tokens_per_s']:.1f} tok/s, TTFT {r['ttft_s'] * 1000:.0f} ms ({r['tokens']} tokens)")

    base = results[0]["tokens_per_s"]
    raw = next((r["tokens_per_s"] for r in results if r["name"] == "llama.cpp raw"), None)
    table = Table(title=f"{MODEL}: greedy, {args.tokens} new tokens, {args.threads} threads, median of {args.runs}")
    for col in ("engine", "tok/s", "× baseline", "TTFT ms", "factual QA", "what"):
        table.add_column(col)
    for r in results:
        r["ratio_vs_baseline"] = r["tokens_per_s"] / base
        qa = f"{r['factual_qa']}/{len(QA)}" if "factual_qa" in r else "-"
        table.add_row(
            r["name"],
            f"{r['tokens_per_s']:.1f}",
            f"{r['ratio_vs_baseline']:.2f}",
            f"{r['ttft_s'] * 1000:.0f}",
            qa,
            r["what"],
        )
    console.print(table)
    ours = next((r for r in results if r["name"] == "engine llamacpp"), None)
    overhead = (raw / ours["tokens_per_s"] - 1) if raw and ours else None
    if overhead is not None:
        console.print(f"llama.cpp engine overhead vs raw llama.cpp: {overhead * 100:+.1f}%")
    record = {
        "benchmark": "generation",
        "model": MODEL,
        "prompt": MESSAGES,
        "new_tokens": args.tokens,
        "runs": args.runs,
        "baseline": "hf-fp32 (baseline)",
        "factual_qa_questions": len(QA),
        "machine": {
            "platform": platform.platform(),
            "processor": cpu_name(),
            "threads": args.threads,
            "torch": torch.__version__,
        },
        "command": " ".join(["python", *sys.argv]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "results": results,
        "llamacpp_engine_overhead": overhead,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2))
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
