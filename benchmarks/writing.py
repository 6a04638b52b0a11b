"""Writing-assistant benchmarks: length control and on-topic drafts (ours vs the plain model asked for N words),
the checker (English P/R on our labelled set, Chinese F0.5 on MuCGEC), translation chrF on WMT22 (ours vs a
one-line prompt), the UI path's overhead over the bare engine, and the model comparison.

    python benchmarks/writing.py length [--model M] [--limit N] [--every K] [--resume]
    python benchmarks/writing.py checks [--model M] [--zh-model-limit N]
    python benchmarks/writing.py translate [--model M] [--limit N]
    python benchmarks/writing.py overhead [--model M]
    python benchmarks/writing.py models [--models A,B,C] [--every K]
    python benchmarks/writing.py speed [--models A,B,C] [--runs N]

Each part writes ``benchmarks/results/writing_<part>[_<model>].json`` (partial results are saved as it goes)."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from apps.writing_assistant.config import SHARED_DATA  # noqa: E402
from apps.writing_assistant.textutil import count  # noqa: E402
from benchmarks.machine_info import run_record, write_result  # noqa: E402
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
    return write_result(RESULTS / f"{name}.json", payload)


def header(args: argparse.Namespace, model: str) -> dict:
    return run_record(model=model)


def writer_for(model: str | None):
    from apps.writing_assistant.writer import Writer

    settings = load_settings(values={"text.threads": int(os.environ.get("BENCH_THREADS", "2"))})
    return Writer(settings, model=model or registry.default_chat_model())


def load_briefs(args: argparse.Namespace) -> list[dict]:
    """The briefs, English and Chinese taking turns (so a run stopped early still covers both languages)."""
    from itertools import chain, zip_longest

    briefs = [json.loads(line) for line in (SHARED_DATA / "length_briefs.jsonl").read_text().splitlines() if line]
    by_lang = [[b for b in briefs if b["language"] == lang] for lang in ("en", "zh")]
    briefs = [b for b in chain.from_iterable(zip_longest(*by_lang)) if b]
    return [b for b in briefs if args.language in (None, b["language"])][:: args.every][: args.limit]


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
    from apps.writing_assistant.writer import TOKENS_PER_UNIT
    from core.text import GenerationParams

    writer = writer_for(args.model)
    briefs = load_briefs(args)
    out = {**header(args, writer.model_name), "tolerance": TOLERANCE, "briefs": len(briefs), "rows": []}
    name = f"writing_length_{writer.model_name}" + (f"_{args.language}" if args.language else "")
    key = ("kind", "language", "length", "topic")
    if args.resume and (RESULTS / f"{name}.json").exists():  # keep the briefs an interrupted run finished
        out["rows"] = json.loads((RESULTS / f"{name}.json").read_text())["rows"]
        out["resumed_rows"] = len(out["rows"])
    done = {tuple(r[k] for k in key) for r in out["rows"]}
    for i, b in enumerate(briefs, 1):
        if tuple(b[k] for k in key) in done:
            continue
        row = {k: b[k] for k in key}
        row["ours"] = draft_row(writer, b)
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


def draft_row(writer, brief: dict) -> dict:
    """Our drafting path on one brief: its counted length, whether it is within tolerance and on topic, its time."""
    from apps.writing_assistant.writer import Brief

    t = time.perf_counter()
    draft = writer.draft(Brief(brief["kind"], brief["topic"], language=brief["language"], length=brief["length"]))
    return {
        "length": draft.length,
        "within": draft.within_tolerance,
        "on_topic": on_topic(draft.text, brief["must"]),
        "seconds": round(time.perf_counter() - t, 1),
        "steps": draft.steps,
    }


def length_stats(drafts: list[dict], targets: list[int]) -> dict:
    """How many drafts landed within the tolerance and on topic (counts and shares), mean relative length error
    and total seconds."""
    n = len(drafts)
    within = sum(d["within"] for d in drafts)
    on_topic = sum(d["on_topic"] for d in drafts)
    return {
        "within": within,
        "on_topic": on_topic,
        "within_share": round(within / n, 3),
        "on_topic_share": round(on_topic / n, 3),
        "mean_abs_error": round(sum(abs(d["length"] - t) / t for d, t in zip(drafts, targets, strict=True)) / n, 3),
        "seconds_total": round(sum(d["seconds"] for d in drafts), 1),
    }


def summarise_length(out: dict) -> None:
    rows = out["rows"]
    out["briefs_done"] = len(rows)
    for side in ("ours", "plain"):
        done = [r for r in rows if side in r]
        if done:
            stats = length_stats([r[side] for r in done], [r["length"] for r in done])
            out.update({f"{side}_{key}": value for key, value in stats.items()})


def edits(source: str, target: str) -> set[tuple[int, int, str]]:
    """Character-level edits turning ``source`` into ``target``: (start, end, replacement)."""
    from difflib import SequenceMatcher

    ops = SequenceMatcher(None, source, target, autojunk=False).get_opcodes()
    return {(i1, i2, target[j1:j2]) for op, i1, i2, j1, j2 in ops if op != "equal"}


def f_beta(tp: int, fp: int, fn: int, beta: float = 0.5) -> dict:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = (1 + beta**2) * p * r / (beta**2 * p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f0.5": round(f, 4), "tp": tp, "fp": fp, "fn": fn}


def score_gec(rows: list[tuple[str, list[str]]], hyps: list[str]) -> dict:
    """MuCGEC-style: per sentence, the reference that gives the best F0.5 (ties: most true positives)."""
    tp = fp = fn = 0
    for (source, refs), hyp in zip(rows, hyps, strict=True):
        h = edits(source, hyp)
        best = max(
            ((len(h & r), len(h - r), len(r - h)) for r in (edits(source, ref) for ref in refs)),
            key=lambda c: (f_beta(*c)["f0.5"], c[0]),
        )
        tp, fp, fn = tp + best[0], fp + best[1], fn + best[2]
    return f_beta(tp, fp, fn)


def run_checks(args: argparse.Namespace) -> None:
    """English P/R on our labelled set; Chinese correction F0.5 on MuCGEC: the rules, the model, both."""
    from apps.writing_assistant.checks import apply_first_replacements, check

    rows = [json.loads(line) for line in (SHARED_DATA / "checks_en.jsonl").read_text().splitlines() if line]
    per_class: dict[str, list[int]] = {}
    tp = fp = fn = 0
    fp_style = 0
    for r in rows:
        issues = check(r["text"], "en")
        if r["wrong"] is None:
            fp += len(issues)
            fp_style += sum(i.category == "STYLE" for i in issues)
            continue
        start = r["text"].index(r["wrong"])
        hits = [i for i in issues if i.offset < start + len(r["wrong"]) and start < i.offset + i.length]
        extra = [i for i in issues if i not in hits]
        tp, fn, fp = tp + bool(hits), fn + (not hits), fp + len(extra)
        fp_style += sum(i.category == "STYLE" for i in extra)
        per_class.setdefault(r["class"], []).append(bool(hits))
    english = {
        **f_beta(tp, fp, fn),
        "sentences": len(rows),
        "with_error": tp + fn,
        "clean": sum(r["wrong"] is None for r in rows),
        "false_positives_style": fp_style,
        "precision_without_style_flags": round(tp / (tp + fp - fp_style), 4),
        "recall_by_class": {k: round(sum(v) / len(v), 3) for k, v in per_class.items()},
    }
    log("english", json.dumps(english))
    out = {**header(args, args.model or registry.default_chat_model()), "english": english}
    if MUCGEC.is_file():
        lines = [line.split("\t") for line in MUCGEC.read_text(encoding="utf-8").splitlines() if line.strip()]
        data = [(cols[1], [c if c != "没有错误" else cols[1] for c in cols[2:]] or [cols[1]]) for cols in lines]
        rule_hyps = [apply_first_replacements(src, check(src, "zh")) for src, _ in data]
        out["mucgec"] = {"sentences": len(data), "rules": score_gec(data, rule_hyps)}
        log("mucgec rules", json.dumps(out["mucgec"]))
        n = args.zh_model_limit
        if n:
            writer = writer_for(args.model)
            subset = data[:n]
            model_hyps = []
            for i, (src, _) in enumerate(subset, 1):
                model_hyps.append(writer.rewrite(src, "grammar", language="zh")["text"].strip())
                if i % 10 == 0:
                    log(f"mucgec model {i}/{n}")
            both = [apply_first_replacements(h, check(h, "zh")) for h in model_hyps]
            out["mucgec"]["subset"] = n
            out["mucgec"]["rules_on_subset"] = score_gec(subset, rule_hyps[:n])
            out["mucgec"]["model_on_subset"] = score_gec(subset, model_hyps)
            out["mucgec"]["model_then_rules_on_subset"] = score_gec(subset, both)
            out["model"] = writer.model_name
            log("mucgec model", json.dumps(out["mucgec"]))
    save("writing_checks", out)


def wmt_segments(n: int) -> dict[str, list[tuple[str, list[str]]]]:
    """en->zh: the conversational (customer-service chat) segments, by the TSV's domain label. zh->en has no
    labels here: its first n lines are used (three chat lines, then news)."""
    import csv

    with (WMT / "en-zh_with_domain.tsv").open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if r["domain"] == "conversation"]
    en_zh = [(r["src_en"], [r["ref_A_zh"], r["ref_B_zh"]]) for r in rows[:n]]
    txt = WMT / "txt"
    src = (txt / "generaltest2022.zh-en.src.zh").read_text(encoding="utf-8").splitlines()[:n]
    refs_a = (txt / "generaltest2022.zh-en.ref.A.en").read_text(encoding="utf-8").splitlines()[:n]
    refs_b = (txt / "generaltest2022.zh-en.ref.B.en").read_text(encoding="utf-8").splitlines()[:n]
    return {"en-zh": en_zh, "zh-en": [(s, [a, b]) for s, a, b in zip(src, refs_a, refs_b, strict=True)]}


def has_commentary(output: str, source: str) -> bool:
    """A reply that talks about the translation ("To translate ... you would say") or repeats the source, which a
    user would have to clean by hand. chrF (recall-weighted, beta 2) does not penalise such extra text."""
    return bool(re.search(r"translat|翻译|译文", output, re.IGNORECASE)) or source.strip() in output


def run_translate(args: argparse.Namespace) -> None:
    """chrF (sacrebleu, both references) of ours vs the raw model asked in one line, and the share of replies
    with commentary around the translation."""
    from sacrebleu.metrics import CHRF

    from core.text import GenerationParams

    writer = writer_for(args.model)
    n = args.limit or 15
    out = {**header(args, writer.model_name), "segments_per_direction": n, "directions": {}}
    for direction, segments in wmt_segments(n).items():
        target = direction.split("-")[1]
        ours, raw = [], []
        for i, (source, _) in enumerate(segments, 1):
            ours.append(writer.translate(source, target)["text"].replace("\n", " "))
            ask = f"Translate to {'Chinese' if target == 'zh' else 'English'}: {source}"
            budget = int(len(source) * (2.0 if target == "en" else 1.2)) + 40
            reply = writer.engine.chat([{"role": "user", "content": ask}], GenerationParams(max_new_tokens=budget))
            raw.append(reply.text.strip().replace("\n", " "))
            if i % 5 == 0:
                log(f"{direction} {i}/{len(segments)}")
        refs = [[s[1][0] for s in segments], [s[1][1] for s in segments]]
        chrf = CHRF()
        out["directions"][direction] = {
            "ours_chrf": round(chrf.corpus_score(ours, refs).score, 2),
            "raw_chrf": round(chrf.corpus_score(raw, refs).score, 2),
            "ours_with_commentary": sum(has_commentary(o, s[0]) for o, s in zip(ours, segments, strict=True)),
            "raw_with_commentary": sum(has_commentary(r, s[0]) for r, s in zip(raw, segments, strict=True)),
            "examples": [
                {"source": s[0], "ours": o, "raw": r} for s, o, r in zip(segments[:3], ours, raw, strict=False)
            ],
        }
        log(direction, out["directions"][direction]["ours_chrf"], out["directions"][direction]["raw_chrf"])
        save("writing_translate", out)


OVERHEAD_PROMPT = "Continue the following text with about 60 words.\n\nWalking every day is one of the simplest habits."


def timed(pieces) -> tuple[float, float]:
    """(seconds to the first non-empty piece, pieces per second after it) of a token stream."""
    t0 = time.perf_counter()
    first, n = None, 0
    for piece in pieces:
        if piece:
            first = first or time.perf_counter() - t0
            n += 1
    total = time.perf_counter() - t0
    return first, (n - 1) / (total - first)


def bare_stream(writer, new_tokens: int = 64):
    """The engine alone on the overhead prompt (greedy, so every run writes the same tokens)."""
    from core.text import GenerationParams, Request

    messages = [{"role": "system", "content": writer._system("en")}, {"role": "user", "content": OVERHEAD_PROMPT}]
    request = Request(messages=messages, params=GenerationParams(max_new_tokens=new_tokens))
    return (c.text for c in writer.engine.stream(request))


def run_overhead(args: argparse.Namespace) -> None:
    """Time to first token and tokens/s: the bare engine vs the app path (Writer streaming, which the UI and the
    API consume), on the same chat messages, alternating, median of ``--runs``."""
    import statistics

    writer = writer_for(args.model)
    timed(bare_stream(writer))  # warm-up
    rows = {"bare engine (baseline)": [], "app path (Writer stream)": []}
    for _ in range(args.runs):
        rows["bare engine (baseline)"].append(timed(bare_stream(writer)))
        rows["app path (Writer stream)"].append(timed(writer._stream(writer._system("en"), OVERHEAD_PROMPT, 64)))
    out = {**header(args, writer.model_name), "runs": args.runs, "new_tokens": 64, "rows": {}}
    base = None
    for name, values in rows.items():
        ttft = statistics.median(v[0] for v in values) * 1000
        tps = statistics.median(v[1] for v in values)
        base = base or (ttft, tps)
        out["rows"][name] = {"ttft_ms": round(ttft, 1), "tokens_per_s": round(tps, 2),
                             "tps_ratio": round(tps / base[1], 3), "ttft_ratio": round(ttft / base[0], 3)}  # fmt: skip
    log(json.dumps(out["rows"], indent=1))
    save("writing_overhead", out)


def engine_speed(writer, runs: int) -> dict:
    """The engine's tokens/s and time to first token on the overhead prompt, median of ``runs`` after a warm-up."""
    import statistics

    timed(bare_stream(writer))
    speeds = [timed(bare_stream(writer)) for _ in range(runs)]
    return {
        "tokens_per_s": round(statistics.median(v[1] for v in speeds), 2),
        "ttft_ms": round(statistics.median(v[0] for v in speeds) * 1000, 1),
    }


