"""PII redaction on a labelled set: recall per kind of personal data and the false-positive rate on near-misses
(order, tracking and invoice numbers, dates, prices, barcodes, card-like numbers failing Luhn, Chinese IDs with a
wrong check character), English and Chinese.

    python benchmarks/pii.py            # table on stdout, JSON in benchmarks/results/pii.json

A labelled value counts as found when it no longer appears in the redacted line; a near-miss ("keep") counts as
a false positive when it no longer appears verbatim. Goals (issue 12): recall >= 99 %, false positives < 1 %."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine_info import run_record, write_result  # noqa: E402
from core.data.pii import redact_pii  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "pii_labelled.jsonl"
RESULTS = Path(__file__).resolve().parent / "results"


def load(path: Path = DATA) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def score(lines: list[dict]) -> dict:
    """Recall per kind and overall, false positives over the near-misses, and the lines that failed."""
    found, total, kept, near, misses, false_positives = Counter(), Counter(), 0, 0, [], []
    for line in lines:
        out = redact_pii(line["text"])
        for item in line["pii"]:
            total[item["type"]] += 1
            if item["value"] in out:
                misses.append({"type": item["type"], "value": item["value"], "text": line["text"], "redacted": out})
            else:
                found[item["type"]] += 1
        for value in line["keep"]:
            near += 1
            if value in out:
                kept += 1
            else:
                false_positives.append({"value": value, "text": line["text"], "redacted": out})
    kinds = {k: {"n": total[k], "found": found[k], "recall": found[k] / total[k]} for k in sorted(total)}
    return {
        "lines": len(lines),
        "languages": dict(Counter(line["lang"] for line in lines)),
        "pii": sum(total.values()),
        "recall": sum(found.values()) / sum(total.values()),
        "near_misses": near,
        "false_positive_rate": (near - kept) / near,
        "kinds": kinds,
        "misses": misses,
        "false_positives": false_positives,
    }


def main() -> None:
    result = score(load())
    print(f"{result['lines']} lines ({result['languages']}), {result['pii']} PII values, ", end="")
    print(f"{result['near_misses']} near-misses")
    print("| kind | n | found | recall |\n|---|---|---|---|")
    for kind, k in result["kinds"].items():
        print(f"| {kind} | {k['n']} | {k['found']} | {k['recall']:.1%} |")
    print(f"| **all** | {result['pii']} | | **{result['recall']:.1%}** |")
    fp = result["false_positives"]
    print(f"false positives: {len(fp)}/{result['near_misses']} = {result['false_positive_rate']:.1%}")
    for m in result["misses"] + result["false_positives"]:
        print("  ", m, file=sys.stderr)
    write_result(RESULTS / "pii.json", run_record(data=str(DATA.relative_to(DATA.parents[2])), **result))


if __name__ == "__main__":
    main()
