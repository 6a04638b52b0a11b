"""Support bot fixtures: a SQLite file per test and a real throwaway PostgreSQL server per session.

The server is started from the PostgreSQL binaries on PATH or in /usr/lib/postgresql/*/bin (Debian's layout). It
refuses to run as root, so a root process runs it as the ``postgres`` user through ``runuser``."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, settings_in


def _pg_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[-3]))
    return candidates[-1] if candidates else None


def _as_server_user() -> list[str]:
    """Command prefix that runs a PostgreSQL binary as a non-root user; skips the test when there is none."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("PostgreSQL refuses to run as root and there is no 'postgres' user to run it as")
    if not shutil.which("runuser"):
        pytest.skip("PostgreSQL refuses to run as root and runuser is not available to switch to 'postgres'")
    return ["runuser", "-u", "postgres", "--"]


def _admin(port: int):
    import psycopg

    return psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture(scope="session")
def postgres_port() -> Iterator[int]:
    """A PostgreSQL server on 127.0.0.1 for the whole session (trust auth, user postgres, no fsync)."""
    initdb, pg_ctl = _pg_binary("initdb"), _pg_binary("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found; install the postgresql package")
    prefix = _as_server_user()
    root = Path(tempfile.mkdtemp(prefix="llmeco-pg-"))
    if prefix:
        shutil.chown(root, "postgres", "postgres")
    port, data, log = free_port(), root / "data", root / "log"
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"

    def run(*args: str) -> None:
        done = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)
        if done.returncode:
            server_log = log.read_text(errors="replace") if log.exists() else ""
            pytest.fail(f"{Path(args[0]).name} failed:\n{done.stdout}{done.stderr}{server_log}")

    try:
        run(initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync")
        run(pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", "60", "start")
        yield port
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def new_database(port: int) -> str:
    name = f"bot_{uuid.uuid4().hex[:12]}"
    with _admin(port) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(port: int, name: str) -> None:
    with _admin(port) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url(postgres_port) -> str:
    """One database on the session's server (shared by the tests that use it)."""
    return f"postgresql+psycopg://postgres@127.0.0.1:{postgres_port}/{new_database(postgres_port)}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request) -> Iterator[str]:
    """An empty store database on each backend: a SQLite file, or a fresh database on the PostgreSQL server."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_url")
        return
    port = request.getfixturevalue("postgres_port")
    name = new_database(port)
    yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/{name}"
    drop_database(port, name)


@pytest.fixture(scope="session")
def bot_settings(settings, tmp_path_factory):
    """Settings with a fresh LLMECO_HOME (its own knowledge base and SQLite store) that reuses the user's
    prepared models and the demo intent model (trained once by `make setup`)."""
    from apps.support_bot.intents import ensure_intent_model

    intents = ensure_intent_model(settings)
    return settings_in(tmp_path_factory.mktemp("bot-home"), **{"apps.support_bot.intent_model": str(intents)})


@pytest.fixture(scope="session")
def demo_bot(bot_settings):
    """The demo bot as `make demo` sets it up: demo knowledge base ingested, thresholds calibrated."""
    from apps.support_bot.cli import open_bot

    return open_bot(bot_settings)


BIKES_GUIDE = """# Harbour Bikes rental guide

## Opening hours
The Harbour Bikes shop on Pier Road opens at 8 am and closes at 7 pm every day from April to October.

## Helmets
Every rental includes a free helmet. Child seats cost 5 euros per day.

## Damage
If a rented bike is damaged, the repair is paid from the 50 euro deposit.
"""
BIKES_FAQ = """id,category,question,answer
bike-book,booking,How do I book a bike?,Book online at harbourbikes.example or in the shop; pay when you pick it up.
bike-cancel,booking,Can I cancel a booking?,Cancel free of charge up to 24 hours before pick-up in your booking email.
bike-ebike,e-bikes,Do you rent electric bikes?,"Yes, 12 e-bikes with a 60 km range, 35 euros per day."
bike-rain,weather,What if it rains?,"Rain ponchos are free at the desk, and rides cut short by storms are refunded."
"""
BIKES_FAQ_ZH = """id,category,question,answer
bike-zh-book,预订,怎么预订自行车？,在 harbourbikes.example 网上预订，或到码头路门店预订，取车时付款。
bike-zh-ebike,电动车,有电动自行车出租吗？,有，12 辆电动车，续航 60 公里，每天 35 欧元。
"""


@pytest.fixture(scope="session")
def bikes_settings(bot_settings, tmp_path_factory):
    """Another domain than the demo: a bike-rental KB ("bikes", a guide plus English and Chinese FAQs) ingested
    under its own name with default settings, in its own home."""
    from apps.support_bot.kb.knowledge_base import KnowledgeBase

    home = tmp_path_factory.mktemp("bikes-home")
    files = home / "files"
    files.mkdir()
    (files / "guide.md").write_text(BIKES_GUIDE, encoding="utf-8")
    (files / "faq.csv").write_text(BIKES_FAQ, encoding="utf-8")
    (files / "faq_zh.csv").write_text(BIKES_FAQ_ZH, encoding="utf-8")
    intents = bot_settings.apps["support_bot"]["intent_model"]
    settings = settings_in(home, **{"apps.support_bot.intent_model": intents, "apps.support_bot.kb": "bikes"})
    kb = KnowledgeBase.open("bikes", settings)
    assert all(r.status == "added" for r in kb.ingest(sorted(files.iterdir())))
    return settings


@pytest.fixture(scope="session")
def bikes_bot(bikes_settings):
    from apps.support_bot.cli import open_bot

    return open_bot(bikes_settings)
