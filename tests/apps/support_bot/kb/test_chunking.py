"""Chunking on structure: size bounds in English and Chinese, headings as titles, tables and pages kept whole."""

from __future__ import annotations

from apps.support_bot.kb.chunking import (
    MAX_CHARS,
    Block,
    chunk_blocks,
    detect_lang,
    markdown_table,
    split_long,
    split_sentences,
)

EN_SENTENCE = "Refunds go back to the original payment method within 5-7 business days after inspection. "
ZH_SENTENCE = "退款会在检验通过后五到七个工作日内原路退回到您的支付账户。"


def _body(entry) -> str:
    return entry.text.split("\n", 1)[1]


def test_detect_lang_counts_characters_against_words():
    assert detect_lang("Where is my order?") == "en"
    assert detect_lang("我的订单到哪了？") == "zh"
    assert detect_lang("我的 order 在哪里") == "zh"
    assert detect_lang("Where is my order from 北峰户外?") == "en"
    assert detect_lang("") == "en"


def test_sentences_keep_their_marks_and_numbers_stay_whole():
    text = "Tents weigh 1.5 kg. Boots cost $149.99! Really? 帐篷很轻。靴子防水！"
    parts = split_sentences(text)
    assert "".join(parts) == text
    assert [p.strip() for p in parts] == [
        "Tents weigh 1.5 kg.",
        "Boots cost $149.99!",
        "Really?",
        "帐篷很轻。",
        "靴子防水！",
    ]


def test_long_paragraphs_split_at_sentence_ends_within_the_limit():
    for sentence in (EN_SENTENCE, ZH_SENTENCE):
        text = sentence * 40
        pieces = split_long(text, 300)
        assert len(pieces) > 1
        assert all(len(p) <= 300 for p in pieces)
        assert all(p.endswith((".", "。")) for p in pieces)  # cut at sentence ends only
        assert "".join(pieces).replace(" ", "") == text.replace(" ", "")


def test_text_without_sentence_ends_is_cut_at_the_limit():
    pieces = split_long("字" * 1500, 700)
    assert [len(p) for p in pieces] == [700, 700, 100]


def test_lines_are_preferred_cut_points():
    lines = [f"- item {n}: " + "gear " * 10 for n in range(40)]
    pieces = split_long("\n".join(lines), 200)
    assert all(len(p) <= 200 for p in pieces)
    assert all(p.startswith("- item") for p in pieces)  # no list item cut in half


def test_markdown_table_pads_rows_and_escapes_pipes():
    table = markdown_table([["Method", "Time"], ["Card | debit", "5-7  days"], ["Gift card"], ["", ""]])
    assert table.splitlines() == [
        "| Method | Time |",
        "| --- | --- |",
        "| Card \\| debit | 5-7 days |",
        "| Gift card |  |",
    ]
    assert markdown_table([]) == ""


def test_chunks_follow_headings_and_respect_the_size_bound():
    table = markdown_table([["Option", "Days"]] + [[f"Option {n}", "3-5 business days"] for n in range(40)])
    blocks = [
        Block("text", "Intro before any heading."),
        Block("heading", "Returns policy", 1),
        Block("text", EN_SENTENCE * 20),
        Block("heading", "Refund times", 2),
        Block("text", "Short intro to the table."),
        Block("table", table),
        Block("heading", "退货运费", 2),
        Block("text", ZH_SENTENCE * 30),
        Block("heading", "Exchanges", 1),
        Block("text", "Exchanges are free."),
    ]
    entries = chunk_blocks(blocks, "policy.md", "policy")
    titles = [e.title for e in entries]
    assert titles[0] == "policy"
    assert "Returns policy > Refund times" in titles
    assert "Returns policy > 退货运费" in titles
    assert titles[-1] == "Exchanges"  # a level-1 heading pops the earlier path
    assert [e.id for e in entries] == [f"policy.md#{n}" for n in range(1, len(entries) + 1)]
    assert all(e.kind == "doc" and e.source_id == "policy.md" and e.text.startswith(e.title + "\n") for e in entries)
    tables = [e for e in entries if table in e.text]
    assert len(tables) == 1 and len(_body(tables[0])) > MAX_CHARS  # a table is never split, even when long
    assert all(len(_body(e)) <= MAX_CHARS for e in entries if e is not tables[0])
    assert {e.lang for e in entries if "退货运费" in e.title} == {"zh"}
    assert not any("Exchanges are free" in e.text and "退款" in e.text for e in entries)  # never across a heading


def test_small_blocks_pack_together_and_pages_split_chunks():
    blocks = [
        Block("heading", "Care", 1, page=1),
        Block("text", "Dry the tent.", page=1),
        Block("text", "Store loosely.", page=1),
    ]
    blocks += [Block("text", "Wax the boots.", page=2)]
    entries = chunk_blocks(blocks, "care.pdf", "care")
    assert [(e.title, _body(e)) for e in entries] == [
        ("Care (p. 1)", "Dry the tent.\n\nStore loosely."),
        ("Care (p. 2)", "Wax the boots."),
    ]


def test_headings_without_text_make_no_chunks():
    assert chunk_blocks([Block("heading", "Empty", 1), Block("heading", "Also empty", 2)], "x.md", "x") == []
