"""Faults: the bot API killed with SIGKILL mid-conversation (SQLite in WAL mode, PostgreSQL) loses no acknowledged
message; PostgreSQL restarted under a running bot is reconnected to; a model that fails to load leaves the server
up, naming the model and the reason, and serving the others; a full disk while the store writes is a clear error
with nothing half-written. (Killing a training run and resuming it: tests/core/training/test_resume.py.)"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import httpx
import pytest

from core.serving.health import ModelHealth
from tests.apps.support_bot.conftest import drop_database, new_database, postgres_port  # noqa: F401
from tests.conftest import free_port, wait_until_serving
from tests.reliability.probe import assert_alive

pytestmark = pytest.mark.slow


def _bot_server(settings, store_url: str, port: int) -> subprocess.Popen:
    """`llmeco bot serve` on the tiny KB, as a user starts it."""
    sets = {
        "apps.support_bot.store_url": store_url,
        "apps.support_bot.generation": "never",
        "apps.support_bot.intent_model": settings.apps["support_bot"]["intent_model"],
    }
    args = [sys.executable, "-m", "apps.cli", "bot", "serve", "--kb", "tiny", "--port", str(port)]
    args += [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]
    env = {**os.environ, "LLMECO_HOME": str(settings.home)}
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill_9_mid_conversation_loses_no_acknowledged_message(tiny_bot_settings, tmp_path, backend, request):
    if backend == "sqlite":
        store_url = f"sqlite:///{tmp_path / 'bot.db'}"
    else:
        pg_port = request.getfixturevalue("postgres_port")
        database = new_database(pg_port)
        request.addfinalizer(lambda: drop_database(pg_port, database))
        store_url = f"postgresql+psycopg://postgres@127.0.0.1:{pg_port}/{database}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _bot_server(tiny_bot_settings, store_url, port)
    wait_until_serving(f"{url}/health", proc, timeout=300)
    session, acknowledged = None, []
    questions = ["How long do refunds take?", "多久能退款？", "Do you ship to Canada?"]
    for q in questions:
        reply = httpx.post(f"{url}/api/chat", json={"message": q, "session_id": session}, timeout=120).json()
        session = reply["session_id"]
        acknowledged.append((q, reply["answer"]))
    in_flight = threading.Thread(
        target=lambda: httpx.post(f"{url}/api/chat", json={"message": "and to Mexico?", "session_id": session}),
        daemon=True,
    )
    in_flight.start()
    time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # mid-conversation, with a request in flight
    proc.wait()
    in_flight.join(timeout=30)
    proc = _bot_server(tiny_bot_settings, store_url, port)
    try:
        wait_until_serving(f"{url}/health", proc, timeout=300)
        stored = httpx.get(f"{url}/api/sessions/{session}/messages").json()
        texts = [m["text"] for m in stored]
        for question, answer in acknowledged:
            assert question in texts and answer in texts, (question, texts)
        assert len(stored) in (6, 7, 8)  # the in-flight turn: absent, its question only, or whole
        after = httpx.post(f"{url}/api/chat", json={"message": "Thanks!", "session_id": session}, timeout=120)
        assert after.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    if backend == "sqlite":
        with sqlite3.connect(tmp_path / "bot.db") as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_postgres_restarted_under_a_running_bot(tiny_bot, restartable_postgres):
    from apps.support_bot.bot import SupportBot
    from apps.support_bot.store import Store

    port, restart = restartable_postgres
    store = Store(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres")
    bot = SupportBot(tiny_bot.settings, kb=tiny_bot.kb, intents=tiny_bot.intents, store=store)
    first = bot.ask("How long do refunds take?")
    restart()
    second = bot.ask("Do you ship to Canada?", first.session_id)  # the next turn after the restart
    assert [m.text for m in store.history(first.session_id)] == [
        "How long do refunds take?",
        first.answer,
        "Do you ship to Canada?",
        second.answer,
    ]


def test_a_model_that_fails_to_load_leaves_the_server_serving_the_others(server_api, tmp_path, monkeypatch):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + os.urandom(2048))
    chat = f"{server_api.url}/v1/chat/completions"
    # its failure goes on /health (tests/reliability/test_model_loading.py): kept off the shared server's
    monkeypatch.setattr(server_api.app.state.pool, "health", ModelHealth())
    failed = httpx.post(chat, json={"model": str(broken), "messages": [{"role": "user", "content": "hi"}]}, timeout=120)
    message = failed.json()["error"]["message"]
    assert failed.status_code == 503 and "broken.gguf" in message and "could not load" in message, message
    assert_alive(server_api.url)
    ok = httpx.post(chat, json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}, timeout=120)
    assert ok.status_code == 200
    vectors = httpx.post(f"{server_api.url}/v1/embeddings", json={"model": "all-minilm-l6-v2", "input": "hi"})
    assert vectors.status_code == 200


DISK_FULL = """
import resource, signal, sys
from apps.support_bot.store import Store
from core.errors import LLMEcoError
store = Store(sys.argv[1])
sid = store.new_session_id()
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), int(sys.argv[2])))
ids = []
try:
    for i in range(10_000):
        ids.append(store.add_message(sid, "user", f"turn {i} " + "x" * 4000))
