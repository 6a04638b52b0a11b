"""BM25 terms: English words with light normalisation, Chinese characters + bigrams + jieba words, mixed text."""

from __future__ import annotations

from apps.support_bot.kb.tokenize import tokens


def test_english_is_lowercased_without_stopwords_and_plurals_meet_singulars():
    assert tokens("How do I return THESE Boots?") == ["return", "boot"]
    assert tokens("watches boxes batteries sizes") == tokens("watch box battery size")
    assert tokens("address status") == ["address", "status"]  # -ss and -us are not plurals
    assert tokens("I don't know") == ["dont", "know"]


def test_chinese_gives_characters_bigrams_and_jieba_words():
    terms = tokens("信用卡付款了吗")
    assert {"信", "用", "卡", "付", "款"} <= set(terms)  # unigrams
    assert {"信用", "用卡", "卡付", "付款"} <= set(terms)  # bigrams
    assert "信用卡" in terms  # a jieba word longer than a bigram
    assert "了" not in terms and "吗" not in terms  # particles dropped as single characters
    assert "款了" in terms  # ... but kept inside bigrams


def test_mixed_text_and_full_width_characters():
    terms = tokens("北峰户外的ＧＰＳ手表 costs ＄１９９")
    assert {"gps", "手表", "cost", "199", "户外"} <= set(terms)


def test_text_without_terms_gives_nothing():
    assert tokens("") == []
    assert tokens("?!  ，。") == []
    assert tokens("the and of") == []
