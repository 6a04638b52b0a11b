"""Support bot benchmarks, each against a named baseline measured in the same run:

- ``intents``   Banking77 accuracy (full and 10-shot) vs frozen MiniLM + logistic regression
                (benchmarks/support_bot_intents.py);
- ``retrieval`` retrieval and the bot end to end on unseen KBs (StackFAQ, a Banking77 FAQ) and search latency at
                1k/10k entries, vs the MiniLM question-only baseline (benchmarks/support_bot_retrieval.py);
- ``answer``    end-to-end latency of direct FAQ answers (intent + retrieval + policy + store) vs retrieval alone;
- ``load``      32 concurrent sessions for 60 s against ``POST /api/chat`` of a real ``llmeco bot serve`` process
                vs one session alone: errors, p50/p95 latency, throughput, how each reply was made (``busy`` =
                the passage quoted because the model was taken), and that every message is stored;
- ``policy``    action accuracy on the held-out ``policy_test.jsonl`` vs always answering.

    python benchmarks/support_bot.py [--parts intents,retrieval,answer,load,policy] [--sessions 32] [--seconds 60]

Results: benchmarks/results/support_bot.json (+ the two sub-benchmarks' own JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine_info import machine, run_record, write_result  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))] if values else float("nan")


def summary(ms: list[float]) -> dict:
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 1), "p95_ms": round(pct(ms, 95), 1)}


def scratch_settings(settings):
    """Settings for a throwaway LLMECO_HOME (own KB and store) that reuses the prepared models and intent model."""
    from apps.support_bot.intents import ensure_intent_model
    from tests.conftest import settings_in

    intents = str(ensure_intent_model(settings))
    return settings_in(tempfile.mkdtemp(prefix="llmeco-bench-"), **{"apps.support_bot.intent_model": intents})


def bench_answer(settings, runs: int) -> dict:
    """Direct FAQ answers through the whole bot vs the retrieval step alone, on the demo FAQ questions."""
    from apps.support_bot.cli import open_bot

    bot = open_bot(scratch_settings(settings))
    questions = [e.question for e in bot.kb.entries() if e.kind == "faq"]
    for q in questions[:5]:  # warm-up
        bot.ask(q)
    search_ms, answer_ms, modes = [], [], {}
    for _ in range(runs):
        for q in questions:
            t = time.perf_counter()
            bot.search(q)
            search_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            reply = bot.ask(q)
            answer_ms.append((time.perf_counter() - t) * 1000)
            modes[reply.mode] = modes.get(reply.mode, 0) + 1
    return {
        "data": f"the demo KB's {len(questions)} FAQ questions (en + zh) x {runs}",
        "modes": modes,
        "baseline_retrieval_only": summary(search_ms),
        "direct_faq_answer": summary(answer_ms),  # every question is an FAQ's own wording
        "p95_ratio_vs_retrieval": round(pct(answer_ms, 95) / pct(search_ms, 95), 2),
        "goal": "p95 < 150 ms",
    }


def _serve(home: Path, port: int, intent_model: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "LLMECO_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "LLMECO_APPS__SUPPORT_BOT__INTENT_MODEL": intent_model,
    }
    cmd = [sys.executable, "-m", "apps.cli", "bot", "serve", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(1)
    proc.kill()
    raise RuntimeError("server did not start in 10 minutes")


def _sessions(url: str, questions: list[str], n: int, seconds: float) -> dict:
    """``n`` concurrent sessions, each asking questions one after another for ``seconds``. Sessions name their own
    ids, so a request that failed on the client side is still attributed when the store is checked."""
    latencies: list[float] = []
    errors: list[str] = []
    sent: dict[str, int] = {}  # answered requests per session
    modes: dict[str, int] = {}  # how the answers were made (faq, generate, passage, ...; "busy": quoted under load)
    lock = threading.Lock()
    stop = time.time() + seconds

    def session(i: int) -> None:
        rng = random.Random(i)
        session_id = uuid.uuid4().hex
        sent[session_id] = 0
        with httpx.Client(timeout=300) as client:
            while time.time() < stop:
                q = rng.choice(questions)
                t = time.perf_counter()
                try:
                    r = client.post(f"{url}/api/chat", json={"message": q, "session_id": session_id})
                    r.raise_for_status()
                    reply = r.json()
                    mode = "busy" if "busy" in reply["reason"] else reply["mode"]
                    with lock:
                        latencies.append((time.perf_counter() - t) * 1000)
                        sent[session_id] += 1
                        modes[mode] = modes.get(mode, 0) + 1
                except (httpx.HTTPError, KeyError, ValueError) as exc:
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}"[:200])

    threads = [threading.Thread(target=session, args=(i,)) for i in range(n)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return {
        "sessions": n,
        "requests": len(latencies),
        "errors": len(errors),
        "error_examples": errors[:5],
        "throughput_rps": round(len(latencies) / wall, 2),
        "modes": modes,
        **summary(latencies),
        "sent": sent,
    }


def bench_load(settings, sessions: int, seconds: float, questions_file: Path) -> dict:
    """A real server process under concurrent sessions; afterwards every message must be in the store."""
    from apps.support_bot.cli import setup
    from apps.support_bot.store import Store
    from tests.conftest import free_port

    questions = [json.loads(line)["question"] for line in questions_file.read_text(encoding="utf-8").splitlines()]
    scratch = scratch_settings(settings)
    setup(scratch)  # ingest + calibrate before the server starts, so requests are not timed against it
    home = scratch.home
    port = free_port()
    server = _serve(home, port, scratch.apps["support_bot"]["intent_model"])
    url = f"http://127.0.0.1:{port}"
    try:
        single = _sessions(url, questions, 1, min(seconds, 30))
        loaded = _sessions(url, questions, sessions, seconds)
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:  # uvicorn waits for in-flight requests; the results are in already
            server.kill()
            server.wait()
    store = Store(f"sqlite:///{home / 'support_bot' / 'bot.db'}")
    # Every answered request left its two messages (question and answer); a failed one may have left them too.
    missing = {
        sid: (2 * n, store.message_count(sid))
        for sid, n in {**single["sent"], **loaded["sent"]}.items()
        if store.message_count(sid) < 2 * n
    }
    for r in (single, loaded):
        r.pop("sent")
    return {
        "data": f"{questions_file.name}: {len(questions)} held-out questions (answer/clarify/handoff, en + zh)",
        "baseline_one_session": single,
        "concurrent": loaded,
        "p95_ratio_vs_one_session": round(loaded["p95_ms"] / single["p95_ms"], 2),
        "all_messages_stored": not missing,
        "missing": missing,
        "goal": "0 errors; every message of every session stored",
    }


def bench_policy(settings, data: Path) -> dict:
    """Action accuracy of the bot's policy (answer / clarify / hand off) on held-out labelled questions, next to
    the simplest policy a user could write: always answer (the most common label)."""
    from collections import Counter

    from apps.support_bot.cli import open_bot
    from apps.support_bot.policy import read_labelled

    report = open_bot(scratch_settings(settings)).evaluate_policy(data)
    labels = [q.action for q in read_labelled(data)]
    majority, count = Counter(labels).most_common(1)[0]
    return {
        "data": f"{data.name}: {len(labels)} held-out questions (en + zh)",
        "labels": dict(Counter(labels)),
        "bot": {k: report[k] for k in ("n", "all", "en", "zh") if k in report},
        "baseline_always_" + majority: {"action_accuracy": round(count / len(labels), 4)},
        "errors": report["errors"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="intents,retrieval,answer,load,policy")
    ap.add_argument("--sessions", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--runs", type=int, default=3, help="passes over the FAQ questions for `answer`")
    ap.add_argument("--out", type=Path, default=RESULTS / "support_bot.json")
    args = ap.parse_args()

    from apps.support_bot.config import SHARED_DATA
    from core.config import load_settings

    settings = load_settings()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    record = run_record(
        models={"embeddings": "use-multilingual-v3", "intents": "see support_bot_intents.json", "chat": "smollm2"}
    )
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    for name, script in (("intents", "support_bot_intents.py"), ("retrieval", "support_bot_retrieval.py")):
        if name in parts:
            subprocess.run([sys.executable, str(ROOT / "benchmarks" / script)], check=True)
            record[name] = f"benchmarks/results/{Path(script).stem}.json"
    # Each part keeps the run that measured it: the JSON merges parts measured by different invocations.
    run = {"command": record["command"], "date": record["date"]}
    if "answer" in parts:
        record["answer"] = {**bench_answer(settings, args.runs), "run": {**run, "machine_at_end": machine()}}
        print(json.dumps(record["answer"], indent=2, ensure_ascii=False))
    if "load" in parts:
        load = bench_load(settings, args.sessions, args.seconds, SHARED_DATA / "policy_test.jsonl")
        record["load"] = {**load, "run": {**run, "machine_at_end": machine()}}
        print(json.dumps(record["load"], indent=2, ensure_ascii=False))
    if "policy" in parts:
        record["policy"] = {**bench_policy(settings, SHARED_DATA / "policy_test.jsonl"), "run": run}
        print(json.dumps(record["policy"], indent=2, ensure_ascii=False))
    write_result(args.out, {**previous, **record})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
