"""Scoring normalisation and Chinese post-processing (no models)."""

from __future__ import annotations

import pytest

from core.speech.text import (
    edit_distance,
    error_tokens,
    normalise_en,
    normalise_zh,
    ordinal_words,
    punctuate_zh,
    spoken_number,
    to_simplified,
)


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (7, "seven"),
        (42, "forty-two"),
        (100, "one hundred"),
        (1455, "fourteen fifty-five"),
        (1900, "nineteen hundred"),
        (1905, "nineteen oh five"),
        (2000, "two thousand"),
        (2005, "two thousand five"),
        (3000, "three thousand"),
        (12345, "twelve thousand three hundred forty-five"),
    ],
)
def test_spoken_numbers(n, words):
    assert spoken_number(n) == words


def test_ordinals():
    assert [ordinal_words(n) for n in (1, 2, 3, 5, 12, 15, 20, 21)] == [
        "first",
        "second",
        "third",
        "fifth",
        "twelfth",
        "fifteenth",
        "twentieth",
        "twenty-first",
    ]


def test_english_normalisation_matches_ljspeech_references():
    hyp = 'The "42-line Bible" of about 1455, printed in the 15th century; 1,000 copies at 5%.'
    ref = "the forty two line bible of about fourteen fifty five printed in the fifteenth century one thousand copies"
    assert normalise_en(hyp) == ref + " at five percent"
    assert normalise_en("Don't  stop—now!") == "dont stop now"


def test_chinese_is_simplified_and_punctuated():
    assert to_simplified("甚至出現交易幾乎停滯的情況") == "甚至出现交易几乎停滞的情况"
    assert punctuate_zh(["甚至出现 交易几乎停滞", "的情况"]) == "甚至出现，交易几乎停滞，的情况。"
    assert punctuate_zh(["你好！", "再见"]) == "你好！再见。"
    assert normalise_zh("甚至出現，交易。") == "甚至出现交易"


def test_error_rates():
    assert edit_distance(["a", "b", "c", "d"], ["a", "x", "c"]) == 2
    ref, hyp = error_tokens("And so, my fellow Americans", "and so my fellow americans!", "en")
    assert edit_distance(ref, hyp) == 0 and len(ref) == 5
    ref, hyp = error_tokens("甚至出现交易", "甚至出現交易。", "zh")
    assert edit_distance(ref, hyp) == 0 and len(ref) == 6
