"""Writing-assistant benchmarks: length control and on-topic drafts (ours vs the plain model asked for N words),
the checker (English P/R on our labelled set, Chinese F0.5 on MuCGEC), translation chrF on WMT22 (ours vs a
one-line prompt), the UI path's overhead over the bare engine, and the model comparison.

    python benchmarks/writing.py length [--model M] [--limit N] [--every K]
    python benchmarks/writing.py checks [--model M] [--zh-model-limit N]
    python benchmarks/writing.py translate [--model M] [--limit N]
    python benchmarks/writing.py overhead [--model M]
    python benchmarks/writing.py table          # README tables from the JSON files

Each part writes ``benchmarks/results/writing_<part>[_<model>].json`` (partial results are saved as it goes)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from apps.writing_assistant.config import SHARED_DATA  # noqa: E402
from apps.writing_assistant.textutil import count  # noqa: E402
from benchmarks.machine_info import machine  # noqa: E402
from core.config import load_settings  # noqa: E402
from core.models import registry  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
MUCGEC = DATASETS / "gec_zh_mucgec" / "data" / "MuCGEC" / "MuCGEC_dev.txt"
WMT = DATASETS / "wmt22_general_test"
TOLERANCE = 0.15


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def save(name: str, payload: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2))
    return path


def header(args: argparse.Namespace, model: str) -> dict:
    return {
        "command": "python benchmarks/writing.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "model": model,
        "machine": machine(),
    }


def writer_for(model: str | None):
    from apps.writing_assistant.writer import Writer

    settings = load_settings(values={"text.threads": int(os.environ.get("BENCH_THREADS", "2"))})
    return Writer(settings, model=model or registry.default_chat_model())


def plain_prompt(brief: dict) -> str:
    """The baseline: the model simply asked for N words (characters)."""
    if brief["language"] == "zh":
        return f"写一篇{brief['kind']}，主题：{brief['topic']}。约{brief['length']}个汉字。"
    return f"Write a {brief['kind']} about {brief['topic']} in {brief['length']} words."


def on_topic(text: str, must: list[str]) -> bool:
    low = text.lower()
    return all(w.lower().rstrip("s") in low for w in must)


def run_length(args: argparse.Namespace) -> None:
    """Ours (planned sections + extend/trim) vs the plain model asked for N words, on the same briefs."""
    from apps.writing_assistant.writer import TOKENS_PER_UNIT, Brief
    from core.text import GenerationParams

    writer = writer_for(args.model)
    briefs = [json.loads(line) for line in (SHARED_DATA / "length_briefs.jsonl").read_text().splitlines() if line]
    briefs = briefs[:: args.every][: args.limit]
    out = {**header(args, writer.model_name), "tolerance": TOLERANCE, "briefs": len(briefs), "rows": []}
    name = f"writing_length_{writer.model_name}"
    for i, b in enumerate(briefs, 1):
        row = {k: b[k] for k in ("kind", "language", "length", "topic")}
        t = time.perf_counter()
        draft = writer.draft(Brief(b["kind"], b["topic"], language=b["language"], length=b["length"]))
        row["ours"] = {
            "length": draft.length,
            "within": draft.within_tolerance,
            "on_topic": on_topic(draft.text, b["must"]),
            "seconds": round(time.perf_counter() - t, 1),
            "steps": draft.steps,
        }
        if not args.no_plain:
            t = time.perf_counter()
            budget = int(b["length"] * TOKENS_PER_UNIT[b["language"]] * 1.5) + 60
            text = writer.engine.chat(
                [{"role": "user", "content": plain_prompt(b)}], GenerationParams(max_new_tokens=budget)
            ).text
            n = count(text, b["language"])
            row["plain"] = {
                "length": n,
                "within": abs(n - b["length"]) <= TOLERANCE * b["length"],
                "on_topic": on_topic(text, b["must"]),
                "seconds": round(time.perf_counter() - t, 1),
            }
        out["rows"].append(row)
        log(f"[{i}/{len(briefs)}] {b['language']} {b['kind']} {b['length']}: ours {row['ours']}", row.get("plain"))
        summarise_length(out)
        save(name, out)
    log(json.dumps({k: v for k, v in out.items() if k != "rows"}, ensure_ascii=False, indent=1))


def summarise_length(out: dict) -> None:
    rows = out["rows"]
    for side in ("ours", "plain"):
        have = [r[side] for r in rows if side in r]
        if have:
            out[f"{side}_within_share"] = round(sum(h["within"] for h in have) / len(have), 3)
            out[f"{side}_on_topic_share"] = round(sum(h["on_topic"] for h in have) / len(have), 3)
            out[f"{side}_mean_abs_error"] = round(
                sum(abs(h["length"] - r["length"]) / r["length"] for h, r in zip(have, rows, strict=False)) / len(have),
                3,
            )
            out[f"{side}_seconds_total"] = round(sum(h["seconds"] for h in have), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["length"])
    parser.add_argument("--model", default=None, help="Chat model (default: the strongest installed).")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--every", type=int, default=1, help="Take every K-th brief (model comparison subsets).")
    parser.add_argument("--no-plain", action="store_true", help="Skip the plain-prompt baseline.")
    args = parser.parse_args()
    {"length": run_length}[args.part](args)


if __name__ == "__main__":
    main()
