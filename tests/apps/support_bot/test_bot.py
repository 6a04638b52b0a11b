"""The demo bot end to end on real models: cited answers in English and Chinese, clarify, handoff with the
transcript, session memory, PII redaction and the calibrated policy on held-out questions."""

import pytest

from apps.support_bot.config import SHARED_DATA
from core.errors import InvalidRequestError

pytestmark = pytest.mark.slow


def test_english_faq_question_gets_the_faq_answer_with_its_source(demo_bot):
    faq = next(e for e in demo_bot.kb.entries() if e.id.startswith("en-") and "refund" in e.question.lower())
    reply = demo_bot.ask(faq.question)
    assert (reply.action, reply.mode) == ("answer", "faq")
    assert reply.answer == faq.answer
    assert reply.sources[0]["id"] == faq.id and reply.sources[0]["question"] == faq.question
    assert reply.sources[0]["score"] > 0 and reply.lang == "en"


def test_chinese_question_is_answered_from_the_chinese_kb(demo_bot):
    reply = demo_bot.ask("买多少钱可以包邮？")
    assert reply.action == "answer" and reply.lang == "zh"
    assert "299" in reply.answer
    assert reply.sources and reply.sources[0]["id"].startswith("zh-")


def test_out_of_scope_questions_are_clarified_not_answered(demo_bot):
    for question in ("Write me a poem about mountains.", "给我写一首关于秋天的诗"):
        reply = demo_bot.ask(question)
        assert reply.action == "clarify", (question, reply.reason)
        assert reply.sources == []
    assert "rephrase" in demo_bot.ask("Should I buy Tesla stock right now?").answer


def test_asking_for_a_person_opens_a_ticket_with_the_transcript(demo_bot):
    first = demo_bot.ask("Can you ship my order to Canada?")
    reply = demo_bot.ask("I want to talk to a human agent", first.session_id)
    assert reply.action == "handoff" and reply.ticket_id is not None
    assert f"#{reply.ticket_id}" in reply.answer
    ticket = demo_bot.store.ticket(reply.ticket_id)
    assert ticket.status == "open" and ticket.session_id == first.session_id
    said = [m["text"] for m in ticket.transcript if m["role"] == "user"]
    assert said == ["Can you ship my order to Canada?", "I want to talk to a human agent"]
    assert demo_bot.ask("转人工").action == "handoff"


def test_repeated_misunderstanding_hands_over(demo_bot):
    session = None
    actions = []
    for text in ("It doesn't work.", "blorp zzk", "qwv xpl"):
        reply = demo_bot.ask(text, session)
        session = reply.session_id
        actions.append(reply.action)
    assert actions == ["clarify", "clarify", "handoff"]


def test_a_follow_up_uses_the_conversation(demo_bot):
    first = demo_bot.ask("Do you ship to Canada?")
    follow = demo_bot.ask("how long does that take?", first.session_id)
    assert follow.action == "answer"
    assert any(s["id"].startswith("en-shipping") or "shipping" in s["source"] for s in follow.sources)


def test_generated_or_quoted_answers_cite_their_passages(demo_bot):
    reply = demo_bot.ask("If I order on December 20 with standard shipping, will it arrive before Christmas?")
    assert reply.action == "answer" and reply.mode in ("generate", "passage")
    cited = [i for i, s in enumerate(reply.sources, 1) if s["cited"]]
    assert cited and all(f"[{i}]" in reply.answer for i in cited)


def test_a_busy_chat_model_means_a_quoted_passage_not_a_wait(demo_bot, monkeypatch):
    question = "If I order on December 20 with standard shipping, will it arrive before Christmas?"
    monkeypatch.setattr(demo_bot.config, "generation_wait_s", 0.2)
    monkeypatch.setattr(demo_bot.config, "generation", "always")
    with demo_bot._generating:  # another customer's answer is being written
        reply = demo_bot.ask(question)
    assert reply.action == "answer" and reply.mode == "passage" and "busy" in reply.reason
    assert reply.sources[0]["cited"] and "[1]" in reply.answer


def test_personal_data_is_redacted_in_the_store(demo_bot):
    reply = demo_bot.ask("My email is jane.doe@example.com and my phone is 13812345678, where is my order?")
    stored = demo_bot.store.history(reply.session_id)[0].text
    assert "jane.doe@example.com" not in stored and "13812345678" not in stored
    assert "[EMAIL]" in stored and "[PHONE]" in stored


def test_bad_questions_get_clear_errors(demo_bot):
    with pytest.raises(InvalidRequestError, match="empty"):
        demo_bot.ask("   ")
    with pytest.raises(InvalidRequestError, match="limit"):
        demo_bot.ask("x" * 5000)


def test_calibrated_policy_on_held_out_questions(demo_bot):
    report = demo_bot.evaluate_policy(SHARED_DATA / "policy_test.jsonl")
    # Measured on the 40 held-out questions (20 en, 20 zh); bounds leave a margin below what was measured.
    assert report["all"]["action_accuracy"] >= 0.75, report["errors"]
    assert report["all"]["retrieval_hit_at_k"] >= 0.8
    assert report["en"]["action_accuracy"] >= 0.65 and report["zh"]["action_accuracy"] >= 0.65
