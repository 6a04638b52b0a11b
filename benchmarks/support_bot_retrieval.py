"""Support-bot knowledge-base search: quality on knowledge bases the bot was not built for, and latency at 1k / 10k
entries, each against a plain baseline in the same run.

Unseen KBs (``--parts unseen``): StackFAQ (development set, 125 web-apps FAQs, 1,250 human rephrasings) and a
Banking77 FAQ assembled from the data (held out: one FAQ per intent, its first training utterance; the 3,080 test
utterances as queries), see ``support_bot_data.py``. Each is ingested as a new KB with default settings.
Retrieval: hit@1 / hit@3 of ``KnowledgeBase.search`` (hybrid, and its dense-only / BM25-only modes) against the
baseline "all-minilm-l6-v2 on the FAQ questions alone, cosine, top 1" (ten lines a user could write). End to end:
the real commands ``llmeco bot ingest`` and ``llmeco bot ask --file ... --json`` in a scratch home, scoring whether
the first ``source`` is the right FAQ (clarify replies count when their first offered question is right), and per
language the answer / clarify / handoff rates and how many answers came from the wrong FAQ; the demo KB's labelled
Chinese and English questions (``policy_val`` + ``policy_test``, answerable ones) give the Chinese row.

Latency (``--parts scaling``): ``KnowledgeBase.search`` end to end (query embedding, views, BM25, top-k) with the
default encoders (MiniLM for English, USE multilingual) on the demo KB plus Banking77 training questions as FAQ rows
(beyond 9,999 rows each question is repeated with an opener), queries Banking77 test questions + demo Chinese FAQ
questions; baseline: the MiniLM question-only search (query embedding, products, full argsort). Entries are embedded
once before timing; queries every search.

    python benchmarks/support_bot_retrieval.py [--parts unseen,scaling] [--sizes 1000 10000] [--queries 200]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine_info import machine, write_result  # noqa: E402
from support_bot_data import FaqSet, banking77_faq, stackfaq  # noqa: E402

from apps.support_bot.config import SHARED_DATA, BotConfig  # noqa: E402
from apps.support_bot.kb.knowledge_base import KnowledgeBase, cosines  # noqa: E402
from core.embeddings import Embedder, load_embedder  # noqa: E402

MULTILINGUAL, ENGLISH = BotConfig().embedding_model, BotConfig().english_embedding_model
BANKING77 = ROOT.parent / "shared" / "datasets" / "banking77" / "banking_data"
DEMO_KB = SHARED_DATA / "kb"
OPENERS = ["", "Hi, ", "Hello, ", "Quick question: ", "Please help: ", "Sorry to bother you, ", "Hey there, "]
OPENERS += ["Excuse me, ", "Good morning, ", "One more thing: ", "I need help: ", "Can you tell me: "]
K = 4
DEFAULT_OUT = ROOT / "benchmarks" / "results"


def banking77() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(unique training questions, test questions) as (text, intent)."""
    if not BANKING77.is_dir():
        raise SystemExit(f"Banking77 not found at {BANKING77}; this benchmark needs ../shared/datasets/banking77")

    def read(name: str) -> list[tuple[str, str]]:
        with open(BANKING77 / name, encoding="utf-8") as f:
            return [(r["text"].strip(), r["category"]) for r in csv.DictReader(f)]

    seen: set[str] = set()
    train = [(t, c) for t, c in read("train.csv") if not (t in seen or seen.add(t))]
    return train, [(t, c) for t, c in read("test.csv") if t not in seen]


def faq_rows(base: list[tuple[str, str]], n: int) -> list[tuple[str, str, str]]:
    """``n`` FAQ rows (question, intent, base question): the base questions first, then opener variants."""
    if n > len(base) * len(OPENERS):
        raise SystemExit(f"at most {len(base) * len(OPENERS)} entries can be made from {len(base)} questions")
    rows = []
    for opener in OPENERS:
        for text, intent in base:
            if len(rows) == n:
                return rows
            rows.append((opener + text, intent, text))
    return rows


def answer(intent: str) -> str:
    return f"See our help article on {intent.replace('_', ' ')}."


