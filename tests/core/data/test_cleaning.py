import pytest
from pydantic import ValidationError

from core.data import ChatExample, ClassificationExample, CleaningConfig, TextExample, clean
from core.data.cleaning import normalize_whitespace, strip_html


def chat(user: str, reply: str, system: str | None = None) -> ChatExample:
    messages = [{"role": "system", "content": system}] if system else []
    return ChatExample([*messages, {"role": "user", "content": user}, {"role": "assistant", "content": reply}])


def counts(report) -> dict[str, tuple[int, int]]:
    return {s.name: (s.removed, s.modified) for s in report.steps}


def test_defaults_normalise_and_drop_exact_duplicates():
    examples = [
        TextExample("ＡＢＣ１２３，全角"),  # full-width letters, digits and comma
        TextExample("  hello \t  world  "),
        TextExample("ABC123,全角"),  # the first one once normalised
        TextExample("unchanged"),
        TextExample("unchanged"),
    ]
    out, report = clean(examples)
    assert out == [TextExample("ABC123,全角"), TextExample("hello world"), TextExample("unchanged")]
    assert counts(report) == {"normalize_unicode": (0, 1), "whitespace": (0, 1), "dedup_exact": (2, 0)}
    assert (report.before, report.after) == (5, 3)


def test_every_text_field_of_every_example_type_is_cleaned():
    config = CleaningConfig(html=True, pii=True, dedup_exact=False)
    examples = [
        chat("<b>Ｈｉ</b>  there", "Mail me at a@b.com &amp; call 13812345678", system="Be   brief."),
        TextExample("<p>第一段</p><p>第二段</p>"),
        ClassificationExample("card 4111 1111 1111 1111 lost", "lost_card"),
    ]
    out, report = clean(examples, config)
    assert out[0].messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Mail me at [EMAIL] & call [PHONE]"},
    ]
    assert out[1] == TextExample("第一段\n\n第二段")
    assert out[2] == ClassificationExample("card [CARD] lost", "lost_card")
    assert counts(report) == {"html": (0, 2), "normalize_unicode": (0, 1), "whitespace": (0, 2), "pii": (0, 2)}


def test_html_stripping():
    assert strip_html("<p>Fish &amp; chips<br>£5</p><script>alert(1)</script><style>p{}</style>") == (
        "\nFish & chips\n£5\n"
    )
    assert strip_html("if a < b and x<y then") == "if a < b and x<y then"
    assert strip_html("no markup") == "no markup"


def test_whitespace_keeps_line_structure():
    text = "Steps:  \r\n\r\n\r\n\r\n1.   first   item\n    indented   code  \n\n\n"
    assert normalize_whitespace(text) == "Steps:\n\n1. first item\n    indented code"
    assert normalize_whitespace("\u3000你好\u3000世界\u3000") == "你好 世界"


def test_length_filter_counts_all_text_of_an_example():
    examples = [TextExample("a" * 5), TextExample("b" * 20), chat("hi", "yo"), TextExample("c" * 100)]
    out, report = clean(examples, CleaningConfig(min_chars=4, max_chars=50))
    assert out == [TextExample("a" * 5), TextExample("b" * 20), chat("hi", "yo")]
    assert counts(report)["length"] == (1, 0)


def test_near_duplicates_in_english_and_chinese():
    examples = [
        TextExample("The quick brown fox jumps over the lazy dog near the river bank today."),
        TextExample("The quick brown fox jumps over the lazy dog near the river bank today!"),
        TextExample("A completely different sentence about training small language models."),
        TextExample("今天天气很好，我们一起去公园散步，然后去吃午饭吧。"),
        TextExample("今天天气很好，我们一起去公园散步，然后去吃午饭吧！"),
        TextExample("明天可能会下雨，记得带伞出门。"),
    ]
    out, report = clean(examples, CleaningConfig(dedup_near=True))
    assert [e.text[:6] for e in out] == ["The qu", "A comp", "今天天气很好", "明天可能会下"]
    assert counts(report)["dedup_near"] == (2, 0)
    strict, _ = clean(examples, CleaningConfig(dedup_near=True, near_threshold=0.99))
    assert len(strict) == 6


def test_near_dedup_ignores_a_shared_system_prompt():
    system = "You are the support assistant of Example Bank. Answer politely and never reveal account data. " * 3
    examples = [
        chat("How do I reset my PIN?", "Open the app, Cards, Reset PIN.", system),
        chat("Where is my card?", "It ships in 5 days.", system),
    ]
    out, _ = clean(examples, CleaningConfig(dedup_near=True))
    assert len(out) == 2


def test_report_summary_and_dict():
    _, report = clean([TextExample("x"), TextExample("x")], CleaningConfig(normalize_unicode=False))
    assert report.summary().splitlines() == [
        "step         removed  modified",
        "whitespace         0         0",
        "dedup_exact        1         0",
        "examples: 2 -> 1",
    ]
    assert report.to_dict() == {
        "before": 2,
        "after": 1,
        "steps": [
            {"name": "whitespace", "removed": 0, "modified": 0},
            {"name": "dedup_exact", "removed": 1, "modified": 0},
        ],
    }


def test_config_is_validated():
    with pytest.raises(ValidationError):
        CleaningConfig(near_threshold=1.5)
    with pytest.raises(ValidationError):
        CleaningConfig(dedupe=True)
