import json

import datasets
import pytest

from core.data import DataError, load_records


def test_jsonl_skips_blank_lines_and_keeps_line_numbers(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "one"}\n\n  \n{"text": "二"}\r\n', encoding="utf-8")
    records = load_records(path)
    assert [(r.data, r.line, r.source) for r in records] == [
        ({"text": "one"}, 1, str(path)),
        ({"text": "二"}, 4, str(path)),
    ]


def test_malformed_jsonl_line_is_named(tmp_path):
    lines = [json.dumps({"text": f"row {i}"}) for i in range(6)] + ['{"text": "seven" "oops": 1}']
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"data\.jsonl line 7: invalid JSON \(Expecting ',' delimiter at column 18\)"):
        load_records(path)


def test_jsonl_line_that_is_not_an_object(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "a"}\n["b"]\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"data\.jsonl line 2: expected a JSON object, got list"):
        load_records(path)


def test_json_list_records_carry_the_line_they_start_on(tmp_path):
    path = tmp_path / "data.json"
    path.write_text(json.dumps([{"text": "a"}, {"text": "b"}, {"text": "c"}], indent=2), encoding="utf-8")
    assert [r.line for r in load_records(path)] == [2, 5, 8]


def test_json_data_key_after_other_keys(tmp_path):
    path = tmp_path / "data.json"
    doc = {"version": {"major": 1, "note": "data: [ignored]"}, "data": [{"text": "a"}, {"text": "b"}]}
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    records = load_records(path)
    assert [r.data["text"] for r in records] == ["a", "b"]
    assert [r.line for r in records] == [7, 10]


def test_invalid_json_names_the_line(tmp_path):
    path = tmp_path / "data.json"
    path.write_text('[\n  {"text": "a"},\n  {"text": }\n]\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"data\.json line 3: invalid JSON \(Expecting value"):
        load_records(path)


def test_json_of_the_wrong_shape(tmp_path):
    path = tmp_path / "data.json"
    path.write_text('{"rows": []}', encoding="utf-8")
    with pytest.raises(DataError, match="list of objects"):
        load_records(path)


def test_csv_lines_count_the_header_and_multiline_fields(tmp_path):
    path = tmp_path / "data.csv"
    # utf-8-sig: the BOM that Excel writes must not end up in the first column name
    path.write_text('text,category\nhello,greet\n"two\nlines",other\n\n你好,greet\n', encoding="utf-8-sig")
    records = load_records(path)
    assert [r.data for r in records] == [
        {"text": "hello", "category": "greet"},
        {"text": "two\nlines", "category": "other"},
        {"text": "你好", "category": "greet"},
    ]
    assert [r.line for r in records] == [2, 3, 6]


def test_csv_row_with_wrong_field_count(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text,label\na,x\nb,y,extra\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"data\.csv line 3: 3 fields, but the header has 2"):
        load_records(path)


def test_saved_dataset_folder(tmp_path):
    folder = tmp_path / "ds"
    datasets.Dataset.from_list([{"text": "a", "label": "x"}, {"text": "b", "label": "y"}]).save_to_disk(folder)
    records = load_records(folder)
    assert [(r.data, r.line, r.source) for r in records] == [
        ({"text": "a", "label": "x"}, 1, str(folder)),
        ({"text": "b", "label": "y"}, 2, str(folder)),
    ]


def test_saved_dataset_class_labels_become_names(tmp_path):
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])})
    rows = {"text": ["bad", "good", "unlabelled"], "label": [0, 1, -1]}
    datasets.Dataset.from_dict(rows, features=features).save_to_disk(tmp_path / "ds")
    assert [r.data["label"] for r in load_records(tmp_path / "ds")] == ["neg", "pos", None]


def test_saved_dataset_dict_asks_for_a_split(tmp_path):
    folder = tmp_path / "dd"
    split = datasets.Dataset.from_list([{"text": "a"}])
    datasets.DatasetDict({"train": split, "test": split}).save_to_disk(folder)
    with pytest.raises(DataError, match="splits train, test"):
        load_records(folder)
    assert load_records(folder / "train")[0].data == {"text": "a"}


def test_folder_of_files_is_read_in_name_order(tmp_path):
    (tmp_path / "b.jsonl").write_text('{"text": "from b"}\n', encoding="utf-8")
    (tmp_path / "a.csv").write_text("text\nfrom a\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("ignored", encoding="utf-8")
    assert [r.data["text"] for r in load_records(tmp_path)] == ["from a", "from b"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("data.txt", "hello", "unsupported file type '.txt'"),
        ("data.jsonl", "\n\n", "holds no records"),
        ("data.csv", "text,label\n", "holds no records"),
        ("data.json", "[]", "holds no records"),
    ],
)
def test_unusable_files(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        load_records(path)


def test_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        load_records(tmp_path / "absent.jsonl")
    with pytest.raises(DataError, match="no .jsonl, .json or .csv files"):
        load_records(tmp_path)


def test_non_utf8_file_names_the_line(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"data\.jsonl line 2: not UTF-8"):
        load_records(path)
