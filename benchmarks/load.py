"""Load and soak on loopback: N concurrent clients for a fixed time against `llmeco serve` and each app's API,
each started as a real process the way a user starts it. Reports throughput, p50/p95/p99 latency, errors, requests
shed with 429/503 (and whether they carried Retry-After), and the server's resident memory before and after.

    python benchmarks/load.py [--targets server,bot,writer] [--clients 8] [--seconds 20]
    python benchmarks/load.py --targets server --clients 16 --seconds 600 --soak   # RSS growth over 10 min

Requests are cheap on purpose (tiny max_tokens, FAQ questions, checks without generation), so the figures show
the serving path, the queue and memory, not model speed. `--queue N` sets `server.max_queue` to show
back-pressure: a full queue answers 503 with Retry-After instead of growing. JSON in benchmarks/results/load.json."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine_info import run_record, write_result  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def pct(values: list[float], q: float) -> float | None:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))], 1) if values else None


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children (the server may spawn workers)."""
    total = 0
    pids = [pid] + [
        int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    ]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return round(total / 1024, 1)


def requests_for(target: str):
    """An endless cycle of (method, path, json) for ``target``."""
    if target == "server":
        chat = {"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 4}
        items = [("POST", "/v1/chat/completions", chat), ("POST", "/v1/embeddings", {"input": "load test"})]
    elif target == "bot":
        qs = ["How long do refunds take?", "Do you ship to Canada?", "满多少钱包邮？", "How do I reset my password?"]
        items = [("POST", "/api/chat", {"message": q}) for q in qs]
    else:
        text = "This are a sentence with a error. It is very very long and it goes on and on without end."
        items = [("POST", "/api/check", {"text": text}), ("POST", "/api/readability", {"text": text})]
    return itertools.cycle(items)


def start(target: str, home: Path, port: int, queue: int | None) -> subprocess.Popen:
    cli = [sys.executable, "-m", "apps.cli"]
    if target == "server":
        args = [*cli, "serve", "--port", str(port), "--engine", "llamacpp"]
        args += [f"server.max_queue={queue}"] if queue else []
    elif target == "bot":
        from apps.support_bot.intents import ensure_intent_model
        from core.config import load_settings

        intents = ensure_intent_model(load_settings())
        args = [*cli, "bot", "serve", "--port", str(port), "--set", f"apps.support_bot.intent_model={intents}"]
    else:
        args = [*cli, "write", "serve", "--port", str(port)]
    env = {**os.environ, "LLMECO_HOME": str(home)}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"{target} did not start:\n{proc.stderr.read()[-3000:]}")
        time.sleep(1)
    proc.kill()
    raise SystemExit(f"{target} did not start within 10 minutes")


async def drive(url: str, target: str, clients: int, seconds: float, pid: int, sample_s: float) -> dict:
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    shed_with_retry = 0
    async with httpx.AsyncClient(base_url=url, timeout=300) as http:  # warm-up: models load on first use
        plan = requests_for(target)
        for method, path, body in [next(plan) for _ in range(4)]:
            await http.request(method, path, json=body)
    rss = [(0.0, rss_mb(pid))]
    t0 = time.perf_counter()
    deadline = t0 + seconds

    async def client(i: int) -> None:
        nonlocal shed_with_retry
        plan = requests_for(target)
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            while time.perf_counter() < deadline:
                method, path, body = next(plan)
                start = time.perf_counter()
                try:
                    r = await http.request(method, path, json=body)
                    key = str(r.status_code)
                    if r.status_code in (429, 503) and "retry-after" in r.headers:
                        shed_with_retry += 1
                        await asyncio.sleep(float(r.headers["retry-after"]))
                    elif r.status_code < 300:
                        latencies.append((time.perf_counter() - start) * 1000)
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                statuses[key] = statuses.get(key, 0) + 1

    async def sampler() -> None:
        while time.perf_counter() < deadline:
            await asyncio.sleep(sample_s)
            rss.append((round(time.perf_counter() - t0, 1), rss_mb(pid)))

    await asyncio.gather(sampler(), *(client(i) for i in range(clients)))
    elapsed = time.perf_counter() - t0
    ok = len(latencies)
    shed = statuses.get("429", 0) + statuses.get("503", 0)
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": sum(statuses.values()),
        "ok": ok,
        "throughput_rps": round(ok / elapsed, 2),
        "p50_ms": pct(latencies, 50),
        "p95_ms": pct(latencies, 95),
        "p99_ms": pct(latencies, 99),
        "shed_429_503": shed,
        "shed_with_retry_after": shed_with_retry,
        "errors": sum(n for k, n in statuses.items() if k not in ("200", "429", "503")),
        "statuses": statuses,
        "rss_mb": {"start": rss[0][1], "end": rss[-1][1], "max": max(r for _, r in rss), "samples": rss},
    }


def home_for(target: str) -> Path:
    """A scratch LLMECO_HOME reusing the prepared models (and the demo intent model for the bot)."""
    from core.config import load_settings

    settings = load_settings()
    home = Path(tempfile.mkdtemp(prefix=f"llmeco-load-{target}-"))
    (home / "models").symlink_to(settings.models_dir, target_is_directory=True)
    return home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default="server,bot,writer")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--queue", type=int, default=None, help="server.max_queue for the server target")
    parser.add_argument("--soak", action="store_true", help="sample memory every 30 s (use with a long --seconds)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--output", default="load.json")
    args = parser.parse_args()
    rows = []
    for target in args.targets.split(","):
        proc = start(target, home_for(target), args.port, args.queue)
        try:
            print(f"{target}: {args.clients} clients for {args.seconds:g} s", file=sys.stderr)
            sample = 30.0 if args.soak else max(1.0, args.seconds / 10)
            url = f"http://127.0.0.1:{args.port}"
            rows.append(
                {"target": target, **asyncio.run(drive(url, target, args.clients, args.seconds, proc.pid, sample))}
            )
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    print("| target | clients | s | requests | ok/s | p50 ms | p95 ms | p99 ms | 429/503 (Retry-After) ", end="")
    print("| errors | RSS MB start→end |\n|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        m = r["rss_mb"]
        print(
            f"| {r['target']} | {r['clients']} | {r['seconds']} | {r['requests']} | {r['throughput_rps']} "
            f"| {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | {r['shed_429_503']} ({r['shed_with_retry_after']}) "
            f"| {r['errors']} | {m['start']}→{m['end']} |"
        )
    write_result(RESULTS / args.output, run_record(rows=rows))


if __name__ == "__main__":
    main()
