"""Every supported format parsed from real files (English and Chinese), every error path, and the demo knowledge
base: all of it parses and every id the policy sets expect exists."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from apps.support_bot.config import SHARED_DATA
from apps.support_bot.kb.chunking import MAX_CHARS
from apps.support_bot.kb.parsers import SUPPORTED_SUFFIXES, parse_file
from apps.support_bot.kb.types import KBError

DEMO = SHARED_DATA / "kb"


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def _error(path: Path, data: bytes | None = None) -> str:
    with pytest.raises(KBError) as info:
        parse_file(path, data=data)
    message = str(info.value)
    assert message.startswith(f"{path.name}: ")
    return message


# ---------------------------------------------------------------- FAQ files


def test_csv_faq_with_ids_categories_and_generated_ids(tmp_path):
    path = _write(
        tmp_path / "faq.csv",
        'id,category,question,answer\nr-1,returns,How long do I have to return?,"30 days, unused with tags."\n\n'
        ",shipping,Is shipping free?,Free over $50.\n",
    )
    parsed = parse_file(path)
    assert parsed.kind == "faq"
    assert parsed.meta == {"rows": 2, "skipped": 1}
    first, second = parsed.entries
    assert first.id == "r-1" and first.category == "returns" and first.source_id == "faq.csv"
    assert first.title == first.question == "How long do I have to return?"
    assert first.text == "How long do I have to return?\n30 days, unused with tags."
    assert (first.kind, first.lang) == ("faq", "en")
    assert second.id == "faq.csv#2" and second.answer == "Free over $50."


def test_csv_with_bom_and_chinese_headers(tmp_path):
    path = _write(tmp_path / "常见问题.csv", "\ufeff编号,分类,问题,答案\nzh-1,退货,多少天内可以退货？,签收后30天内。\n")
    (entry,) = parse_file(path, source_id="kb-zh").entries
    assert (entry.id, entry.category, entry.lang, entry.source_id) == ("zh-1", "退货", "zh", "kb-zh")


def test_gb18030_csv_falls_back_from_utf8(tmp_path):
    path = _write(tmp_path / "faq.csv", "问题,答案\n满多少包邮？,满299元包邮。\n", encoding="gb18030")
    (entry,) = parse_file(path).entries
    assert entry.answer == "满299元包邮。" and entry.id == "faq.csv#1"


def test_upload_bytes_are_parsed_without_touching_the_path(tmp_path):
    parsed = parse_file(tmp_path / "missing" / "upload.csv", data=b"Question,Answer\nHi?,Hello.\n")
    assert parsed.entries[0].question == "Hi?"


def test_xlsx_first_sheet_with_chinese_headers_and_numeric_ids(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append([None, None])  # blank rows above the header are allowed
    sheet.append(["ID", "类别", "问题", "答案"])
    sheet.append([12, "配送", "多久能到？", "3–5 个工作日。"])
    sheet.append([None, "shipping", "Do you ship to Canada?", "Yes, in 7-14 business days."])
    book.create_sheet("ignored").append(["question", "answer"])
    book.save(tmp_path / "faq.xlsx")
    parsed = parse_file(tmp_path / "faq.xlsx")
    assert [(e.id, e.lang) for e in parsed.entries] == [("12", "zh"), ("faq.xlsx#2", "en")]


def test_jsonl_and_json_faq(tmp_path):
    rows = [{"id": "a", "问题": "怎么取消订单？", "答案": "下单后1小时内可取消。"}, {"question": "Q?", "answer": 42}]
    jsonl = _write(tmp_path / "faq.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n")
    json_file = _write(tmp_path / "faq.json", json.dumps(rows, ensure_ascii=False))
    for path in (jsonl, json_file):
        entries = parse_file(path).entries
        assert [e.id for e in entries] == ["a", f"{path.name}#2"]
        assert entries[0].lang == "zh" and entries[1].answer == "42"


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("faq.csv", "question,reply\nQ?,A.\n", "header (line 1) has no answer column (found 'question', 'reply')"),
        ("faq.csv", "id,question,answer\n1,Q1?,A1.\n2,Q2?,\n", "line 3 has no answer"),
        ("faq.csv", "id,question,answer\nx,Q1?,A1.\nx,Q2?,A2.\n", "line 3 repeats id 'x' (first used on line 2)"),
        ("faq.csv", "question,answer\n", "no FAQ rows found"),
        (
            "faq.jsonl",
            '{"question": "Q1?", "answer": "A1."}\n{"question": "Q2?", "answer": \n',
            "line 2 is not valid JSON",
        ),
        ("faq.jsonl", '{"question": "Q1?", "answer": "A1."}\n["Q2?", "A2."]\n', "line 2 is not a JSON object"),
        ("faq.json", '{"question": "Q?", "answer": "A."}', "expected a JSON list of objects"),
        ("faq.json", '[{"question": "Q?", "answer": "A."},', "not valid JSON (line 1"),
        ("faq.json", '[{"question": "Q?"}]', "item 1 has no answer"),
    ],
)
def test_faq_errors_name_the_file_and_the_line(tmp_path, name, content, expected):
    assert expected in _error(_write(tmp_path / name, content))


def test_xlsx_missing_question_names_the_row(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["question", "answer"])
    book.active.append(["Q?", "A."])
    book.active.append([None, "orphan answer"])
    book.save(tmp_path / "faq.xlsx")
    assert "row 3 of sheet 'Sheet' has no question" in _error(tmp_path / "faq.xlsx")


# ---------------------------------------------------------------- documents


def test_markdown_headings_become_titles_and_tables_stay_whole(tmp_path):
    long_para = "Refunds are issued to the original payment method after we inspect the return. " * 20
    path = _write(
        tmp_path / "returns.md",
        f"---\nlang: en\n---\n# Returns policy\n\nReturn within **30 days**.\n\n## Refund times\n\n{long_para}\n\n"
        "| Method | Time |\n| --- | --- |\n| Card | 5–7 business days |\n| PayPal | 3–5 business days |\n\n"
        "## 退货运费\n\n质量问题由我们承担运费。\n",
    )
    parsed = parse_file(path)
    assert parsed.kind == "doc" and parsed.meta == {"chunks": len(parsed.entries)}
    titles = [e.title for e in parsed.entries]
    assert titles[0] == "Returns policy" and "lang: en" not in parsed.entries[0].text  # front matter dropped
    assert titles[-1] == "Returns policy > 退货运费" and parsed.entries[-1].lang == "zh"
    refund = [e for e in parsed.entries if e.title == "Returns policy > Refund times"]
    assert len(refund) >= 2 and all(len(e.text) - len(e.title) - 1 <= MAX_CHARS for e in refund)
    assert sum("| Card | 5–7 business days |\n| PayPal | 3–5 business days |" in e.text for e in refund) == 1


def test_html_drops_scripts_styles_nav_and_converts_tables(tmp_path):
    path = _write(
        tmp_path / "shipping.htm",
        "<html><head><title>Shipping | Northpeak</title><style>p{color:red}</style></head><body>"
        "<nav>Home | Shop</nav><script>var secret = 1;</script><!-- hidden note -->"
        "<main><h1>Shipping</h1><p>Free over <b>$50</b>.<br>Orders before 2 pm ship today.</p>"
        "<div>Loose text <i>here</i><h2>Options</h2><table><tr><th>Option</th><th>Days</th></tr>"
        "<tr><td>Standard</td><td>3–5</td></tr><tr><td>Express</td><td>1–2</td></tr></table></div>"
        "<h2>配送范围</h2><ul><li>中国大陆</li><li>港澳台</li></ul></main></body></html>",
    )
    entries = parse_file(path).entries
    text = "\n".join(e.text for e in entries)
    for hidden in ("Home | Shop", "secret", "color:red", "hidden note"):
        assert hidden not in text
    assert entries[0].title == "Shipping"
    assert "Free over $50.\nOrders before 2 pm ship today.\n\nLoose text here" in entries[0].text
    assert entries[1].title == "Shipping > Options"
    assert "| Option | Days |\n| --- | --- |\n| Standard | 3–5 |\n| Express | 1–2 |" in entries[1].text
    assert entries[2].title == "Shipping > 配送范围" and entries[2].text.endswith("- 中国大陆\n- 港澳台")


def test_html_without_headings_uses_its_title(tmp_path):
    path = _write(tmp_path / "page.html", "<html><head><title>Store hours</title></head><body>Open 10-8.</body></html>")
    assert [e.title for e in parse_file(path).entries] == ["Store hours"]


def test_txt_heading_heuristics_in_english_and_chinese(tmp_path):
    path = _write(
        tmp_path / "warranty.txt",
        "LIMITED WARRANTY\n\nWe stand behind our gear.\n\n1. Coverage\nTents: 2 years.\n\n1.1 Exclusions\n"
        "Normal wear.\n\nSteps:\n1. Photo\n2. Email us\n\n一、保修范围\n帐篷和背包保修两年。\n\n（一）不保修的情况\n"
        "正常磨损。\n\nCare guide\n==========\nDry before storing.\n",
    )
    titles = [e.title for e in parse_file(path).entries]
    assert titles == [
        "LIMITED WARRANTY",
        "LIMITED WARRANTY > 1. Coverage",
        "LIMITED WARRANTY > 1. Coverage > 1.1 Exclusions",  # "Steps:" and the numbered list stay text
        "LIMITED WARRANTY > 一、保修范围",
        "LIMITED WARRANTY > 一、保修范围 > （一）不保修的情况",
        "Care guide",
    ]


def test_txt_without_headings_is_titled_by_file_stem(tmp_path):
    path = _write(tmp_path / "notes.txt", "Just one paragraph.\nWith two lines.\n")
    (entry,) = parse_file(path).entries
    assert (entry.title, entry.text) == ("notes", "notes\nJust one paragraph.\nWith two lines.")


def _pdf(pages: list[str]) -> bytes:
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    buf = io.BytesIO()
    with PdfPages(buf) as pdf:
        for text in pages:
            fig = Figure(figsize=(8.5, 11))
            if text:
                fig.text(0.1, 0.8, text)
            pdf.savefig(fig)
    return buf.getvalue()


def test_pdf_text_per_page_with_headings(tmp_path):
    path = tmp_path / "care.pdf"
    path.write_bytes(
        _pdf(["1. Tents\nDry your tent before storing it.", "2. Boots\nWax leather boots every few months."])
    )
    parsed = parse_file(path)
    assert parsed.meta == {"pages": 2, "chunks": 2}
    assert [e.title for e in parsed.entries] == ["1. Tents (p. 1)", "2. Boots (p. 2)"]
    assert "Wax leather boots" in parsed.entries[1].text


def test_pdf_without_text_asks_for_ocr(tmp_path):
    assert "looks scanned" in _error(tmp_path / "scan.pdf", _pdf(["", ""]))


def test_docx_headings_tables_and_lists_in_document_order(tmp_path):
    import docx

    document = docx.Document()
    document.add_heading("Care guide", level=0)
    document.add_paragraph("Look after your gear and it lasts.")
    document.add_heading("Washing", level=1)
    document.add_paragraph("Use a technical wash.")
    table = document.add_table(rows=2, cols=2)
    for cell, text in zip(table.rows[0].cells + table.rows[1].cells, ["Item", "Temp", "Jacket", "30 °C"], strict=True):
        cell.text = text
    document.add_paragraph("No softener", style="List Bullet")
    document.add_paragraph("Tumble dry low", style="List Bullet")
    document.add_heading("帐篷保养", level=2)
    document.add_paragraph("帐篷不能机洗。")
    document.save(tmp_path / "care.docx")
    entries = parse_file(tmp_path / "care.docx").entries
    assert [e.title for e in entries] == ["Care guide", "Care guide > Washing", "Care guide > Washing > 帐篷保养"]
    assert entries[1].text == (
        "Care guide > Washing\nUse a technical wash.\n\n| Item | Temp |\n| --- | --- |\n| Jacket | 30 °C |\n\n"
        "- No softener\n- Tumble dry low"
    )
    assert entries[2].lang == "zh"


@pytest.mark.parametrize("suffix", [".pdf", ".docx", ".xlsx"])
def test_corrupt_binary_files_are_reported(tmp_path, suffix):
    assert "not a readable" in _error(tmp_path / f"broken{suffix}", b"PK\x03\x04 this is not really a file")


def test_unsupported_empty_and_missing_files(tmp_path):
    assert "unsupported file type '.exe'" in _error(tmp_path / "setup.exe", b"MZ")
    assert "unsupported file type '(no suffix)'" in _error(tmp_path / "README", b"text")
    assert "the file is empty" in _error(_write(tmp_path / "empty.md", " \n\n"))
    assert "cannot be read" in _error(tmp_path / "absent.csv")
    assert "no text found" in _error(_write(tmp_path / "only.md", "# Heading\n\n## Another\n"))
    assert "not UTF-8 or GB18030" in _error(tmp_path / "bad.txt", b"\xff\xfe\x00\xd8\x81")
    assert set(SUPPORTED_SUFFIXES) >= {".csv", ".xlsx", ".jsonl", ".json", ".md", ".html", ".txt", ".pdf", ".docx"}


# ---------------------------------------------------------------- the demo knowledge base


def _demo_files() -> list[Path]:
    return sorted(p for p in DEMO.iterdir() if p.suffix.lower() in SUPPORTED_SUFFIXES and p.name != "README.md")


def test_demo_knowledge_base_parses_and_policy_sets_point_at_it():
    files = _demo_files()
    assert {p.name for p in files} == {
        "faq_en.csv",
        "faq_zh.jsonl",
        "returns_policy.md",
        "shipping_policy.html",
        "售后服务政策.md",
        "warranty.txt",
    }
    parsed = {p.name: parse_file(p) for p in files}
    faq_ids = {e.id for p in parsed.values() if p.kind == "faq" for e in p.entries}
    docs = {name for name, p in parsed.items() if p.kind == "doc"}
    assert len(faq_ids) >= 75 and len(docs) == 4
    assert {e.lang for e in parsed["faq_zh.jsonl"].entries} == {"zh"}
    assert {e.lang for e in parsed["faq_en.csv"].entries} == {"en"}
    for name in docs:
        assert all(len(e.text) - len(e.title) - 1 <= MAX_CHARS for e in parsed[name].entries if "| --- |" not in e.text)

    for split, size in (("policy_val.jsonl", 60), ("policy_test.jsonl", 40)):
        rows = [json.loads(line) for line in (SHARED_DATA / split).read_text(encoding="utf-8").splitlines()]
        assert len(rows) == size
        for row in rows:
            assert row["action"] in ("answer", "clarify", "handoff") and row["lang"] in ("en", "zh")
            assert bool(row["expected"]) == (row["action"] == "answer"), row
            assert set(row["expected"]) <= faq_ids | docs, row
        by_lang = sum(r["lang"] == "zh" for r in rows)
        assert by_lang == size // 2
        assert sum(r["action"] == "answer" for r in rows) == size * 65 // 100


def test_faq_paraphrases_column_in_csv_and_json(tmp_path):
    csv_file = tmp_path / "faq.csv"
    csv_file.write_text(
        'question,answer,paraphrases\nHow do I reset my password?,Use the link.,"forgot password | can\'t log in"\n'
        "Do you ship abroad?,Yes.,\n",
        encoding="utf-8",
    )
    entries = parse_file(csv_file).entries
    assert entries[0].paraphrases == ["forgot password", "can't log in"] and entries[1].paraphrases == []
    json_file = tmp_path / "faq.json"
    json_file.write_text(json.dumps([{"问题": "怎么退货？", "答案": "30天内。", "相似问题": ["能退吗", "退货流程"]}]))
    assert parse_file(json_file).entries[0].paraphrases == ["能退吗", "退货流程"]
