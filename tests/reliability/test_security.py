"""API keys on every REST API (`LLMECO_API_KEYS`, comma-separated, or each API's own key setting), accepted as a
Bearer token or X-API-Key; per-key rate limits answering 429 with Retry-After; no CORS headers; keys never logged."""

from __future__ import annotations

import logging

import httpx
import pytest

from core.config import load_settings
from core.serving.guard import RateLimiter, collect_keys, matching_key
from tests.conftest import ServerThread, settings_in

pytestmark = pytest.mark.slow
KEYS = "k-alpha-0123456789,k-beta-9876543210"


@pytest.fixture
def keyed_apis(monkeypatch, tmp_path, embedder, tiny_bot):
    """The three APIs built while LLMECO_API_KEYS is set: (name, url, a guarded GET path)."""
    from apps.support_bot.api import create_api as bot_api
    from apps.writing_assistant.api import create_api as writer_api
    from apps.writing_assistant.writer import Writer
    from core.serving.app import create_app
    from core.serving.pool import ModelPool

    monkeypatch.setenv("LLMECO_API_KEYS", KEYS)
    settings = settings_in(tmp_path, **{"server.rate_limit_per_minute": 5})
    assert settings.api_keys == KEYS.split(",")
    pool = ModelPool(settings)
    pool.adopt("all-minilm-l6-v2", embedder=embedder)
    monkeypatch.setattr(tiny_bot, "settings", settings)  # the bot reads the keys from its settings
    monkeypatch.setattr(tiny_bot.config, "rate_limit_per_minute", 5)
    settings.apps["writing_assistant"] = {"rate_limit_per_minute": 5}
    apps = [
        ("server", create_app(settings, pool), "/v1/models"),
        ("bot", bot_api(tiny_bot), "/api/kb/sources"),
        ("writer", writer_api(Writer(settings, model="no-model-needed")), "/api/documents"),
    ]
    with ServerThread(apps[0][1]) as a, ServerThread(apps[1][1]) as b, ServerThread(apps[2][1]) as c:
        yield [(name, srv.url, path) for (name, _, path), srv in zip(apps, (a, b, c), strict=True)]


def test_every_api_needs_a_key_and_limits_each_key(keyed_apis, caplog):
    caplog.set_level(logging.DEBUG)
    alpha, beta = KEYS.split(",")
    for name, url, path in keyed_apis:
        assert httpx.get(f"{url}/health").status_code == 200, name  # health stays open for probes
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": alpha[:-1]}, {"X-API-Key": f"{alpha}x"}):
            refused = httpx.get(f"{url}{path}", headers=headers)
            assert refused.status_code == 401, (name, headers, refused.text)
            assert "API key" in refused.text
        assert httpx.get(f"{url}{path}", headers={"Authorization": f"Bearer {alpha}"}).status_code == 200, name
        assert httpx.get(f"{url}{path}", headers={"X-API-Key": beta}).status_code == 200, name
        statuses = [httpx.get(f"{url}{path}", headers={"X-API-Key": alpha}).status_code for _ in range(6)]
        assert 429 in statuses, (name, statuses)
        limited = httpx.get(f"{url}{path}", headers={"X-API-Key": alpha})
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1, name
        assert "rate limit" in limited.text
        assert httpx.get(f"{url}{path}", headers={"X-API-Key": beta}).status_code == 200, name  # per key
    for key in (alpha, beta):
        assert key not in caplog.text


def test_no_cors_headers(keyed_apis):
    for name, url, path in keyed_apis:
        preflight = httpx.options(
            f"{url}{path}", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
        )
        plain = httpx.get(f"{url}/health", headers={"Origin": "https://evil.example"})
        for response in (preflight, plain):
            assert not any(h.startswith("access-control-") for h in response.headers), (name, response.headers)


def test_keys_come_from_the_environment_and_the_config(monkeypatch):
    monkeypatch.setenv("LLMECO_API_KEYS", " a1 , b2,,a1 ")
    assert collect_keys(load_settings().api_keys, "own", None) == ("a1", "b2", "own")
    monkeypatch.delenv("LLMECO_API_KEYS")
    assert load_settings(values={"api_keys": ["x", "y"]}).api_keys == ["x", "y"]
    assert load_settings().api_keys == []


def test_key_matching_and_rate_limiter():
    assert matching_key("b", ("a", "b")) == "b" and matching_key("", ("a",)) is None
    assert matching_key("a ", ("a",)) is None
    limiter = RateLimiter(per_minute=2)
    assert limiter.wait_s("k") == 0 and limiter.wait_s("k") == 0
    assert 0 < limiter.wait_s("k") <= 30 and limiter.wait_s("other") == 0


def test_the_web_ui_can_require_a_login(monkeypatch):
    """`portal.auth` (LLMECO_PORTAL__AUTH=user:password) is passed to Gradio's auth=; without a login the UI's
    config is refused."""
    import gradio as gr

    from core.errors import ConfigError
    from tests.conftest import free_port

    monkeypatch.setenv("LLMECO_PORTAL__AUTH", "ann:s3cret,bob:pw2")
    logins = load_settings().portal.logins()
    assert logins == [("ann", "s3cret"), ("bob", "pw2")]
    with pytest.raises(ConfigError, match="user:password"):
        load_settings(values={"portal.auth": ["nocolon"]}).portal.logins()
    with gr.Blocks() as ui:
        gr.Markdown("private")
    port = free_port()
    ui.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, auth=logins)
    try:
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/config").status_code == 401
        with httpx.Client(base_url=url) as browser:
            assert browser.post("/login", data={"username": "ann", "password": "wrong"}).status_code == 400
            assert browser.post("/login", data={"username": "ann", "password": "s3cret"}).status_code == 200
            assert browser.get("/config").status_code == 200
    finally:
        ui.close()
