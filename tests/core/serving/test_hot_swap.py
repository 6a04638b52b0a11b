"""Model iteration against a real `llmeco serve` process: `llmeco models register | rollback | canary | promote`
(run here, in another process) take effect with the server's next request, a streamed reply in flight finishes on
the version it started with while new requests go to the new one, the replaced engine is unloaded once drained,
and a canary at 20% gets 15-25 of 100 requests, recorded per version in the metrics."""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter

import httpx
import pytest
from typer.testing import CliRunner

from core.cli import app as cli
from core.models import user_models
from tests.conftest import serving, settings_in
from tests.core.conftest import gguf_version

pytestmark = pytest.mark.slow
SAY_HI = [{"role": "user", "content": "Say hi."}]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(url, run) with `llmeco serve --model bot` running on bot's v1 in LLMECO_HOME; ``run`` is the CLI there."""
    home = tmp_path_factory.mktemp("swap-home")
    settings = settings_in(home)
    user_models.register(settings, gguf_version(home / "export-1"), "bot")
    gguf_version(home / "export-2")
    env = {**os.environ, "LLMECO_HOME": str(home)}

    def run(*args: str) -> str:
        result = CliRunner().invoke(cli, ["models", *args], env={"LLMECO_HOME": str(home)})
        assert result.exit_code == 0, result.output
        return result.output

    with serving([sys.executable, "-m", "apps.cli", "serve", "--model", "bot", "text.threads=1"], env) as url:
        yield url, home, run


def ask(url: str, user: str | None = None, model: str = "bot") -> str:
    body = {"model": model, "messages": SAY_HI, "max_tokens": 1} | ({"user": user} if user else {})
    r = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=120)
    assert r.status_code == 200, r.text
    assert r.headers["x-model-version"] == r.json()["model"]
    return r.json()["model"]


def loaded(url: str) -> list[str]:
    return httpx.get(f"{url}/health", timeout=10).json()["loaded"]


def wait_unloaded(url: str, label: str) -> None:
    deadline = time.time() + 30
    while label in loaded(url):
        assert time.time() < deadline, f"{label} was not unloaded: {loaded(url)}"
        time.sleep(0.2)


def test_register_and_rollback_swap_the_running_server_and_a_stream_keeps_its_version(served):
    url, home, run = served
    assert ask(url) == "bot@v1"
    body = {"model": "bot", "messages": [{"role": "user", "content": "Tell a long story."}], "max_tokens": 120,
            "ignore_eos": True, "stream": True}  # fmt: skip
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=120) as stream:
        events = stream.iter_lines()
        first = json.loads(next(e for e in events if e.startswith("data: "))[6:])
        assert "register" in run("register", str(home / "export-2"), "--name", "bot")
        assert ask(url) == "bot@v2"  # the next request, on the new version, while v1 still streams
        rest = [json.loads(e[6:]) for e in events if e.startswith("data: {")]
    assert {first["model"], *(e["model"] for e in rest)} == {"bot@v1"}
    assert rest[-1]["choices"][0]["finish_reason"] == "length"
    assert sum(1 for e in rest if e["choices"][0]["delta"].get("content")) >= 100  # the whole reply, on v1
    wait_unloaded(url, "bot@v1")  # released once its stream was done
    assert "bot@v2" in loaded(url)

    assert "now serves v1" in run("rollback", "bot")
    assert ask(url) == "bot@v1"
    wait_unloaded(url, "bot@v2")


def test_a_canary_gets_its_share_per_version_and_promote_makes_it_current(served):
    url, _, run = served
    assert "v2 takes 20%" in run("canary", "bot", "--share", "0.2", "--version", "2")
    split = Counter(ask(url) for _ in range(100))
    assert 15 <= split["bot@v2"] <= 25 and split["bot@v1"] + split["bot@v2"] == 100
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    assert 'llmeco_model_version_requests_total{model="bot",version="2"}' in metrics
    assert 'llmeco_generated_tokens_total{model="bot@v2"}' in metrics
    for user in ("ann", "bo", "cy", "di"):  # a user stays on one version
        assert len({ask(url, user) for _ in range(3)}) == 1
    assert "now serves v2" in run("promote", "bot")
    history = json.loads(run("versions", "bot", "--json"))["history"]
    assert [e["action"] for e in history][-2:] == ["canary", "promote"]
    assert {ask(url) for _ in range(5)} == {"bot@v2"}
    wait_unloaded(url, "bot@v1")
    assert "bot" in {m["id"] for m in httpx.get(f"{url}/v1/models", timeout=10).json()["data"]}
    assert ask(url, model="bot@v1") == "bot@v1"  # a client can pin a version, e.g. to compare offline
