"""The support bot's learning loop, measured: replay questions the demo bot handles badly, hand each one to a
person, resolve the tickets as an agent would (``benchmarks/data/support_bot_learning.jsonl``: 36 questions, 18 EN
and 18 ZH; 26 on topics the demo KB does not cover, answered in the agent's own words, and 10 that an FAQ covers but
worded unlike it, answered with the FAQ's text as agents paste canned answers), approve every suggestion as made,
retrain the intent model and recalibrate. Scored on a held-out paraphrase of each question (worded unlike the
replayed one):

- answer rate: the bot answers (rather than clarifying or handing over);
- accuracy: it answers with the right entry (the learned one, or the FAQ the agent's reply came from);
- wrong: answered with another entry.

Baseline: the same bot before learning (no learning). Stages: before, after approving (knowledge base only), after
``retrain`` (intent model + thresholds). The held-out ``policy_test.jsonl`` shows what learning does to the
questions the bot already handled. Decisions only (generation off): the policy picks the entry it would answer from.

    python benchmarks/support_bot_learning.py

Results: benchmarks/results/support_bot_learning.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from machine_info import run_record, write_result  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "support_bot_learning.jsonl"
RESULTS = ROOT / "benchmarks" / "results" / "support_bot_learning.json"
ASK_FOR_PERSON = {"en": "I want to talk to a person", "zh": "我要转人工"}


def scratch_settings():
    """A throwaway LLMECO_HOME with the demo set up; its intent model is a copy of the prepared demo model, so
    ``retrain`` replaces the copy, not the user's."""
    from apps.support_bot.cli import setup
    from apps.support_bot.intents import ensure_intent_model
    from core.config import load_settings
    from tests.conftest import settings_in

    user = load_settings()
    home = Path(tempfile.mkdtemp(prefix="llmeco-learning-"))
    shutil.copytree(ensure_intent_model(user), home / "support_bot" / "intents")
    settings = settings_in(home, **{"apps.support_bot.generation": "never"})
    setup(settings)
    return settings, home


def judge(bot, question: str, expected: set[str]) -> dict:
    """What the bot does with a fresh-session question, and whether it answers with an expected entry (the entry
    ``SupportBot._respond`` would answer from: the first FAQ for a direct answer, else the first passage)."""
    from apps.support_bot.kb.parsers import detect_lang
    from apps.support_bot.policy import decide

    (signals, hits) = bot.signals([question])[0]
    decision = decide(signals, bot.thresholds_for(detect_lang(question)))
    used = None
    if decision.action == "answer" and decision.mode == "faq":
        used = next(h.entry for h in hits if h.entry.kind == "faq")
    elif decision.action == "answer" and decision.mode == "generate":
        used = hits[0].entry
    right = used is not None and (used.id in expected or used.source_id in expected)
    return {
        "question": question,
        "action": decision.action,
        "mode": decision.mode,
        "intent": signals.intent,
        "entry": used.id if used else None,
        "correct": right,
    }


def score(rows: list[dict], items: list[dict]) -> dict:
    out = {}
    for lang in ("all", "en", "zh"):
        sel = [r for r, it in zip(rows, items, strict=True) if lang == "all" or it["lang"] == lang]
        answered = sum(r["action"] == "answer" for r in sel)
        right = sum(r["correct"] for r in sel)
        out[lang] = {
            "n": len(sel),
            "answer_rate": round(answered / len(sel), 4),
            "accuracy": round(right / len(sel), 4),
            "wrong": answered - right,
        }
    return out


def evaluate(bot, items: list[dict], key: str, expected: list[set[str]]) -> dict:
    rows = [judge(bot, it[key], exp) for it, exp in zip(items, expected, strict=True)]
    return {**score(rows, items), "rows": rows}


def policy(bot) -> dict:
    from apps.support_bot.config import SHARED_DATA

    report = bot.evaluate_policy(SHARED_DATA / "policy_test.jsonl")
    return {k: report["all"][k] for k in ("n", "action_accuracy", "correct")}


