"""Intent accuracy of the support bot's recipe (``apps/support_bot/intents.py``) on Banking77, with the full
training set and with k examples per intent, against a baseline measured in the same run: logistic regression
over frozen all-MiniLM-L6-v2 embeddings. Also scores the demo intent set (English and Chinese rows apart) and
plots its confusion matrix.

    OMP_NUM_THREADS=1 python benchmarks/support_bot_intents.py [--shots full,10] [--seed 0] [--data DIR]

Banking77 (PolyAI, CC BY 4.0) is read from ../shared/datasets/banking77/banking_data (train.csv, test.csv);
without it only the demo set is scored. The full-set fine-tune takes about an hour on 2 busy CPU cores.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shlex
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine_info import machine, write_result  # noqa: E402

BANKING77 = ROOT.parent / "shared" / "datasets" / "banking77" / "banking_data"
OUT = ROOT / "benchmarks" / "results"
GOALS = {"full": 0.945, "10-shot": 0.88}
BASELINE = "frozen all-minilm-l6-v2 embeddings + logistic regression (C=10)"
CJK = re.compile(r"[\u4e00-\u9fff]")


def few_shot_csv(train: Path, k: int, seed: int, out: Path) -> Path:
    """k rows per intent, drawn with a fixed seed from the training split (the same rows for both methods)."""
    import numpy as np

    from apps.support_bot.intents import read_intent_csv

    rows = read_intent_csv(train)
    rng = np.random.default_rng(seed)
    labels = np.array([label for _, label in rows])
    chosen = sorted(i for label in sorted(set(labels)) for i in rng.choice(np.flatnonzero(labels == label), k, False))
    with out.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([("text", "label"), *(rows[i] for i in chosen)])
    return out


def baseline(train: Path, test: Path, settings) -> dict:
    """Logistic regression over frozen MiniLM sentence embeddings."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from apps.support_bot.intents import read_intent_csv
    from core.embeddings import load_embedder
    from core.training.metrics import classification_scores

    train_rows, test_rows = read_intent_csv(train), read_intent_csv(test)
    start = time.perf_counter()
    embedder = load_embedder("all-minilm-l6-v2", settings)
    clf = LogisticRegression(C=10, max_iter=3000).fit(
        embedder.embed([t for t, _ in train_rows]), np.array([label for _, label in train_rows])
    )
    seconds = time.perf_counter() - start
    predicted = clf.predict(embedder.embed([t for t, _ in test_rows])).tolist()
    scores = classification_scores([label for _, label in test_rows], predicted, clf.classes_.tolist())
    return {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"], "train_seconds": round(seconds, 1)}


def _ours(result: dict) -> dict:
    keep = ("accuracy", "macro_f1", "train_seconds", "n_train", "n_test", "n_labels", "view_accuracy")
    return {k: result[k] for k in keep}


def demo(settings, out_dir: Path) -> dict:
    """The shipped demo intent set: held-out accuracy overall, English and Chinese, and a confusion matrix."""
    from apps.support_bot.config import SHARED_DATA
    from apps.support_bot.intents import evaluate_intents, read_intent_csv
    from core.training.plots import plot_confusion

    test = SHARED_DATA / "intents_test.csv"
    result = evaluate_intents(SHARED_DATA / "intents.csv", test, settings, progress=False)
    wrong = {e["text"] for e in result["errors"]}
    by_language: dict[str, list[bool]] = {"en": [], "zh": []}
    for text, _ in read_intent_csv(test):
        by_language["zh" if CJK.search(text) else "en"].append(text not in wrong)
    png = plot_confusion(
        result["confusion_matrix"],
        result["labels"],
        out_dir / "support_bot_intents_confusion.png",
        title=f"Demo intents, held-out ({result['n_test']} rows): accuracy {result['accuracy']:.0%}",
    )
    return {
        **_ours(result),
        **{f"accuracy_{lang}": sum(ok) / len(ok) for lang, ok in by_language.items()},
        **{f"n_{lang}": len(ok) for lang, ok in by_language.items()},
        "errors": result["errors"],
        "confusion_png": str(png.relative_to(ROOT) if png.is_relative_to(ROOT) else png),
    }


def run(
    shots: tuple[int | None, ...] = (None, 10),
    out_dir: Path = OUT,
    seed: int = 0,
    data: Path = BANKING77,
    command: str | None = None,
) -> dict:
    """Score the recipe and the baseline per setting (None = full training set); writes the JSON record after
    every step so a long run that is stopped keeps what it measured."""
    from apps.support_bot.intents import RECIPE, evaluate_intents
    from core.config import load_settings

    settings = load_settings()
    out_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": "support_bot_intents",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command or "python benchmarks/support_bot_intents.py",
        "machine": machine(),
        "recipe": RECIPE,
        "baseline": BASELINE,
        "goals": GOALS,
        "demo": None,
        "banking77": [],
    }
    path = out_dir / "support_bot_intents.json"

    def save() -> None:
        write_result(path, record)

    record["demo"] = demo(settings, out_dir)
    save()
    if not (data / "train.csv").is_file() or not (data / "test.csv").is_file():
        record["banking77_skipped"] = f"Banking77 not found at {data} (train.csv, test.csv)"
        save()
        return record
    test = data / "test.csv"
    record["data"] = {"train": str(data / "train.csv"), "test": str(test), "source": "PolyAI Banking77, CC BY 4.0"}
    with tempfile.TemporaryDirectory(prefix="banking77-") as tmp:
        for k in shots:
            name = "full" if k is None else f"{k}-shot"
            train = (
                data / "train.csv" if k is None else few_shot_csv(data / "train.csv", k, seed, Path(tmp) / f"{k}.csv")
            )
            base = baseline(train, test, settings)
            ours = _ours(evaluate_intents(train, test, settings))
            entry = {
                "setting": name,
                "seed": None if k is None else seed,
                "ours": ours,
                "baseline": base,
                "delta_accuracy": ours["accuracy"] - base["accuracy"],
                "error_ratio": (1 - ours["accuracy"]) / max(1 - base["accuracy"], 1e-9),  # < 1: fewer errors
                "goal": GOALS.get(name),
                "goal_met": None if name not in GOALS else ours["accuracy"] >= GOALS[name],
            }
            record["banking77"].append(entry)
            save()
    record["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    save()
    return record


def print_table(record: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    d = record["demo"]
    console.print(
        f"demo intents: accuracy {d['accuracy']:.1%} (English {d['accuracy_en']:.0%} of {d['n_en']}, Chinese"
        f" {d['accuracy_zh']:.0%} of {d['n_zh']}), macro-F1 {d['macro_f1']:.3f}, trained in {d['train_seconds']} s;"
        f" confusion matrix: {d['confusion_png']}"
    )
    if "banking77_skipped" in record:
        console.print(f"[yellow]skipped Banking77:[/yellow] {record['banking77_skipped']}")
        return
    table = Table(title=f"Banking77 test set (3,080 rows): ours = {record['recipe']}; baseline = {record['baseline']}")
    for col in ("setting", "method", "accuracy", "macro-F1", "train s", "Δ acc vs baseline", "error ratio", "goal"):
        table.add_column(col)
    for e in record["banking77"]:
        for method in ("baseline", "ours"):
            r = e[method]
            ours = method == "ours"
            goal = "" if not ours or e["goal"] is None else f"{e['goal']:.1%} {'met' if e['goal_met'] else 'not met'}"
            table.add_row(
                e["setting"],
                method,
                f"{r['accuracy']:.2%}",
                f"{r['macro_f1']:.4f}",
                f"{r['train_seconds']:.0f}",
                f"{e['delta_accuracy']:+.2%}" if ours else "",
                f"{e['error_ratio']:.2f}" if ours else "",
                goal,
            )
    console.print(table)
    for e in record["banking77"]:
        views = ", ".join(f"{k} {v:.2%}" for k, v in e["ours"]["view_accuracy"].items())
        console.print(f"{e['setting']}: each view alone: {views}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shots", default="full,10", help="comma-separated: full and/or examples per intent")
    ap.add_argument("--seed", type=int, default=0, help="which k examples per intent are drawn")
    ap.add_argument("--data", type=Path, default=BANKING77, help="folder with Banking77's train.csv and test.csv")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    try:
        shots = tuple(None if s.strip() == "full" else int(s) for s in args.shots.split(","))
    except ValueError:
        shots = (0,)
    if any(k is not None and k < 1 for k in shots):
        ap.error(f"--shots {args.shots!r}: use 'full' and/or positive integers, e.g. full,10")
    if not (args.data / "train.csv").is_file():
        print(f"Banking77 not found at {args.data}: scoring the demo intent set only.", file=sys.stderr)
    command = shlex.join(["python", "benchmarks/support_bot_intents.py", *sys.argv[1:]])
    print_table(run(shots, args.out, args.seed, args.data, command))


if __name__ == "__main__":
    main()