except LLMEcoError as exc:
    print("ERROR", exc)
print("SESSION", sid)
print("ACKED", len(ids))
"""


def test_disk_full_while_writing_the_store_is_a_clear_error(tmp_path):
    db = tmp_path / "bot.db"
    sqlite3.connect(db).close()
    done = subprocess.run(
        [sys.executable, "-c", DISK_FULL, f"sqlite:///{db}", str(512 * 1024)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "ERROR" in out and ("full" in out["ERROR"].lower() or "disk" in out["ERROR"].lower()), out
    from apps.support_bot.store import Store

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = Store(f"sqlite:///{db}").history(out["SESSION"])
    assert len(stored) == int(out["ACKED"]) > 0  # every acknowledged turn, and no partial one
    assert [m.text.split(" ", 2)[1] for m in stored] == [str(i) for i in range(len(stored))]


def test_disk_full_during_training_fails_clearly_and_keeps_the_last_checkpoint(tmp_path):
    """A file-size limit put on a running `llmeco train` once its first checkpoint is complete (the next write of
    more than 64 KB fails with EFBIG, as a full disk fails with ENOSPC): a one-line error, run.json says failed,
    no half-written checkpoint or model is left, and the complete checkpoint is intact for `--resume`."""
    import json
    import resource

    from safetensors import safe_open

    from tests.core.training.test_resume import llmeco_train

    run = tmp_path / "run"
    args = ("--method", "lora", "max_steps=3", "save_steps=2", "val_fraction=0")  # no evaluation: quick
    proc = llmeco_train(run, *args)
    first = run / "checkpoints" / "checkpoint-2" / "trainer_state.json"
    deadline = time.time() + 1800
    while not first.exists():
        assert proc.poll() is None and time.time() < deadline, proc.stdout.read()
        time.sleep(0.1)
    resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
    log = proc.stdout.read()
    assert proc.wait(1800) == 2, log
    assert "Traceback" not in log and "the disk is full" in log and "checkpoint-2" in log, log
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "failed" and "disk full" in info["error"], info
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["checkpoint-2"]
    assert not (run / "model").exists() and not (run / "model.partial").exists()
    kept = run / "checkpoints" / "checkpoint-2"  # whole: what tests/core/training/test_resume.py resumes from
    assert json.loads((kept / "trainer_state.json").read_text())["global_step"] == 2
    with safe_open(str(kept / "adapter_model.safetensors"), "pt") as weights:
        assert len(list(weights.keys())) > 0
    assert (kept / "optimizer.pt").stat().st_size > 0 and (kept / "rng_state.pth").is_file()


WRITES_PAST_A_LIMIT = """
import resource, sys, torch
from safetensors.torch import save_file
from core.training.trainer import _disk_full_reason
resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
writes = {
    "open": lambda: open(sys.argv[1] + "/a.json", "w").write("x" * 100_000),
    "torch.save": lambda: torch.save({"x": torch.zeros(100_000)}, sys.argv[1] + "/b.pt"),
    "safetensors": lambda: save_file({"x": torch.zeros(100_000)}, sys.argv[1] + "/c.safetensors"),
}
for name, write in writes.items():
    try:
        write()
        print(name, "WROTE")
    except Exception as exc:
        print(name, _disk_full_reason(exc))
"""


def test_every_checkpoint_writer_failing_for_space_is_recognised(tmp_path):
    """A full disk reaches the trainer as an OSError, a SafetensorError or torch.save's RuntimeError, depending on
    which file of a checkpoint hits it first: each is recognised (a file-size limit stands in for the disk)."""
    done = subprocess.run([sys.executable, "-c", WRITES_PAST_A_LIMIT, str(tmp_path)], capture_output=True, text=True)
    reasons = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert set(reasons) == {"open", "torch.save", "safetensors"}, done.stdout + done.stderr
    assert all(r not in ("None", "WROTE") for r in reasons.values()), reasons
