"""Generation speed per engine against plain ``transformers`` fp32 ``model.generate`` (the baseline), in one run.

Greedy, exactly N new tokens (end-of-turn suppressed), same chat prompt, same model. Every variant is loaded and
warmed up first, then the variants take turns for --runs rounds, so a change in the machine's load hits all of
them alike; each round's ratios are kept. Reports tokens/s over the whole request and time to first token (median
over rounds), prints a table with ratios to the baseline and writes JSON with the machine's load.

    python benchmarks/generation.py [--tokens 128] [--runs 3] [--out benchmarks/results/generation.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine_info import machine, run_record, write_result  # noqa: E402

from core.config import load_settings  # noqa: E402
from core.models import registry  # noqa: E402
from core.text import GenerationParams, Request, load_text_engine  # noqa: E402
from core.text.templates import render_prompt  # noqa: E402

MODEL = "smollm2-135m-instruct"
MESSAGES = [{"role": "user", "content": "Write a short story about a lighthouse keeper and a storm."}]


Runner = Callable[[], tuple[int, float]]  # one request -> (tokens generated, seconds to first token)


def sample(run: Runner) -> dict:
    """One request: tokens/s over the whole request, time to first token, tokens generated."""
    start = time.perf_counter()
    n, ttft = run()
    return {"tokens_per_s": n / (time.perf_counter() - start), "ttft_s": ttft, "tokens": n}


def median_of(samples: list[dict]) -> dict:
    return {
        "tokens_per_s": statistics.median(s["tokens_per_s"] for s in samples),
        "ttft_s": statistics.median(s["ttft_s"] for s in samples),
        "tokens": samples[0]["tokens"],
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

        out = []

        def generate() -> None:
            with torch.inference_mode():
                out.append(
                    model.generate(
                        **ids,
                        max_new_tokens=tokens,
                        min_new_tokens=tokens,
                        do_sample=False,
                        streamer=Stamp(),
                        temperature=None,
                        top_p=None,
                        top_k=None,
                    )
                )

        # On a worker thread, as the engines (and a server) generate: once torch has run a parallel region on the
        # main thread, generation on other threads of the process ran at 0.6x here (2 cores, OpenMP).
        start = time.perf_counter()
        worker = threading.Thread(target=generate)
        worker.start()
        worker.join()
        return out[0].shape[1] - ids["input_ids"].shape[1], stamps[1] - start

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
    at_start = machine()
    torch.set_num_threads(args.threads)
    settings = load_settings(None, [f"text.threads={args.threads}"])
    console = Console(width=160)

    def quantized(mode: str):
        return load_settings(None, [f"text.threads={args.threads}", f"text.quantize={mode}"])

    rows: list[tuple[str, str, Callable[[], Runner]]] = [
        ("hf-fp32 (baseline)", "transformers generate, fp32", lambda: hf_baseline(settings, args.tokens)),
        (
            "engine transformers fp32",
            "ours: transformers fp32 (CPU default where int8 flips answers: AVX-512)",
            lambda: engine_run(load_text_engine(MODEL, quantized("none"), "transformers"), args.tokens),
        ),
        (
            "engine transformers int8",
            "ours: per-channel int8 dynamic (CPU default on AVX2)",
            lambda: engine_run(load_text_engine(MODEL, quantized("int8"), "transformers"), args.tokens),
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
    runners: dict[str, tuple[str, Runner]] = {}
    for name, what, build in rows:
        if name in args.skip:
            continue
        with console.status(f"loading {name} ..."):
            runners[name] = (what, build())
            sample(runners[name][1])  # warm-up
    rounds: dict[str, list[dict]] = {name: [] for name in runners}
    for i in range(args.runs):  # interleaved: each round runs every variant once
        for name, (_, run) in runners.items():
            rounds[name].append(sample(run))
        console.print(f"round {i + 1}/{args.runs}: " + ", ".join(
            f"{n} {r[-1]['tokens_per_s']:.1f} tok/s" for n, r in rounds.items()
        ))  # fmt: skip
    results = []
    for name, (what, run) in runners.items():
        r = median_of(rounds[name])
        engine = getattr(run, "engine", None)
        if engine is not None and not args.no_qa:
            with console.status(f"{name}: factual QA ..."):
                r["factual_qa"] = factual_qa(engine)
        if hasattr(run, "close"):
            run.close()
        per_round_speed = [x["tokens_per_s"] for x in rounds[name]]
        results.append({"name": name, "what": what, **r, "rounds_tokens_per_s": per_round_speed})

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
    per_round = None
    if overhead is not None:  # the same ratio round by round: its spread is the noise of this machine
        per_round = [
            o["tokens_per_s"] / r["tokens_per_s"]
            for o, r in zip(rounds["engine llamacpp"], rounds["llama.cpp raw"], strict=True)
        ]
        console.print(
            f"llama.cpp engine vs raw llama.cpp: {ours['tokens_per_s'] / raw:.2f}x (rounds: "
            + ", ".join(f"{x:.2f}" for x in per_round)
            + ")"
        )
    record = run_record(
        **{
            "benchmark": "generation",
            "model": MODEL,
            "prompt": MESSAGES,
            "new_tokens": args.tokens,
            "runs": args.runs,
            "baseline": "hf-fp32 (baseline)",
            "factual_qa_questions": len(QA),
            "machine": {**at_start, "threads": args.threads, "torch": torch.__version__},
            "results": results,
            "llamacpp_engine_overhead": overhead,
            "llamacpp_engine_vs_raw": ours["tokens_per_s"] / raw if raw and ours else None,
            "llamacpp_engine_vs_raw_per_round": per_round,
            "machine_at_end": machine(),
        }
    )
    out = write_result(args.out, record)
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
