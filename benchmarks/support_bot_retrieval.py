"""Support-bot knowledge-base search latency at 1k / 10k / 100k FAQ entries, against a naive baseline in the same run.

Ours: ``KnowledgeBase.search`` end to end (query embedding with USE multilingual v3, BM25 on a sparse matrix, dense
products + argpartition, reciprocal rank fusion). Baseline ("naive hybrid"): the same embedding, products and fusion,
with BM25 scored the way ``rank_bm25.BM25Okapi.get_scores`` does it (a Python dict per document, every document
visited per query term; re-implemented here, the package is not a dependency) and the dense ranking by a full argsort.

Data: the demo knowledge base (``shared_data/support_bot/kb``) plus Banking77 training questions
(``../shared/datasets/banking77``, shuffled) as FAQ rows; queries are Banking77 test questions plus the demo's Chinese
FAQ questions. 100k entries need more unique questions than Banking77 has (9,999), so beyond them each question is
repeated with a customer-service opener ("Hi, ", "Quick question: ", ...). Every entry is embedded for real, once,
before the timed part (the sizes share their rows); queries are embedded per search. The embedder runs with one BLAS
thread (``--threads``): on a busy 2-core machine ``load_embedder``'s default (all cores) makes a one-sentence embed
wait on a descheduled BLAS thread, 5 ms becoming ~200 ms, and the run records that default's query-embedding latency
next to ours. Quality: hit@1 / hit@5 of hybrid vs BM25-only vs dense-only on
``shared_data/support_bot/policy_val.jsonl`` (answer lines) and Banking77 nearest-question intent match.

    python benchmarks/support_bot_retrieval.py [--sizes 1000 10000 100000] [--queries 200] [--baseline-queries 50]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine_info import machine  # noqa: E402

from apps.support_bot.config import SHARED_DATA  # noqa: E402
from apps.support_bot.kb.knowledge_base import CANDIDATES, MIN_COVERAGE, RRF_K, KnowledgeBase, cosines  # noqa: E402
from apps.support_bot.kb.tokenize import tokens  # noqa: E402
from core.embeddings import Embedder, UniversalSentenceEncoderEmbedder, load_embedder  # noqa: E402

MODEL = "use-multilingual-v3"
BANKING77 = ROOT.parent / "shared" / "datasets" / "banking77" / "banking_data"
DEMO_KB = SHARED_DATA / "kb"
POLICY_VAL = SHARED_DATA / "policy_val.jsonl"
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
        unknown = [t for t in texts if t not in self.table]
        if unknown:
            self.table.update(zip(unknown, self.model.embed(unknown), strict=True))
        return np.stack([self.table[t] for t in texts]) if texts else self.model.embed([])


class PythonBM25:
    """``rank_bm25.BM25Okapi`` scoring: per-document term dicts, every document visited per query term; it also
    sums the query coverage that our fusion gates on (same formula as ``BM25.match``)."""

    def __init__(self, corpus: list[list[str]], k1: float = 1.5, b: float = 0.75):
        self.k1, self.b = k1, b
        self.doc_freqs = [Counter(doc) for doc in corpus]
        self.doc_len = np.array([len(doc) for doc in corpus], dtype=np.float64)
        self.avgdl = self.doc_len.mean()
        df = Counter(t for doc in self.doc_freqs for t in doc)
        n = len(corpus)
        self.idf = {t: np.log1p((n - f + 0.5) / (f + 0.5)) for t, f in df.items()}  # same IDF as ours

    def get_scores(self, query: list[str]) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.doc_freqs)
        score, covered = np.zeros(n), np.zeros(n)
        norm = self.k1 * (1 - self.b + self.b * self.doc_len / self.avgdl)
        for q in query:
            q_freq = np.array([(doc.get(q) or 0) for doc in self.doc_freqs])
            score += (self.idf.get(q) or 0) * (q_freq * (self.k1 + 1) / (q_freq + norm))
            covered += (q_freq > 0) * (self.idf.get(q) or 0)
        total = sum(self.idf.get(q, np.log1p((n + 0.5) / 0.5)) for q in query)
        return score, covered / total if total else covered


def naive_search(kb: KnowledgeBase, embedder: Embedder) -> Callable[[str], list[str]]:
    """The baseline: same embedding, tokens and fusion as ours; Python BM25 and full sorts."""
    entries = kb.entries()
    vectors = np.load(kb.root / "vectors.npy")
    bm25 = PythonBM25([tokens(e.text) for e in entries])

    def search(query: str) -> list[str]:
        dense = cosines(vectors, embedder.embed([query], kind="query")[0])
        scores, coverage = bm25.get_scores(tokens(query))
        scores[coverage < MIN_COVERAGE] = 0
        fused: dict[int, float] = {}
        by_bm25 = [i for i in np.argsort(-scores)[:CANDIDATES] if scores[i] > 0]
        for ranked in (np.argsort(-dense)[:CANDIDATES], by_bm25):
            for rank, i in enumerate(ranked, start=1):
                fused[int(i)] = fused.get(int(i), 0.0) + 1.0 / (RRF_K + rank)
        return [entries[i].id for i in sorted(fused, key=lambda i: (-fused[i], -dense[i]))[:K]]

    return search


def latency(fn: Callable[[Any], object], queries: list, warmup: int = 5) -> dict:
    for q in queries[:warmup]:
        fn(q)
    ms = []
    for q in queries:
        start = time.perf_counter()
        fn(q)
        ms.append((time.perf_counter() - start) * 1000)
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "mean_ms": float(np.mean(ms)),
        "queries": len(ms),
    }


def hit_rates(kb: KnowledgeBase, items: list[tuple[str, Callable[[list], bool]]]) -> dict:
    """hit@1 / hit@5 (percent) per search mode; each item is (query, is_hit(top entries))."""
    out = {}
    for mode in ("hybrid", "bm25", "dense"):
        h1 = h5 = 0
        for query, is_hit in items:
            found = [h.entry for h in kb.search(query, k=5, mode=mode)]
            h1 += is_hit(found[:1])
            h5 += is_hit(found)
        out[mode] = {"hit@1": 100 * h1 / len(items), "hit@5": 100 * h5 / len(items)}
    return out


def policy_val_items(path: Path) -> list[tuple[str, Callable[[list], bool]]]:
    """Answerable lines of the demo validation set: a hit is an entry whose id, or whose source (a document), is
    listed in ``expected``."""
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and (row := json.loads(line)).get("action") == "answer" and row.get("expected"):
            expected = set(row["expected"])
            items.append((row["question"], lambda found, e=expected: any({x.id, x.source_id} & e for x in found)))
    return items


def run(
    sizes: Sequence[int] = (1000, 10000, 100000),
    queries: int = 200,
    out_dir: Path = DEFAULT_OUT,
    baseline_queries: int = 50,
    seed: int = 0,
    threads: int = 1,
    log: Callable[[str], None] = print,
) -> dict:
    """Measure, write ``support_bot_retrieval.json`` and ``.png`` under ``out_dir``, return the record."""
    started = time.perf_counter()
    load_at_start = os.getloadavg()  # other work on the machine shows up as latency
    model = UniversalSentenceEncoderEmbedder(MODEL, threads=threads)
    train, test = banking77()
    rng = random.Random(seed)
    rng.shuffle(train)
    rng.shuffle(test)
    zh = [json.loads(x)["question"] for x in (DEMO_KB / "faq_zh.jsonl").read_text(encoding="utf-8").splitlines()]
    n_zh = min(len(zh), queries // 10)
    qs = [t for t, _ in test[: queries - n_zh]] + rng.sample(zh, n_zh)
    rng.shuffle(qs)

    embed_only = latency(lambda q: model.embed([q], kind="query"), qs)
    embed_default = latency(partial(load_embedder(MODEL).embed, kind="query"), [[q] for q in qs[:50]])
    with tempfile.TemporaryDirectory(prefix="kb-demo-") as tmp:
        demo = KnowledgeBase(Path(tmp) / "demo", model)
        demo.ingest([DEMO_KB])
        quality = None
        if POLICY_VAL.exists():
            items = policy_val_items(POLICY_VAL)
            quality = {"file": str(POLICY_VAL.relative_to(ROOT)), "queries": len(items), "entries": len(demo)}
            quality |= hit_rates(demo, items)

    all_rows = faq_rows(train, max(sizes) - len(demo))
    texts = list(dict.fromkeys(f"{q}\n{answer(intent)}" for q, intent, _ in all_rows))  # Entry.text of the rows
    log(f"embedding {len(texts)} FAQ entries with {MODEL} ({threads} thread(s)) ...")
    t0 = time.perf_counter()
    table = {}
    for i in range(0, len(texts), 1024):
        table.update(zip(texts[i : i + 1024], model.embed(texts[i : i + 1024]), strict=True))
    embed_s = time.perf_counter() - t0
    embedder = PrecomputedEmbedder(model, table)

    results = []
    for size in sizes:
        rows = all_rows[: size - len(demo)]
        with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
            kb = KnowledgeBase(Path(tmp) / "kb", embedder)
            t0 = time.perf_counter()
            ingested = kb.ingest([DEMO_KB], uploads={"scale_faq.csv": faq_csv(rows)})
            ingest_s = time.perf_counter() - t0
            errors = [r.error for r in ingested if r.error]
            if errors:
                raise SystemExit("ingest failed: " + "; ".join(errors))
            t0 = time.perf_counter()
            KnowledgeBase(kb.root, embedder)
            reopen_s = time.perf_counter() - t0
            ours = latency(lambda q, kb=kb: kb.search(q, k=K), qs)
            log(f"{size}: ours p50 {ours['p50_ms']:.1f} ms, p95 {ours['p95_ms']:.1f} ms; baseline ...")
            base_fn = naive_search(kb, model)
            naive = latency(base_fn, qs[:baseline_queries], warmup=2)
            same_top = np.mean([base_fn(q)[0] == kb.search(q, k=1)[0].entry.id for q in qs[:20]])
            row = {
                "size": size,
                "entries": len(kb),
                "real_questions": len(demo) + min(len(rows), len(train)),
                "variant_questions": max(0, len(rows) - len(train)),
                "ingest_s": round(ingest_s, 1),
                "reopen_s": round(reopen_s, 2),
                "ours": ours,
                "baseline": naive,
                "speedup_p50": naive["p50_ms"] / ours["p50_ms"],
                "speedup_p95": naive["p95_ms"] / ours["p95_ms"],
                "same_top1_as_baseline": float(same_top),
            }
            if len(rows) <= len(train):  # intent match of the nearest question: only meaningful without variants
                b77 = [(t, lambda found, c=c: any(e.category == c for e in found)) for t, c in test[:queries]]
                row["banking77_nearest_question"] = hit_rates(kb, b77)
            results.append(row)
            log(f"{size}: baseline p50 {naive['p50_ms']:.1f} ms, p95 {naive['p95_ms']:.1f} ms")

    record = {
        "benchmark": "support_bot_retrieval",
        "model": MODEL,
        "k": K,
        "candidates_per_retriever": CANDIDATES,
        "rrf_k": RRF_K,
        "data": {
            "kb": "shared_data/support_bot/kb (demo FAQ en+zh and policy documents) + Banking77 train questions as "
            "FAQ rows (answer: 'See our help article on <intent>.') up to each size",
            "demo_entries": len(demo),
            "banking77_questions": len(train),
            "variation": f"beyond {len(train)} Banking77 rows each question is repeated with an opener from "
            f"{OPENERS[1:]}; every entry (variants too) is embedded by the real model",
            "queries": f"{len(qs) - n_zh} Banking77 test questions (not in the KB) + {n_zh} demo Chinese FAQ "
            f"questions, shuffled (seed {seed}); real query embedding every search",
            "embedding": f"{len(texts)} entries embedded once before timing, {threads} thread(s): "
            f"{embed_s:.0f} s ({len(texts) / embed_s:.0f} entries/s); ingest_s below excludes it",
        },
        "baseline": "naive hybrid: same query embedding, dense products, tokens, coverage gate and RRF; BM25 scored "
        "like rank_bm25.BM25Okapi (Python dict per document, every document visited per query term), dense ranking by "
        "a full argsort",
        "embedder": f"UniversalSentenceEncoderEmbedder({MODEL!r}, threads={threads})",
        "query_embedding_only": embed_only,
        "query_embedding_only_load_embedder_default": {**embed_default, "threads": os.cpu_count()},
        "results": results,
        "policy_val": quality,
        "goal": "p95 < 30 ms at 10k entries on CPU",
        "machine": {
            **machine(),
            "numpy": np.__version__,
            "load_average_at_start": load_at_start,
            "load_average_at_end": os.getloadavg(),
        },
        "command": " ".join(["python", *sys.argv]) if sys.argv[0].endswith(".py") else "run()",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "support_bot_retrieval.json").write_text(json.dumps(record, indent=2, ensure_ascii=False))
    plot(record, out_dir / "support_bot_retrieval.png")
    return record


def plot(record: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["size"] for r in record["results"]]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, label, color in (("ours", "KnowledgeBase.search", "tab:blue"), ("baseline", "naive hybrid", "tab:red")):
        for pct, style in (("p50_ms", "-o"), ("p95_ms", "--s")):
            values = [r[key][pct] for r in record["results"]]
            ax.plot(sizes, values, style, color=color, label=f"{label} {pct[:3]}")
    ax.axhline(30, color="gray", linestyle=":", label="goal: p95 < 30 ms at 10k")
    ax.set(xscale="log", yscale="log", xlabel="FAQ entries", ylabel="search latency (ms, end to end)")
    ax.set_title(f"Support-bot KB search, {record['model']}, {record['machine']['cpu_count']} CPUs")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def print_table(record: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=140)
    e = record["query_embedding_only"]
    table = Table(title=f"KB search latency (ms), k={record['k']}; query embedding alone p50 {e['p50_ms']:.1f}")
    for col in ("entries", "real / variant", "ours p50", "ours p95", "baseline p50", "baseline p95", "× p50", "× p95"):
        table.add_column(col, justify="right")
    table.add_column("ingest s", justify="right")
    for r in record["results"]:
        table.add_row(
            f"{r['entries']:,}",
            f"{r['real_questions']:,} / {r['variant_questions']:,}",
            f"{r['ours']['p50_ms']:.1f}",
            f"{r['ours']['p95_ms']:.1f}",
            f"{r['baseline']['p50_ms']:.1f}",
            f"{r['baseline']['p95_ms']:.1f}",
            f"{r['speedup_p50']:.1f}",
            f"{r['speedup_p95']:.1f}",
            f"{r['ingest_s']:.1f}",
        )
    console.print(table)
    console.print(f"baseline: {record['baseline']}")
    console.print(f"variation: {record['data']['variation']}")
    console.print(f"embedding: {record['data']['embedding']}")
    d = record["query_embedding_only_load_embedder_default"]
    console.print(
        f"query embedding alone: {record['embedder']} p50 {e['p50_ms']:.1f} / p95 {e['p95_ms']:.1f} ms; "
        f"load_embedder default ({d['threads']} threads) p50 {d['p50_ms']:.1f} / p95 {d['p95_ms']:.1f} ms"
    )
    for r in record["results"]:
        if "banking77_nearest_question" in r:
            rates = _rates(r["banking77_nearest_question"])
            console.print(f"Banking77 nearest-question intent at {r['entries']:,} entries: {rates}")
    if q := record["policy_val"]:
        console.print(f"{q['file']} ({q['queries']} answerable queries, {q['entries']} entries): {_rates(q)}")


def _rates(q: dict) -> str:
    modes = ("hybrid", "bm25", "dense")
    return ", ".join(f"{m} {q[m]['hit@1']:.1f}/{q[m]['hit@5']:.1f}" for m in modes) + " (hit@1/@5)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--baseline-queries", type=int, default=50, help="the baseline is slow at 100k: fewer queries")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads of the embedder")
    ap.add_argument("--out-dir", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    record = run(args.sizes, args.queries, args.out_dir, args.baseline_queries, threads=args.threads)
    print_table(record)
    print(f"wrote {args.out_dir / 'support_bot_retrieval.json'} and .png")


if __name__ == "__main__":
    main()
