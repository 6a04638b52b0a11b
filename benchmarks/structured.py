"""Structured output and tool calling on the local engines, in one run.

JSON part (benchmarks/data/structured_json.jsonl: 50 prompts, 25 English + 25 Chinese, over 10 schemas written for
this benchmark): each prompt runs twice on the same engine, the two modes taking turns: the baseline has the
schema only in the system prompt; the constrained run adds ``GenerationParams.constraint`` (JSON Schema). A reply
counts when it parses and validates against the schema: "strict" takes the reply as it is, "lenient" first pulls
out a fenced block or the first JSON object (a kind reader of the baseline). Speed: decoding tokens/s (tokens after
the first over the time after the first, summed over prompts) and end-to-end tokens/s, with their ratios.

Tool part (benchmarks/data/structured_tools.json: 30 prompts, 4 functions): ``tool_choice`` auto and required;
a prompt counts when the call names the expected function and its arguments validate against its schema.

    python benchmarks/structured.py [--variants smollm2-135m-instruct@transformers,...] [--limit N]
        [--max-tokens 128] [--out benchmarks/results/structured.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jsonschema import Draft202012Validator  # noqa: E402
from machine_info import run_record, write_result  # noqa: E402

from core.config import load_settings  # noqa: E402
from core.text import GenerationParams, Request, TextEngine, load_text_engine  # noqa: E402
from core.text.base import collect  # noqa: E402
from core.text.constraints import Constraint  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
VARIANTS = "smollm2-135m-instruct@transformers,smollm2-135m-instruct@llamacpp,qwen2.5-coder-0.5b-instruct@llamacpp"
SYSTEM = {
    "en": "Reply with only a JSON object that matches this JSON Schema, nothing else:\n{schema}",
    "zh": "只回复一个符合以下 JSON Schema 的 JSON 对象，不要输出其他内容：\n{schema}",
}
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def extract_json(text: str) -> str:
    """The lenient reading of a baseline reply: a fenced block, else the first JSON object in it."""
    fenced = _FENCE.search(text)
    if fenced:
        return fenced.group(1).strip()
    start = text.find("{")
    if start < 0:
        return text
    try:
        _, end = json.JSONDecoder().raw_decode(text[start:])
    except ValueError:
        return text[start:]
    return text[start : start + end]


def timed(engine: TextEngine, request: Request) -> dict:
    """One streamed request: text, tokens, end-to-end seconds, and the decoding part after the first token."""
    start = time.perf_counter()
    first, text, tokens = None, "", 0
    for chunk in engine.stream(request):
        if first is None and (chunk.text or chunk.finish_reason):
            first = time.perf_counter()
        text += chunk.text
        if chunk.finish_reason:
            tokens = chunk.completion_tokens
    end = time.perf_counter()
    return {"text": text, "tokens": tokens, "seconds": end - start, "decode_seconds": end - first}


def rate(hits: list[bool]) -> float:
    return round(sum(hits) / len(hits), 4) if hits else 0.0


def json_part(engine: TextEngine, items: list[dict], max_tokens: int) -> dict:
    runs: dict[str, list[dict]] = {"baseline": [], "constrained": []}
    for i, item in enumerate(items):
        schema_text = json.dumps(item["schema"], ensure_ascii=False)
        messages = [
            {"role": "system", "content": SYSTEM[item["lang"]].format(schema=schema_text)},
            {"role": "user", "content": item["prompt"]},
        ]
        constraint = Constraint.json_schema(item["schema"])
        modes = ["baseline", "constrained"] if i % 2 == 0 else ["constrained", "baseline"]  # take turns
        for mode in modes:
            params = GenerationParams(
                max_new_tokens=max_tokens, constraint=constraint if mode == "constrained" else None
            )
            r = timed(engine, Request(messages=messages, params=params))
            r |= {
                "id": item["id"],
                "lang": item["lang"],
                "strict": constraint.accepts(r["text"].strip()),
                "lenient": constraint.accepts(extract_json(r["text"])),
            }
            runs[mode].append(r)
        print(item["id"], {m: (runs[m][-1]["strict"], runs[m][-1]["tokens"]) for m in runs}, flush=True)

    def speed(rs: list[dict]) -> dict:
        decode = sum(r["tokens"] - 1 for r in rs) / sum(r["decode_seconds"] for r in rs)
        return {
            "decode_tokens_per_s": round(decode, 2),
            "end_to_end_tokens_per_s": round(sum(r["tokens"] for r in rs) / sum(r["seconds"] for r in rs), 2),
            "tokens": sum(r["tokens"] for r in rs),
        }

    def rates(rs: list[dict]) -> dict:
        return {"strict": rate([r["strict"] for r in rs]), "lenient": rate([r["lenient"] for r in rs])}

    base, cons = speed(runs["baseline"]), speed(runs["constrained"])
    return {
        "prompts": len(items),
        "valid_rate": {mode: rates(rs) for mode, rs in runs.items()},
        "valid_rate_by_language": {
            lang: {mode: rates([r for r in rs if r["lang"] == lang]) for mode, rs in runs.items()}
            for lang in ("en", "zh")
        },
        "speed": {"baseline": base, "constrained": cons},
        "constrained_over_baseline_decode_speed": round(cons["decode_tokens_per_s"] / base["decode_tokens_per_s"], 3),
        "constrained_failures": [r["id"] for r in runs["constrained"] if not r["strict"]],
        "examples": {mode: {r["id"]: r["text"] for r in rs[:2]} for mode, rs in runs.items()},
    }


def tool_part(engine: TextEngine, data: dict, max_tokens: int) -> dict:
    validators = {t["function"]["name"]: Draft202012Validator(t["function"]["parameters"]) for t in data["tools"]}
    out = {}
    for choice in ("auto", "required"):
        rows = []
        for item in data["prompts"]:
            request = Request(
                messages=[{"role": "user", "content": item["prompt"]}],
                params=GenerationParams(max_new_tokens=max_tokens),
                tools=data["tools"],
                tool_choice=choice,
            )
            result = collect(engine.stream(request))
            call = result.tool_calls[0] if result.tool_calls else None
            right = call is not None and call.name == item["expected"]
            valid = call is not None and validators[call.name].is_valid(json.loads(call.arguments))
            rows.append({"id": item["id"], "called": call is not None, "right": right, "valid": valid})
            print(choice, item["id"], call, flush=True)
        out[choice] = {
            "prompts": len(rows),
            "called_rate": rate([r["called"] for r in rows]),
            "right_function_rate": rate([r["right"] for r in rows]),
            "valid_arguments_rate": rate([r["valid"] for r in rows]),
            "right_and_valid_rate": rate([r["right"] and r["valid"] for r in rows]),
        }
    return out


def spread(rows: list[dict], limit: int) -> list[dict]:
    """``limit`` rows evenly spaced through ``rows`` (the data files group prompts by schema and function)."""
    return rows if not limit or limit >= len(rows) else [rows[i * len(rows) // limit] for i in range(limit)]


def subset(items: list[dict], tools: dict, limit: int) -> tuple[list[dict], dict]:
    """``limit`` JSON prompts per language and ``limit`` tool prompts, spread over the schemas and functions."""
    by_lang = [i for lang in ("en", "zh") for i in spread([i for i in items if i["lang"] == lang], limit)]
    return by_lang, tools | {"prompts": spread(tools["prompts"], limit)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", default=VARIANTS, help="model@engine[:N], comma-separated (N: --limit for it)")
    ap.add_argument("--limit", type=int, default=0, help="first N prompts per language and N tool prompts (0: all)")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--out", default="benchmarks/results/structured.json")
    args = ap.parse_args()
    all_items = [json.loads(line) for line in (DATA / "structured_json.jsonl").read_text().splitlines() if line.strip()]
    all_tools = json.loads((DATA / "structured_tools.json").read_text())
    settings = load_settings()
    result = run_record(
        data={
            "json_prompts": "benchmarks/data/structured_json.jsonl",
            "tool_prompts": "benchmarks/data/structured_tools.json",
            "functions": [t["function"]["name"] for t in all_tools["tools"]],
        },
        settings={"max_new_tokens": args.max_tokens, "temperature": 0.0, "threads": settings.text.threads},
        variants={},
    )
    for spec in args.variants.split(","):
        variant, _, limit = spec.partition(":")
        items, tools = subset(all_items, all_tools, int(limit or args.limit))
        model, engine_name = variant.split("@")
        engine = load_text_engine(model, settings, engine=engine_name)
        try:
            warm = [{"role": "user", "content": "Hi"}]
            engine.chat(warm, GenerationParams(max_new_tokens=4, constraint=Constraint.json_object()))
            engine.chat(warm, GenerationParams(max_new_tokens=4))
            started = time.perf_counter()
            result["variants"][variant] = {
                "model": model,
                "engine": engine_name,
                "json_prompt_count": len(items),
                "tool_prompt_count": len(tools["prompts"]),
                "json": json_part(engine, items, args.max_tokens),
                "tools": tool_part(engine, tools, args.max_tokens),
                "seconds": round(time.perf_counter() - started, 1),
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
            }
        finally:
            engine.close()
        write_result(args.out, result)
    for variant, r in result["variants"].items():
        j = r["json"]
        print(variant, j["valid_rate"], j["constrained_over_baseline_decode_speed"], r["tools"])


if __name__ == "__main__":
    main()
