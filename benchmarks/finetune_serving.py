"""Does serving keep what fine-tuning taught? The default LoRA recipe on the 24 fact-learning chats
(`shared_data/finetune/facts_train.jsonl`), then the 8 held-out paraphrased questions (`facts_test.jsonl`) answered
greedily by: the base model (the baseline), the run served in fp32 (our default for fine-tuned runs) and the run
served with per-channel int8 (the CPU default for base models). A hit = the answer contains the fact's keyword.

    python benchmarks/finetune_serving.py [--out benchmarks/results/finetune_serving.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine_info import machine, run_record, write_result  # noqa: E402

from core.config import load_settings  # noqa: E402
from core.text import GenerationParams, load_text_engine  # noqa: E402
from core.training.config import TrainConfig  # noqa: E402
from core.training.trainer import train  # noqa: E402

MODEL = "smollm2-135m-instruct"
DATA = ROOT / "shared_data" / "finetune"


def fact_hits(model: str, settings, quantize: str) -> tuple[int, list[str]]:
    tests = [json.loads(line) for line in (DATA / "facts_test.jsonl").read_text().splitlines()]
    served = settings.model_copy(update={"text": settings.text.model_copy(update={"quantize": quantize})})
    engine = load_text_engine(model, served, engine="transformers")
    answers = [engine.chat(t["messages"][:1], GenerationParams(max_new_tokens=40)).text for t in tests]
    hits = sum(t["keyword"].lower() in a.lower() for t, a in zip(tests, answers, strict=True))
    return hits, answers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="benchmarks/results/finetune_serving.json")
    args = ap.parse_args()
    at_start = machine()
    settings = load_settings()
    with tempfile.TemporaryDirectory() as tmp:
        run = train(TrainConfig(data=str(DATA / "facts_train.jsonl"), output=str(Path(tmp) / "run")), settings).run_dir
        rows = []
        for name, model, quantize in [
            ("base model, fp32 (baseline)", MODEL, "none"),
            ("fine-tuned run, fp32 (default for runs)", str(run), "none"),
            ("fine-tuned run, per-channel int8", str(run), "int8"),
        ]:
            hits, answers = fact_hits(model, settings, quantize)
            rows.append({"name": name, "quantize": quantize, "hits": hits, "answers": answers})
            print(f"{name}: {hits}/8")
    record = run_record(
        **{
            "benchmark": "finetune_serving",
            "model": MODEL,
            "data": "shared_data/finetune facts_train.jsonl (24 chats) / facts_test.jsonl (8 held-out paraphrases)",
            "questions": 8,
            "baseline": rows[0]["name"],
            "results": rows,
            "machine": at_start,
        }
    )
    out = write_result(args.out, record)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
