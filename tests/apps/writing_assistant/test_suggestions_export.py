"""Suggestions from a rewrite (word-level English, character-level Chinese), accept/reject, and exports: Markdown,
TXT and DOCX whose tracked changes read back as revisions."""

from __future__ import annotations

import io
import zipfile

import pytest

from apps.writing_assistant.export import read_document, read_docx, to_docx, to_markdown, to_txt, tracked_changes
from apps.writing_assistant.suggestions import apply_suggestions, diff_suggestions
from core.errors import InvalidRequestError

EN_OLD = "She go to the office every morning, and she allways take the bus."
EN_NEW = "She goes to the office every morning, and she always takes the bus."


def test_english_rewrite_becomes_word_level_suggestions():
    found = diff_suggestions(EN_OLD, EN_NEW, "en")
    assert [(s.original, s.replacement) for s in found] == [("go", "goes"), ("allways", "always"), ("take", "takes")]
    assert all(EN_OLD[s.offset : s.offset + s.length] == s.original for s in found)
    assert apply_suggestions(EN_OLD, found, [s.id for s in found]) == EN_NEW
    assert apply_suggestions(EN_OLD, found, []) == EN_OLD
    two = apply_suggestions(EN_OLD, found, [0, 2])  # accept two of three
    assert two == "She goes to the office every morning, and she allways takes the bus."


def test_chinese_rewrite_is_character_level():
    old, new = "我不愿意这么过分的喜欢歌手。", "我不愿意这么过分地喜欢歌手。"
    found = diff_suggestions(old, new, "zh")
    assert [(s.original, s.replacement, s.offset) for s in found] == [("的", "地", 8)]
    assert apply_suggestions(old, [s.to_dict() for s in found], [0]) == new


def test_unknown_or_stale_suggestion_is_a_clear_error():
    found = diff_suggestions(EN_OLD, EN_NEW, "en")
    with pytest.raises(InvalidRequestError, match="no suggestion with id"):
        apply_suggestions(EN_OLD, found, [7])
    with pytest.raises(InvalidRequestError, match="does not match the text"):
        apply_suggestions("Something else entirely here.", found, [0])


def test_docx_tracked_changes_read_back():
    found = diff_suggestions(EN_OLD, EN_NEW, "en")
    data = to_docx(
        "## Morning\n\n" + EN_OLD,
        [s.__class__(**{**s.__dict__, "offset": s.offset + 12}) for s in found],
        [0, 2],
        title="Routine",
    )
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        xml = z.read("word/document.xml").decode()
    assert "<w:ins " in xml and "<w:del " in xml and "<w:delText" in xml
    changes = tracked_changes(data)
    assert [(c["type"], c["text"]) for c in changes] == [
        ("del", "go"),
        ("ins", "goes"),
        ("del", "take"),
        ("ins", "takes"),
    ]
    assert all(c["author"] and c["date"] for c in changes)
    accepted = read_docx(data)
    assert "She goes to the office" in accepted and "allways takes the bus" in accepted
    assert accepted.startswith("# Routine\n\n## Morning")
    assert "She go to the office" in read_docx(data, accept=False)


def test_markdown_and_txt_exports():
    text = "## 背景\n\n本周六停水。"
    assert to_markdown(text, "通知") == "# 通知\n\n## 背景\n\n本周六停水。\n"
    assert to_txt(text, "通知") == "通知\n\n背景\n\n本周六停水。\n"


def test_corrupt_docx_and_unknown_types_are_clear_errors():
    with pytest.raises(InvalidRequestError, match="broken.docx: not a readable DOCX"):
        read_document(b"PK\x03\x04 this is not a real zip", "broken.docx")
    with pytest.raises(InvalidRequestError, match="unsupported file type .pdf"):
        read_document(b"%PDF", "x.pdf")
    with pytest.raises(InvalidRequestError, match="not UTF-8"):
        read_document("草稿".encode("gbk"), "draft.txt")