def replay(bot, learning, items: list[dict]) -> list[dict]:
    """Each question in its own session; a customer the bot did not help asks for a person; the agent resolves
    the ticket with the reply. Returns per item the ticket and the suggestions made."""
    out = []
    for it in items:
        session = bot.store.new_session_id()
        reply = bot.ask(it["question"], session)
        ticket = reply.ticket_id or bot.ask(ASK_FOR_PERSON[it["lang"]], session).ticket_id
        if ticket is None:
            out.append({"id": it["id"], "ticket": None, "suggestions": []})
            continue
        resolved = bot.store.resolve_ticket(ticket, "benchmark", "agent", reply=it["reply"])
        made = learning.from_ticket(resolved, it["reply"])
        out.append({"id": it["id"], "ticket": ticket, "first_action": reply.action, "suggestions": made})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    from apps.support_bot.bot import SupportBot
    from apps.support_bot.config import SHARED_DATA
    from apps.support_bot.learning import Learning, learned_id

    items = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    start = time.perf_counter()
    settings, home = scratch_settings()
    bot = SupportBot(settings)
    learning = Learning(bot)
    known = [{it["entry"]} - {None} for it in items]
    stages = {"before": {"heldout": evaluate(bot, items, "heldout", known), "policy_test": policy(bot)}}
    stages["before"]["replayed"] = evaluate(bot, items, "question", known)
    print(f"before: {stages['before']['heldout']['all']}", flush=True)

    replayed = replay(bot, learning, items)
    approved: dict[str, int] = {}
    for s in learning.store.suggestions("pending"):
        learning.approve(s.id, recalibrate=False)
        approved[s.kind] = approved.get(s.kind, 0) + 1
    bot.refresh()
    learned = [
        {learned_id(s.question, s.answer) if s.kind == "faq" else s.entry_id for s in r["suggestions"]} - {None}
        for r in replayed
    ]
    expected = [k | n for k, n in zip(known, learned, strict=True)]
    stages["approved"] = {"heldout": evaluate(bot, items, "heldout", expected), "policy_test": policy(bot)}
    print(f"approved: {stages['approved']['heldout']['all']}", flush=True)

    report = learning.retrain(SHARED_DATA / "policy_val.jsonl")
    stages["retrained"] = {"heldout": evaluate(bot, items, "heldout", expected), "policy_test": policy(bot)}
    stages["retrained"]["replayed"] = evaluate(bot, items, "question", expected)
    print(f"retrained: {stages['retrained']['heldout']['all']}", flush=True)

    record = run_record(
        data=str(args.data.relative_to(ROOT) if args.data.is_relative_to(ROOT) else args.data),
        n_questions=len(items),
        intent_model="demo (shared_data/support_bot/intents.csv) + approved examples",
        chat_model="none (generation off: decisions only)",
        tickets=sum(r["ticket"] is not None for r in replayed),
        suggestions_approved=approved,
        retrain_seconds=report.seconds,
        seconds=round(time.perf_counter() - start, 1),
        stages=stages,
    )
    write_result(args.output, record)
    print_table(record)
    shutil.rmtree(home, ignore_errors=True)


def print_table(record: dict) -> None:
    names = {"before": "before (no learning)", "approved": "suggestions approved", "retrained": "+ retrain"}
    print(f"\nheld-out paraphrases (n={record['n_questions']}); policy_test.jsonl (in-domain, held out)")
    print(f"{'stage':24} {'answer rate':>12} {'accuracy':>9} {'wrong':>6} {'EN acc':>7} {'ZH acc':>7} {'policy':>7}")
    for key, name in names.items():
        h, p = record["stages"][key]["heldout"], record["stages"][key]["policy_test"]
        print(
            f"{name:24} {h['all']['answer_rate']:12.3f} {h['all']['accuracy']:9.3f} {h['all']['wrong']:6d} "
            f"{h['en']['accuracy']:7.3f} {h['zh']['accuracy']:7.3f} {p['correct']:7.3f}"
        )


if __name__ == "__main__":
    main()
