"""``llmeco bot ...`` as real subprocesses, the way users and evaluation scripts call it."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bot(bot_settings, demo_bot):
    """Run ``llmeco bot ARGS`` against the demo bot's home (demo_bot has ingested and calibrated it)."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "LLMECO_HOME": str(bot_settings.home),
        "LLMECO_APPS__SUPPORT_BOT__INTENT_MODEL": bot_settings.apps["support_bot"]["intent_model"],
    }

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "apps.cli", "bot", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, input=stdin)

    return run


def test_ask_json_contract(bot):
    r = bot("ask", "Can I pay with Apple Pay?", "--json")
    assert r.returncode == 0, r.stderr
    reply = json.loads(r.stdout)
    assert {"session_id", "answer", "action", "intent", "sources"} <= set(reply)
    assert reply["action"] == "answer" and set(reply["intent"]) >= {"name", "confidence"}
    assert reply["sources"] and {"id", "score"} <= set(reply["sources"][0])


def test_ask_file_answers_one_json_line_per_question(bot, tmp_path):
    questions = tmp_path / "q.txt"
    questions.write_text("Do you ship to Canada?\n\n转人工\nWrite me a poem about the sea.\n", encoding="utf-8")
    r = bot("ask", "--file", str(questions), "--json")
    assert r.returncode == 0, r.stderr
    replies = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["action"] for x in replies] == ["answer", "handoff", "clarify"]
    assert len({x["session_id"] for x in replies}) == 3  # independent questions


def test_ingest_reports_each_file_and_fails_only_the_bad_one(bot, tmp_path):
    good = tmp_path / "extra_faq.jsonl"
    good.write_text(json.dumps({"question": "Do you rent tents?", "answer": "Yes, from $15 a night."}) + "\n")
    bad = tmp_path / "broken.jsonl"
    bad.write_text('{"question": "ok", "answer": "fine"}\n{not json\n')
    r = bot("ingest", str(good), str(bad), "--kb", "cli-test")
    assert r.returncode == 1
    assert "added" in r.stdout and "extra_faq.jsonl" in r.stdout
    assert "broken.jsonl" in r.stdout and "line 2" in r.stdout and "Traceback" not in r.stderr
    listed = json.loads(bot("sources", "--kb", "cli-test", "--json").stdout)
    assert [s["id"] for s in listed] == ["extra_faq.jsonl"]
    assert bot("delete", "extra_faq.jsonl", "--kb", "cli-test").returncode == 0


def test_errors_are_one_line_without_traceback(bot):
    r = bot("ask", "hello", "--kb", "no-such-kb")
    assert r.returncode == 2 and "is empty" in r.stderr and "Traceback" not in r.stderr
    r = bot("ask")
    assert r.returncode == 2 and "--file" in r.stderr


def test_eval_intents_prints_accuracy_and_macro_f1(bot):
    from apps.support_bot.config import SHARED_DATA

    train, test = SHARED_DATA / "intents.csv", SHARED_DATA / "intents_test.csv"
    r = bot("eval-intents", "--train", str(train), "--test", str(test), "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert 0.7 <= result["accuracy"] <= 1 and 0.6 <= result["macro_f1"] <= 1
    assert result["n_test"] == 24
