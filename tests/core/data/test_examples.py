from core.data import ChatExample, ClassificationExample, TextExample


def test_equality_ignores_provenance_and_map_texts_touches_every_text():
    chat = ChatExample([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "f.jsonl", 3)
    assert chat == ChatExample([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}])
    upper = chat.map_texts(str.upper)
    assert upper.texts() == ["A", "B"]
    assert (upper.source, upper.line) == ("f.jsonl", 3)
    assert chat.texts() == ["a", "b"]  # the original is untouched
    assert TextExample("x").map_texts(str.upper) == TextExample("X")
    assert ClassificationExample("x", "lbl").map_texts(str.upper) == ClassificationExample("X", "lbl")


def test_keys_separate_content_from_labels():
    assert ClassificationExample("x", "a").key() != ClassificationExample("x", "b").key()
    assert TextExample("x").key() == ("x",)
