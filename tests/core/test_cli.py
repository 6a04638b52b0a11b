"""The ``llmeco`` console script, run as a real subprocess (what users and evaluation scripts do)."""

import json
import os
import subprocess
import sys

import pytest

LLMECO = [sys.executable, "-m", "apps.cli"]


def run(*args: str, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([*LLMECO, *args], capture_output=True, text=True, timeout=600, env=env, **kw)


def test_help_reads_well():
    r = run("--help")
    assert r.returncode == 0
    for cmd in ("models", "generate", "serve", "demo"):
        assert cmd in r.stdout


def test_models_list_json_shows_embedded_models_ready():
    r = run("models", "list", "--json")
    assert r.returncode == 0, r.stderr
    rows = {m["name"]: m for m in json.loads(r.stdout)}
    for name in (
        "smollm2-135m-instruct",
        "whisper-tiny.en",
        "whisper-base",
        "piper-en-us-joe-medium",
        "all-minilm-l6-v2",
    ):
        assert rows[name]["ready"] is True
        assert rows[name]["license"] and rows[name]["size_mb"] > 0


def test_models_list_table():
    r = run("models", "list")
    assert r.returncode == 0 and "smollm2-135m-instruct" in r.stdout and "ready" in r.stdout


@pytest.mark.slow
def test_generate_streams_an_answer():
    r = run("generate", "--model", "smollm2-135m-instruct", "What is the capital of France?", "-n", "48")
    assert r.returncode == 0, r.stderr
    assert "Paris" in r.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["generate", "--model", "gpt-17", "hi"], "Registered models"),
        (["generate", "--model", "acme/unknown-model", "hi"], "hf download"),
        (["generate", "hi", "text.modle=x"], "text.modle"),
        (["generate", "hi", "novalue"], "key=value"),
    ],
)
def test_user_errors_are_one_line_without_traceback(args, message):
    r = run(*args)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["nosuch"], "No such command 'nosuch'"),
        (["bot", "ask", "hi", "extra=1"], "unexpected extra argument"),
        (["models", "list", "--bogus"], "No such option: --bogus"),
    ],
)
def test_usage_errors_show_the_usage_line_without_traceback(args, message):
    r = run(*args)
    assert r.returncode == 2
    assert message in r.stderr and "Usage:" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout
