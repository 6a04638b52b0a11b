"""Data-governance costs on a bot store of realistic size (SQLite): how long forgetting one customer, purging by
age, a backup and a verified restore take, and the store's size.

    python benchmarks/governance.py [--conversations 5000]   # table on stdout, JSON in benchmarks/results/

Each conversation: a question, an answer, a thumbs-up, and every tenth a handoff ticket; half of them are made
older than the retention age."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text  # noqa: E402

from apps.support_bot.governance import BotData  # noqa: E402
from apps.support_bot.store import Store  # noqa: E402
from benchmarks.machine_info import run_record, write_result  # noqa: E402
from core.config import load_settings  # noqa: E402
from core.governance import retention  # noqa: E402
from core.governance.backup import backup, restore  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def fill(store: Store, n: int) -> None:
    for i in range(n):
        sid = f"s{i:06d}"
        store.add_message(sid, "user", f"Where is my order {i}? It was due on Monday.", user_id=f"cust-{i % (n // 2)}")
        answer = store.add_message(sid, "assistant", f"Order {i} ships today; you will get a tracking link.")
        store.add_feedback(answer, 1)
        if i % 10 == 0:
            store.create_ticket(sid, "customer asked for a person")


def timed(run) -> tuple[float, object]:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=5000)
    n = parser.parse_args().conversations
    work = Path(tempfile.mkdtemp(prefix="llmeco-governance-"))
    (work / "home").mkdir()
    settings = load_settings(values={"home": str(work / "home")})
    store = Store.for_settings(settings)
    fill_s, _ = timed(lambda: fill(store, n))
    db = settings.home / "support_bot" / "bot.db"
    stores = [BotData(store)]
    forget_s, forgot = timed(lambda: retention.forget(settings, stores, user_id="cust-7"))
    backup_s, summary = timed(lambda: backup(settings, work / "backup", stores))
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:  # half the conversations last active 100 days ago
        old = (datetime.now(timezone.utc) - timedelta(days=100)).replace(tzinfo=None)
        conn.execute(text("UPDATE conversations SET updated_at = :old WHERE rowid % 2 = 0"), {"old": old})
    engine.dispose()
    purge_s, purged = timed(lambda: retention.purge(settings, stores, older_than_days=90))
    store.close()
    restore_s, _ = timed(lambda: restore(settings, work / "backup", []))
    rows = {
        "conversations": n,
        "store_mb": round(summary.bytes / 2**20, 2),
        "fill_s": round(fill_s, 2),
        "forget_user_s": round(forget_s, 3),
        "forget_removed_rows": sum(forgot.stores[0].counts.values()),
        "purge_s": round(purge_s, 3),
        "purge_removed_rows": sum(purged.stores[0].counts.values()),
        "backup_s": round(backup_s, 3),
        "restore_verified_s": round(restore_s, 3),
    }
    for key, value in rows.items():
        print(f"{key:22} {value}")
    write_result(RESULTS / "governance.json", run_record(**rows))


if __name__ == "__main__":
    main()
