import json

import pytest

from apps.support_bot.config import Thresholds
from apps.support_bot.kb.types import KBError
from apps.support_bot.policy import Sample, Signals, calibrate, decide, read_labelled

T = Thresholds(faq_direct=0.8, grounded=0.5, intent_handoff=0.6, intent_smalltalk=0.6)


def s(intent="refund", conf=0.9, faq=0.0, any_=0.0, streak=0) -> Signals:
    return Signals(intent, conf, faq, max(faq, any_), streak)


def test_faq_match_answers_directly():
    d = decide(s(faq=0.9), T)
    assert (d.action, d.mode) == ("answer", "faq")


def test_relevant_passages_generate_and_nothing_relevant_clarifies():
    assert decide(s(any_=0.6), T).mode == "generate"
    d = decide(s(any_=0.3), T)
    assert (d.action, d.mode) == ("clarify", "clarify")


def test_asking_for_a_person_hands_over_even_with_a_faq_match():
    assert decide(s("human_agent", 0.9, faq=0.95), T).action == "handoff"
    assert decide(s("human_agent", 0.4, faq=0.95), T).action == "answer"  # unsure intent: the FAQ wins


def test_greeting_is_small_talk_and_repeated_failures_hand_over():
    assert decide(s("greeting", 0.9), T).mode == "smalltalk"
    assert decide(s(any_=0.2, streak=1), T).action == "clarify"
    assert decide(s(any_=0.2, streak=2), T).action == "handoff"


def test_calibration_finds_thresholds_that_separate_the_labels():
    signals = [s(faq=0.7), s(faq=0.72), s(any_=0.4), s(any_=0.35), s("human_agent", 0.65)]
    labels = ["answer", "answer", "clarify", "clarify", "handoff"]
    strict = Thresholds(faq_direct=0.95, grounded=0.9, intent_handoff=0.9)
    result = calibrate([Sample(x, a) for x, a in zip(signals, labels, strict=True)], strict)
    assert result.default_accuracy == pytest.approx(0.4)
    assert result.accuracy == 1.0
    assert 0.4 < result.thresholds.grounded <= 0.7
    assert result.confusion["clarify"] == {"clarify": 2}


def test_a_direct_answer_from_the_wrong_faq_counts_as_a_mistake():
    # Both questions score 0.7 against an FAQ, but only the first one's FAQ is the right one: calibration must
    # not answer the second one directly (it may still be answered from passages, which include the right one).
    samples = [Sample(s(faq=0.7), "answer", True, True), Sample(s(faq=0.6), "answer", False, True)]
    result = calibrate(samples, T)
    # the FAQ answer scores 1, the passage answer 0.8 (a right answer from passages is worth less): (1 + 0.8) / 2
    assert result.accuracy == pytest.approx(0.9)
    assert 0.6 < result.thresholds.faq_direct <= 0.7 and result.thresholds.grounded <= 0.6


def test_read_labelled_names_the_bad_line(tmp_path):
    p = tmp_path / "val.jsonl"
    p.write_text(json.dumps({"question": "hi", "action": "answer"}) + "\n{oops\n", encoding="utf-8")
    with pytest.raises(KBError, match="val.jsonl line 2"):
        read_labelled(p)
    p.write_text(json.dumps({"question": "hi", "action": "maybe"}) + "\n", encoding="utf-8")
    with pytest.raises(KBError, match="line 1.*answer, clarify or handoff"):
        read_labelled(p)
