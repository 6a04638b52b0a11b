"""The web UIs mounted at /ui (`llmeco bot serve`, `write serve`, `speech serve`) and launched alone or as the
portal get the same guard as the APIs where a browser can use it: the portal login when ``portal.auth`` is set
(API keys cannot come from a browser) and an upload limit that Gradio's own upload route enforces. Hostile files
through that route get a clear answer, never a 5xx, and the server stays up."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import httpx
import pytest

from core.config import load_settings
from core.serving.guard import ui_options
from tests.conftest import ServerThread
from tests.reliability.probe import HOSTILE_WAVS, assert_alive
from tests.reliability.test_hostile_files import hostile_kb_files

pytestmark = pytest.mark.slow
LIMIT_MB = 1


@pytest.fixture(scope="module")
def bot_with_ui(tiny_bot):
    """The bot's API with its UI at /ui, as `llmeco bot serve` builds it, with a login configured."""
    from apps.support_bot.api import create_api
    from apps.support_bot.ui import build_ui

    settings = load_settings(values={"portal.auth": ["ann:s3cret"]})
    api = gr.mount_gradio_app(create_api(tiny_bot), build_ui(tiny_bot), path="/ui", **ui_options(settings, LIMIT_MB))
    with ServerThread(api) as srv:
        yield srv.url


def _upload(client: httpx.Client, name: str, data: bytes) -> httpx.Response:
    return client.post("/ui/gradio_api/upload", files=[("files", (name, data, "application/octet-stream"))])


def test_the_ui_needs_the_login_and_its_uploads_are_limited(bot_with_ui):
    with httpx.Client(base_url=bot_with_ui, timeout=120) as browser:
        assert browser.get("/ui/config").status_code == 401
        assert _upload(browser, "faq.csv", b"question,answer\nA?,B.\n").status_code == 401
        assert browser.post("/ui/login", data={"username": "ann", "password": "wrong"}).status_code == 400
        assert browser.post("/ui/login", data={"username": "ann", "password": "s3cret"}).status_code == 200
        assert browser.get("/ui/config").status_code == 200
        too_big = _upload(browser, "big.csv", b"a" * (LIMIT_MB * 2**20 + 1))
        assert too_big.status_code == 413 and "maximum allowed size" in too_big.text, too_big.text
        assert _upload(browser, "faq.csv", b"question,answer\nA?,B.\n").status_code == 200
    assert httpx.get(f"{bot_with_ui}/api/kb/sources").status_code == 200  # the API itself: its own guard


def test_hostile_files_through_the_ui_upload_route(bot_with_ui, tmp_path):
    """Every hostile file of the ingester suite and every absurd WAV, plus traversal and NUL names: stored under a
    name without its folders (Gradio's cache), or refused with a 4xx; never a 5xx, and /health answers after each."""
    cases = {**hostile_kb_files(), **HOSTILE_WAVS}
    cases |= {"../../../../tmp/llmeco-evil.csv": b"q,a\n", "..\\..\\evil.csv": b"q,a\n", "\x00nul.csv": b"q,a\n"}
    with httpx.Client(base_url=bot_with_ui, timeout=120) as browser:
        browser.post("/ui/login", data={"username": "ann", "password": "s3cret"})
        cache = Path(_upload(browser, "faq.csv", b"q,a\n").json()[0]).parents[1]  # Gradio's upload folder
        for name, data in cases.items():
            response = _upload(browser, name, data)
            assert response.status_code < 500 and "Traceback" not in response.text, (name, response.text)
            if response.status_code == 200:
                [stored] = response.json()
                assert Path(stored).resolve().parents[1] == cache.resolve(), (name, stored)  # a name, no folders
            assert_alive(bot_with_ui)
