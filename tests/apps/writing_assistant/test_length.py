"""Length control without a model: counting, sentence boundaries, trimming that keeps first sentences and a
sign-off, repeated-sentence removal, outline parsing."""

from __future__ import annotations

from apps.writing_assistant.textutil import complete_sentences, count, detect_language, sentences
from apps.writing_assistant.writer import Section, cut_at_clause, dedupe, parse_outline, render, trim


def test_counting_units():
    assert count("Hello there,  world!\nNew line.", "en") == 5
    assert count("本周六 停水，请 提前储水。", "zh") == 12  # non-whitespace characters, punctuation included
    assert detect_language("本周六停水 (Saturday)") == "zh" and detect_language("Plain English.") == "en"


def test_sentences_and_cut_off_fragments():
    assert sentences("One. Two! Three? 四。五！") == ["One.", "Two!", "Three?", "四。", "五！"]
    assert complete_sentences("First sentence. Second one is cut") == "First sentence."
    assert complete_sentences("第一句。第二句没有写") == "第一句。"
    assert complete_sentences("Only a fragment") == "Only a fragment"


def test_trim_reaches_the_target_and_keeps_the_sign_off():
    body = " ".join(f"This is sentence number {i} of the body." for i in range(20))  # 160 words
    section = Section("Body", 80, f"Dear Sam,\n\n{body}\n\nBest regards,\nAlex")
    steps: list[str] = []
    trim([section], 80, 0.15, "en", False, steps)
    n = count(section.text, "en")
    assert 68 <= n <= 84, n
    assert section.text.startswith("Dear Sam,") and section.text.endswith("Best regards,\nAlex")
    assert "sentence number 0 " in section.text and steps


def test_a_sign_off_run_into_the_last_paragraph_is_kept_last():
    body = " ".join(f"The water stops at hour {i} on Saturday." for i in range(20))
    section = Section("Notice", 60, f"{body} Best regards, The maintenance team")
    trim([section], 60, 0.15, "en", False, [])
    assert section.text.endswith("Best regards, The maintenance team") and count(section.text, "en") <= 69
    zh = Section("通知", 60, "周六上午停水，请提前储水。" * 10 + "谢谢配合。\n此致\n敬礼！物业服务中心")
    trim([zh], 60, 0.15, "zh", False, [])
    assert zh.text.endswith("此致\n敬礼！物业服务中心") and count(zh.text, "zh") <= 69


def test_trim_shares_cuts_across_sections_with_headings():
    a = Section("A", 30, " ".join(["Alpha beta gamma delta."] * 20))
    b = Section("B", 30, "Short part here.")
    trim([a, b], 60, 0.15, "en", True, [])
    assert 51 <= count(render([a, b], True), "en") <= 63
    assert b.text == "Short part here."


def test_trim_chinese_and_clause_cut():
    s = Section("正文", 50, "今天天气很好，我们去公园散步。" * 10)
    trim([s], 50, 0.15, "zh", False, [])
    assert 43 <= count(s.text, "zh") <= 53
    assert cut_at_clause("one, two, three, four five six", 3, "en") == "one, two, three."


def test_dedupe_removes_loops():
    s = [Section("a", 10, "Drink water daily. Walk every day."), Section("b", 10, "Walk every day. Sleep well.")]
    assert dedupe(s) == 1 and s[1].text == "Sleep well."


def test_parse_outline():
    answer = "Here is an outline:\n1. **Why it matters**\n2. Getting started:\n- Keeping it up\n\n第三部分：总结"
    assert parse_outline(answer) == ["Why it matters", "Getting started", "Keeping it up", "总结"]


def test_a_text_without_sentence_ends_is_still_cut_to_length():
    s = Section("Body", 50, " ".join(["word"] * 200))
    trim([s], 50, 0.15, "en", False, [])
    assert 43 <= count(s.text, "en") <= 57


def test_clean_drops_preambles_and_headings_but_keeps_hashtags():
    from apps.writing_assistant.writer import _clean

    assert _clean("Sure! Here is the post:\n## Title\n#Sourdough is back!") == "#Sourdough is back!"
