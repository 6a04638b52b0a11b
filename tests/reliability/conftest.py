"""Reliability fixtures: each REST API on a real server over real models, loaded once per session. The bot runs
on a three-question knowledge base with generation off (these tests probe the edges, not the answers); the writer
never loads a model (its hostile inputs must be refused before generation)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.conftest import ServerThread, settings_in

TINY_FAQ = """id,question,answer
t-refund,How long do refunds take?,Refunds reach your card within 5 working days.
t-ship,Do you ship to Canada?,"Yes, we ship to Canada in 7 days."
t-zh,多久能退款？,退款会在 5 个工作日内退回原卡。
"""


@dataclass
class Api:
    name: str
    url: str
    app: object


@pytest.fixture(scope="session")
def tiny_bot_settings(settings, tmp_path_factory):
    from apps.support_bot.intents import ensure_intent_model
    from apps.support_bot.kb.knowledge_base import KnowledgeBase

    home = tmp_path_factory.mktemp("reliability-bot")
    values = {
        "apps.support_bot.intent_model": str(ensure_intent_model(settings)),
        "apps.support_bot.kb": "tiny",
        "apps.support_bot.generation": "never",
    }
    bot_settings = settings_in(home, **values)
    faq = home / "faq.csv"
    faq.write_text(TINY_FAQ, encoding="utf-8")
    assert KnowledgeBase.open("tiny", bot_settings).ingest([faq])[0].status == "added"
    return bot_settings


@pytest.fixture(scope="session")
def tiny_bot(tiny_bot_settings):
    from apps.support_bot.cli import open_bot

    return open_bot(tiny_bot_settings)


@pytest.fixture(scope="session")
def bot_api(tiny_bot):
    from apps.support_bot.api import create_api

    app = create_api(tiny_bot, max_upload_mb=1)
    with ServerThread(app) as srv:
        yield Api("bot", srv.url, app)


@pytest.fixture(scope="session")
def lazy_writer_settings(tmp_path_factory):
    return settings_in(tmp_path_factory.mktemp("reliability-writer"))


@pytest.fixture(scope="session")
def writer_api(lazy_writer_settings):
    from apps.writing_assistant.api import create_api
    from apps.writing_assistant.writer import Writer

    app = create_api(Writer(lazy_writer_settings, model="no-model-needed"))
    with ServerThread(app) as srv:
        yield Api("writer", srv.url, app)


@pytest.fixture(scope="session")
def server_api(server):
    """The OpenAI-compatible server (SmolLM2 + MiniLM, the speech routes loading their models on first use)."""
    return Api("server", server.url, server.server.config.app)


@pytest.fixture(params=["server", "bot", "writer"])
def api(request) -> Api:
    return request.getfixturevalue(f"{request.param}_api")


@pytest.fixture
def restartable_postgres():
    """A PostgreSQL server of this test's own, so the test may restart it: (port, restart())."""
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    from tests.apps.support_bot.conftest import _as_server_user, _pg_binary
    from tests.conftest import free_port

    initdb, pg_ctl = _pg_binary("initdb"), _pg_binary("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found; install the postgresql package")
    prefix = _as_server_user()
    root = Path(tempfile.mkdtemp(prefix="llmeco-pg-restart-"))  # pytest's tmp folders are closed to other users
    if prefix:
        shutil.chown(root, "postgres", "postgres")
    port, data, log = free_port(), root / "data", str(root / "log")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"

    def run(*args: str) -> None:
        done = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr

    run(initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync")
    run(pg_ctl, "-D", str(data), "-o", options, "-l", log, "-w", "start")
    try:
        yield port, lambda: run(pg_ctl, "-D", str(data), "-m", "fast", "-w", "restart", "-o", options, "-l", log)
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
