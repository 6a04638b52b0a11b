import pytest

from core.training.metrics import classification_scores, generation_scores, rouge_l


def test_classification_scores_by_hand():
    s = classification_scores(["a", "a", "b", "c"], ["a", "b", "b", "c"])
    assert s["accuracy"] == 0.75
    assert s["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    assert s["per_class"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert s["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)


def test_rouge_l_words_and_chinese_characters():
    assert rouge_l("the cat sat on the mat", "the cat sat on the mat") == 1.0
    assert rouge_l("a cat on a mat", "the cat sat on the mat") == pytest.approx(2 * 0.6 * 0.5 / 1.1)
    assert rouge_l("我们今天去公园", "今天我们去公园") == pytest.approx(5 / 7)  # LCS "今天去公园"
    assert rouge_l("", "x") == 0.0


def test_generation_scores():
    s = generation_scores(["Paris is the capital.", "Berlin"], ["paris", "Berlin"])
    assert s["exact_match"] == 0.5 and s["contains"] == 1.0 and s["n"] == 2