def faq_csv(rows: list[tuple[str, str, str]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", "question", "answer", "category"])
    for i, (question, intent, _) in enumerate(rows):
        w.writerow([f"b77-{i}", question, answer(intent), intent])
    return buf.getvalue().encode()


class PrecomputedEmbedder:
    """Documents: vectors computed beforehand by the same model (so the sizes share one embedding pass);
    queries and unknown texts: the model, every call."""

    def __init__(self, model: Embedder, table: dict[str, np.ndarray]):
        self.model, self.table = model, table
        self.model_name, self.dimension = model.model_name, model.dimension

    def embed(self, texts: Sequence[str], *, kind: str = "document") -> np.ndarray:
        if kind == "query":
            return self.model.embed(texts, kind=kind)
        unknown = [t for t in dict.fromkeys(texts) if t not in self.table]
        for i in range(0, len(unknown), 1024):
            chunk = unknown[i : i + 1024]
            self.table.update(zip(chunk, self.model.embed(chunk), strict=True))
        return np.stack([self.table[t] for t in texts]) if texts else self.model.embed([])


class QuestionOnlyBaseline:
    """The issue's baseline: MiniLM on the FAQ questions alone, cosine, full sort."""

    def __init__(self, model: Embedder, ids: list[str], questions: list[str]):
        self.model, self.ids = model, ids
        self.vectors = np.vstack([model.embed(questions[i : i + 1024]) for i in range(0, len(questions), 1024)])

    def search(self, query: str, k: int = 3) -> list[str]:
        scores = cosines(self.vectors, self.model.embed([query], kind="query")[0])
        return [self.ids[i] for i in np.argsort(-scores)[:k]]


def latency(fn: Callable[[str], object], queries: list[str], warmup: int = 5) -> dict:
    for q in queries[:warmup]:
        fn(q)
    ms = []
    for q in queries:
        start = time.perf_counter()
        fn(q)
        ms.append((time.perf_counter() - start) * 1000)
    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)), "queries": len(ms)}


def hits(found: list[list[str]], expected: list[str]) -> dict:
    n = len(expected)
    return {
        "hit@1": round(100 * sum(f[:1] == [e] for f, e in zip(found, expected, strict=True)) / n, 2),
        "hit@3": round(100 * sum(e in f[:3] for f, e in zip(found, expected, strict=True)) / n, 2),
    }


# ----------------------------------------------------------------------------------------- end to end (the CLI)


def scratch_home() -> Path:
    """A throwaway LLMECO_HOME that reuses the prepared models."""
    from core.config import load_settings

    home = Path(tempfile.mkdtemp(prefix="llmeco-bench-"))
    (home / "models").symlink_to(load_settings().models_dir, target_is_directory=True)
    return home


