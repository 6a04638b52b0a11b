"""Self-calibration: rule-made questions, and threshold choice under the wrong-answer bound (written-down values)."""

import pytest

from apps.support_bot.config import Thresholds
from apps.support_bot.kb.types import Entry
from apps.support_bot.selfcal import OUT_OF_DOMAIN, Scored, choose, first_sentence, paraphrase, questions_for

START = Thresholds(faq_direct=0.75, grounded=0.35, suggest=0.3)


def scored(best_faq, best_any, first, expected, ood=False, doc=False) -> Scored:
    return Scored(best_faq, best_any, first, None if doc else first, doc, expected, ood)


def test_paraphrases_are_rewrites_in_each_language():
    assert paraphrase("How do I delete my Facebook account?", "en", 0) == (
        "I'd like to know: how do I delete my Facebook account?"
    )
    assert paraphrase("How do I delete my Facebook account?", "en", 1) == "delete Facebook account"
    assert paraphrase("怎么预订自行车？", "zh", 0) == "请问怎么预订自行车？"
    assert paraphrase("有电动自行车出租吗？", "zh", 1) == "有电动自行车出租"


def test_calibration_questions_cover_faqs_documents_and_out_of_domain():
    faq = Entry("f1", "faq.csv", "faq", "Can I cancel?", "Can I cancel?\nYes.", "Can I cancel?", "Yes.")
    doc = Entry("d1", "g.md", "doc", "Guide > Damage", "Guide > Damage\nRepairs are paid from the deposit. More.")
    assert first_sentence(doc) == "Repairs are paid from the deposit."
    qs = questions_for([faq, doc], "en")
    assert [(q.text, q.expected, q.exclude) for q in qs[:3]] == [
        ("I'd like to know: can I cancel?", "f1", None),  # positive
        ("I'd like to know: can I cancel?", None, "f1"),  # the same with its FAQ left out: a negative
        ("Repairs are paid from the deposit.", "d1", None),  # a passage question (an FAQ answer to it is wrong)
    ]
    assert len(qs) == 3 + len(OUT_OF_DOMAIN["en"]) and qs[3].expected is None


def test_the_most_lenient_thresholds_within_the_wrong_answer_bound():
    rows = [scored(0.90, 0.80, "a", "a"), scored(0.85, 0.70, "b", "b"), scored(0.80, 0.60, "c", "c")]
    rows += [scored(0.62, 0.50, "b", None), scored(0.58, 0.45, "a", None)]  # FAQ left out: the best other FAQ
    rows += [scored(0.30, 0.20, "a", None, ood=True), scored(0.40, 0.30, "b", None, ood=True)]
    t, report = choose(rows, START, max_wrong=0.0)
    # all three positives are answered from their FAQ at any value up to 0.80; the most lenient one that answers no
    # negative is 0.63 (just above the 0.62 one), and passages answer only above the highest negative text score
    # (0.50), so 0.51
    assert t.faq_direct == pytest.approx(0.63)
    assert t.grounded == pytest.approx(0.51)
    assert report == {
        "questions": 7,
        "positives": 3,
        "negatives": 4,
        "answered": 3,
        "wrong_answer_rate": 0.0,
        "withheld_right_rate": 0.0,
    }
    loose, report = choose(rows, START, max_wrong=0.25)  # one wrong answer in four allowed
    assert loose.faq_direct == pytest.approx(0.59) and report["answered"] == 4 and report["wrong_answer_rate"] == 0.25


def test_a_kb_without_faqs_answers_from_passages_above_the_out_of_domain_scores():
    rows = [scored(0.0, x / 100, "d", None, ood=True, doc=True) for x in range(10, 30)]  # 0.10 .. 0.29
    t, report = choose(rows, START, max_wrong=0.05)
    assert t.grounded == pytest.approx(0.29) and t.faq_direct == 0.75  # 95th percentile of 0.10..0.29 is 0.2805
    assert report["positives"] == 0
