"""Translation English <-> Chinese on the default chat model, and the checks applied to its reply."""

from __future__ import annotations

import re

from apps.writing_assistant.writer import _checked_translation


def test_chinese_to_english_and_back(writer):
    en = writer.translate("今天的天气很好，我们去公园散步吧。", "en")
    assert en["source"] == "zh" and en["target"] == "en"
    assert not re.search(r"[\u4e00-\u9fff]", en["text"]) and "park" in en["text"].lower()
    zh = writer.translate("Please send the invoice to my email address.", "zh")
    assert re.search(r"发票", zh["text"]) and zh["length"] == len(re.sub(r"\s", "", zh["text"]))


def test_reply_checks_drop_added_quotes_and_refuse_the_wrong_script():
    assert _checked_translation("以免再次发生这样的事情", '"Prevent such a thing from happening again"', "en") == (
        "Prevent such a thing from happening again"
    )
    quoted = '"Hello," she said.'
    assert _checked_translation("“你好，”她说。", quoted, "en") == quoted  # not a pair around the whole reply
    assert _checked_translation('"引用"', '"Quote"', "en") == '"Quote"'  # the source was quoted too
    # A reply in the source's script answered something else: the paragraph stays untranslated.
    assert _checked_translation("请翻译这句话。", "好的，我来帮你。", "en") == "请翻译这句话。"