def llmeco(home: Path, *args: str) -> str:
    from apps.support_bot.intents import ensure_intent_model
    from core.config import load_settings

    env = {
        **os.environ,
        "LLMECO_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "LLMECO_APPS__SUPPORT_BOT__INTENT_MODEL": str(ensure_intent_model(load_settings())),
    }
    done = subprocess.run([sys.executable, "-m", "apps.cli", *args], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"llmeco {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    return done.stdout


def end_to_end(home: Path, kb: str, queries: list[tuple[str, set[str]]]) -> list[dict]:
    """``llmeco bot ask --file --json`` on the queries; each reply with whether its first source is right and
    whether an answer was given from a wrong entry."""
    qfile = home / f"{kb}-questions.txt"
    qfile.write_text("\n".join(q for q, _ in queries), encoding="utf-8")
    started = time.perf_counter()
    lines = llmeco(home, "bot", "ask", "--file", str(qfile), "--kb", kb, "--json").splitlines()
    wall = time.perf_counter() - started
    replies = [json.loads(x) for x in lines if x.startswith("{")]
    if len(replies) != len(queries):
        raise SystemExit(f"{kb}: {len(replies)} replies to {len(queries)} questions")
    out = []
    for r, (_, expected) in zip(replies, queries, strict=True):
        first = r["sources"][0] if r["sources"] else None
        cited = [s for s in r["sources"] if s["cited"]]
        out.append(
            {
                "action": r["action"],
                "mode": r["mode"],
                "lang": r["lang"],
                "first_right": first is not None and bool({first["id"], first["source"]} & expected),
                "wrong_answer": r["action"] == "answer"
                and bool(cited)
                and not any({s["id"], s["source"]} & expected for s in cited),
                "latency_ms": r["latency_ms"],
            }
        )
    out[0]["wall_s"] = round(wall, 1)
    return out


def rates(rows: list[dict]) -> dict:
    n = len(rows)
    answered = [r for r in rows if r["action"] == "answer"]
    return {
        "n": n,
        "first_source_right": round(100 * sum(r["first_right"] for r in rows) / n, 2),
        "answer": round(100 * len(answered) / n, 2),
        "clarify": round(100 * sum(r["action"] == "clarify" for r in rows) / n, 2),
        "handoff": round(100 * sum(r["action"] == "handoff" for r in rows) / n, 2),
        # answers given from a wrong entry, as a share of the answers given
        "wrong_answers_of_answered": round(100 * sum(r["wrong_answer"] for r in answered) / max(len(answered), 1), 2),
        "answered_right": round(100 * sum(not r["wrong_answer"] for r in answered) / n, 2),
        # the right entry came first but the bot clarified instead of answering (share of those right first)
        "withheld_right": round(
            100
            * sum(r["first_right"] and r["action"] != "answer" for r in rows)
            / max(sum(r["first_right"] for r in rows), 1),
            2,
        ),
        "modes": dict(Counter(r["mode"] for r in rows)),
        "latency_p50_ms": float(np.percentile([r["latency_ms"] for r in rows], 50)),
    }


def unseen(ds: FaqSet, use: Embedder, mini: Embedder, e2e: int | None, log: Callable[[str], None]) -> dict:
    """One unseen KB: retrieval quality vs the baseline, and the bot end to end through the CLI."""
    queries = [q for q, _ in ds.queries]
    expected = [e for _, e in ds.queries]
    with tempfile.TemporaryDirectory(prefix=f"kb-{ds.name}-") as tmp:
        kb = KnowledgeBase(Path(tmp) / ds.name, use, mini)
        t0 = time.perf_counter()
        kb.ingest([], uploads={f"{ds.name}.csv": ds.csv_bytes()})
        ingest_s = time.perf_counter() - t0
        modes = ("hybrid", "dense", "bm25")
        found = {m: [[h.entry.id for h in kb.search(q, k=3, mode=m)] for q in queries] for m in modes}
        ours_latency = latency(lambda q: kb.search(q, k=K), queries[:300])
    baseline = QuestionOnlyBaseline(mini, [f[0] for f in ds.faq], [f[1] for f in ds.faq])
    record = {
        "faqs": len(ds.faq),
        "queries": len(queries),
        "ingest_s": round(ingest_s, 1),
        "ours": {**hits(found["hybrid"], expected), "latency": ours_latency},
        "dense_only": hits(found["dense"], expected),
        "bm25_only": hits(found["bm25"], expected),
        "baseline": {
            **hits([baseline.search(q) for q in queries], expected),
            "latency": latency(baseline.search, queries[:300]),
        },
    }
    log(f"{ds.name}: hit@1 ours {record['ours']['hit@1']} vs baseline {record['baseline']['hit@1']}")
    if e2e is not None:
        home = scratch_home()
        path = ds.write(home)
        t0 = time.perf_counter()
        llmeco(home, "bot", "ingest", str(path), "--kb", ds.name)
        record["cli_ingest_s"] = round(time.perf_counter() - t0, 1)
        record["self_calibration"] = json.loads((home / "support_bot" / "kb" / ds.name / "selfcal.json").read_text())
        step = max(1, len(ds.queries) // e2e) if e2e else 1
        sample = ds.queries[::step][: e2e or None]
        rows = end_to_end(home, ds.name, [(q, {e}) for q, e in sample])
        record["end_to_end"] = {**rates(rows), "wall_s": rows[0]["wall_s"], "sample": f"every {step}th rephrasing"}
        log(f"{ds.name}: end to end {record['end_to_end']}")
    return record


def demo_languages(log: Callable[[str], None]) -> dict:
    """The demo KB (set up by ``llmeco bot setup``) on its labelled answerable questions, per language."""
    home = scratch_home()
    llmeco(home, "bot", "setup")
    labelled = []
    for name in ("policy_val.jsonl", "policy_test.jsonl"):
        for line in (SHARED_DATA / name).read_text(encoding="utf-8").splitlines():
            if line.strip() and (row := json.loads(line))["action"] == "answer" and row.get("expected"):
                labelled.append((row["question"], set(row["expected"]), row.get("lang", "en")))
    rows = end_to_end(home, "demo", [(q, e) for q, e, _ in labelled])
    out = {lang: rates([r for r, x in zip(rows, labelled, strict=True) if x[2] == lang]) for lang in ("en", "zh")}
    log(f"demo: {out}")
    return out


# ----------------------------------------------------------------------------------------------- scaling


def scaling(sizes: Sequence[int], queries: int, use: Embedder, mini: Embedder, seed: int, log) -> dict:
    train, test = banking77()
    rng = random.Random(seed)
    rng.shuffle(train)
    rng.shuffle(test)
    zh = [json.loads(x)["question"] for x in (DEMO_KB / "faq_zh.jsonl").read_text(encoding="utf-8").splitlines()]
    n_zh = min(len(zh), queries // 10)
    qs = [t for t, _ in test[: queries - n_zh]] + rng.sample(zh, n_zh)
    rng.shuffle(qs)
    tables: tuple[dict, dict] = ({}, {})
    use_pre, mini_pre = PrecomputedEmbedder(use, tables[0]), PrecomputedEmbedder(mini, tables[1])
    with tempfile.TemporaryDirectory(prefix="kb-demo-") as tmp:
        demo = KnowledgeBase(Path(tmp) / "demo", use_pre, mini_pre)
        demo.ingest([DEMO_KB])
        demo_entries = len(demo)
    all_rows = faq_rows(train, max(sizes) - demo_entries)
    texts = [f"{q}\n{answer(intent)}" for q, intent, _ in all_rows] + [q for q, _, _ in all_rows]
    log(f"embedding {len(texts)} texts with {MULTILINGUAL} and {ENGLISH} ...")
    t0 = time.perf_counter()
    use_pre.embed(texts)
    mini_pre.embed(texts)
    embed_s = time.perf_counter() - t0
    results = []
    for size in sizes:
        rows = all_rows[: size - demo_entries]
        with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
            kb = KnowledgeBase(Path(tmp) / "kb", use_pre, mini_pre)
            t0 = time.perf_counter()
            ingested = kb.ingest([DEMO_KB], uploads={"scale_faq.csv": faq_csv(rows)})
            ingest_s = time.perf_counter() - t0
            if errors := [r.error for r in ingested if r.error]:
                raise SystemExit("ingest failed: " + "; ".join(errors))
            ours = latency(lambda q, kb=kb: kb.search(q, k=K), qs)
            faqs = [e for e in kb.entries() if e.kind == "faq"]
            base = QuestionOnlyBaseline(mini_pre, [e.id for e in faqs], [e.question for e in faqs])
            plain = latency(base.search, qs)
            results.append(
                {
                    "size": size,
                    "entries": len(kb),
                    "real_questions": demo_entries + min(len(rows), len(train)),
                    "variant_questions": max(0, len(rows) - len(train)),
                    "ingest_s": round(ingest_s, 1),
                    "ours": ours,
                    "baseline": plain,
                    "ratio_p95": ours["p95_ms"] / plain["p95_ms"],
                }
            )
            log(f"{size}: ours p50 {ours['p50_ms']:.1f} / p95 {ours['p95_ms']:.1f} ms; baseline {plain}")
    return {
        "data": f"demo KB ({demo_entries} entries) + Banking77 train questions as FAQ rows; queries: "
        f"{len(qs) - n_zh} Banking77 test + {n_zh} demo Chinese FAQ questions (seed {seed})",
        "embedding_s": round(embed_s, 1),
        "query_embedding": {
            ENGLISH: latency(lambda q: mini.embed([q], kind="query"), qs),
            MULTILINGUAL: latency(lambda q: use.embed([q], kind="query"), qs),
        },
        "results": results,
        "goal": "p95 <= 30 ms at 10k entries",
    }


def run(parts: set[str], sizes: Sequence[int], queries: int, e2e: int | None, out_dir: Path, log=print) -> dict:
    started = time.perf_counter()
    load_at_start = os.getloadavg()
    use, mini = load_embedder(MULTILINGUAL), load_embedder(ENGLISH)
    out_path = Path(out_dir) / "support_bot_retrieval.json"
    record = json.loads(out_path.read_text()) if out_path.exists() else {}
    record = {k: v for k, v in record.items() if k in ("unseen", "scaling", "demo_languages")}
    if "unseen" in parts:
        record["unseen"] = {ds.name: unseen(ds, use, mini, e2e, log) for ds in (stackfaq(), banking77_faq())}
        record["demo_languages"] = demo_languages(log)
    if "scaling" in parts:
        record["scaling"] = scaling(sizes, queries, use, mini, 0, log)
    record |= {
        "benchmark": "support_bot_retrieval",
        "models": {"multilingual": MULTILINGUAL, "english": ENGLISH},
        "baseline": f"{ENGLISH} on the FAQ questions alone, cosine, full sort (the issue's baseline)",
        "machine": {
            **machine(),
            "numpy": np.__version__,
            "load_average_at_start": [round(x, 2) for x in load_at_start],
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "command": " ".join(["python", *sys.argv]) if sys.argv[0].endswith(".py") else "run()",
        "parts_run": sorted(parts),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    write_result(out_path, record)
    return record


def print_table(record: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=150)
    if unseen_sets := record.get("unseen"):
        table = Table(title="Unseen KBs: retrieval hit@1 / hit@3 (%) and the bot end to end")
        for col in ("KB", "ours", "baseline", "dense", "BM25", "first source", "answer", "clarify", "wrong/answers"):
            table.add_column(col, justify="right")
        for name, r in unseen_sets.items():
            e = r.get("end_to_end", {})
            table.add_row(
                name,
                f"{r['ours']['hit@1']:.1f} / {r['ours']['hit@3']:.1f}",
                f"{r['baseline']['hit@1']:.1f} / {r['baseline']['hit@3']:.1f}",
                f"{r['dense_only']['hit@1']:.1f}",
                f"{r['bm25_only']['hit@1']:.1f}",
                f"{e.get('first_source_right', float('nan')):.1f}",
                f"{e.get('answer', float('nan')):.1f}",
                f"{e.get('clarify', float('nan')):.1f}",
                f"{e.get('wrong_answers_of_answered', float('nan')):.1f}",
            )
        for lang, r in record.get("demo_languages", {}).items():
            table.add_row(
                f"demo {lang}",
                "",
                "",
                "",
                "",
                f"{r['first_source_right']:.1f}",
                f"{r['answer']:.1f}",
                f"{r['clarify']:.1f}",
                f"{r['wrong_answers_of_answered']:.1f}",
            )
        console.print(table)
    if sc := record.get("scaling"):
        table = Table(title="KB search latency (ms), default encoders")
        for col in ("entries", "ours p50", "ours p95", "baseline p50", "baseline p95", "p95 ratio"):
            table.add_column(col, justify="right")
        for r in sc["results"]:
            table.add_row(
                f"{r['entries']:,}",
                f"{r['ours']['p50_ms']:.1f}",
                f"{r['ours']['p95_ms']:.1f}",
                f"{r['baseline']['p50_ms']:.1f}",
                f"{r['baseline']['p95_ms']:.1f}",
                f"{r['ratio_p95']:.2f}",
            )
        console.print(table)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="unseen,scaling")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--e2e", type=int, default=0, help="rephrasings per KB through the CLI (0: all; -1: skip)")
    ap.add_argument("--out-dir", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    record = run(parts, args.sizes, args.queries, None if args.e2e < 0 else args.e2e, args.out_dir)
    print_table(record)
    print(f"wrote {args.out_dir / 'support_bot_retrieval.json'}")


if __name__ == "__main__":
    main()
