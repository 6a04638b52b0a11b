from collections import Counter

import pytest

from core.data import ClassificationExample, DataError, TextExample, train_val_split


def texts(n: int) -> list[TextExample]:
    return [TextExample(f"example {i}") for i in range(n)]


def test_split_is_seeded_complete_and_disjoint():
    data = texts(50)
    train, val = train_val_split(data, val_fraction=0.2, seed=7)
    assert (len(train), len(val)) == (40, 10)
    assert sorted(e.text for e in train + val) == sorted(e.text for e in data)
    assert train_val_split(data, val_fraction=0.2, seed=7) == (train, val)
    assert train_val_split(data, val_fraction=0.2, seed=8)[1] != val


@pytest.mark.parametrize(
    ("n", "fraction", "n_val"), [(2, 0.1, 1), (5, 0.01, 1), (1, 0.5, 0), (10, 0.0, 0), (3, 0.9, 2)]
)
def test_validation_size(n, fraction, n_val):
    train, val = train_val_split(texts(n), val_fraction=fraction)
    assert (len(train), len(val)) == (n - n_val, n_val)


def test_classification_is_stratified():
    data = [
        ClassificationExample(f"{label} {i}", label) for label, n in (("a", 60), ("b", 30), ("c", 10)) for i in range(n)
    ]
    train, val = train_val_split(data, val_fraction=0.2, seed=3)
    assert Counter(e.label for e in val) == {"a": 12, "b": 6, "c": 2}
    assert Counter(e.label for e in train) == {"a": 48, "b": 24, "c": 8}
    # Shuffled: a file sorted by label does not reach training sorted.
    assert [e.label for e in train[:10]] != ["a"] * 10


def test_small_classes_keep_a_training_example():
    data = [
        ClassificationExample(f"{label} {i}", label) for label, n in (("a", 2), ("b", 2), ("c", 2)) for i in range(n)
    ]
    train, val = train_val_split(data, val_fraction=0.9)
    assert Counter(e.label for e in train) == {"a": 1, "b": 1, "c": 1}
    assert len(val) == 3


def test_singleton_label_falls_back_to_a_plain_split():
    data = [ClassificationExample(f"a {i}", "a") for i in range(9)] + [ClassificationExample("b 0", "b")]
    train, val = train_val_split(data, val_fraction=0.3)
    assert (len(train), len(val)) == (7, 3)


def test_fraction_must_be_below_one():
    with pytest.raises(DataError, match="val_fraction"):
        train_val_split(texts(3), val_fraction=1.0)