def each_model(args: argparse.Namespace):
    """(name, Writer) for each of ``--models``, one at a time (a model is freed before the next loads)."""
    import gc

    for name in args.models.split(","):
        writer = writer_for(name)
        yield name, writer
        del writer
        gc.collect()


def run_speed(args: argparse.Namespace) -> None:
    """The chat models' engine speed alone (a minute, where `models` takes an hour: rerun it on a quiet machine)."""
    out = {**header(args, args.models), "runs": args.runs, "new_tokens": 64, "models": {}}
    out["threads"] = int(os.environ.get("BENCH_THREADS", "2"))
    for name, writer in each_model(args):
        out["models"][name] = engine_speed(writer, args.runs)
        log(name, out["models"][name])
        save("writing_speed", out)


def run_models(args: argparse.Namespace) -> None:
    """The chat models side by side on the same briefs (our drafting path): share within tolerance, on topic, by
    language, and the engine's tokens/s and time to first token on the overhead prompt (median of ``--runs``)."""
    briefs = load_briefs(args)
    out = {**header(args, args.models), "tolerance": TOLERANCE, "briefs": len(briefs), "models": {}}
    for name, writer in each_model(args):
        speed = engine_speed(writer, args.runs)
        rows = []
        for i, b in enumerate(briefs, 1):
            rows.append({"kind": b["kind"], "language": b["language"], "target": b["length"]} | draft_row(writer, b))
            log(f"{name} [{i}/{len(briefs)}] {b['language']} {b['kind']} {b['length']}: {rows[-1]}")
        summary = {**speed, **length_stats(rows, [r["target"] for r in rows])}
        for lang in ("en", "zh"):
            mine = [r for r in rows if r["language"] == lang]
            if mine:
                stats = length_stats(mine, [r["target"] for r in mine])
                summary |= {f"{key}_{lang}": stats[key] for key in ("within_share", "on_topic_share")}
        out["models"][name] = {**summary, "rows": rows}
        log(name, json.dumps(summary))
        save("writing_models", out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["length", "checks", "translate", "overhead", "models", "speed"])
    parser.add_argument("--model", default=None, help="Chat model (default: the strongest installed).")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--every", type=int, default=1, help="Take every K-th brief (model comparison subsets).")
    parser.add_argument("--no-plain", action="store_true", help="Skip the plain-prompt baseline.")
    parser.add_argument("--resume", action="store_true", help="length: keep the rows of an interrupted run.")
    parser.add_argument("--language", choices=["en", "zh"], default=None, help="Only the briefs in this language.")
    parser.add_argument("--zh-model-limit", type=int, default=0, help="MuCGEC sentences for the model path.")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--models", default=",".join(reversed(registry.CHAT_PREFERENCE)), help="For `models` and `speed`."
    )
    args = parser.parse_args()
    parts = {"length": run_length, "checks": run_checks, "translate": run_translate, "overhead": run_overhead,
             "models": run_models, "speed": run_speed}  # fmt: skip
    parts[args.part](args)


if __name__ == "__main__":
    main()
