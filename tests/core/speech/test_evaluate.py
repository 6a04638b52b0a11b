"""Reading evaluation data: transcript tables (with or without a header, audio in a sub-folder) and folders."""

from __future__ import annotations

import pytest

from core.errors import InvalidRequestError
from core.speech.evaluate import clips_language, load_clips
from tests.core.speech.conftest import audioeval_clips


def test_tables_with_and_without_header(tmp_path):
    (tmp_path / "wavs").mkdir()
    (tmp_path / "wavs" / "a.wav").write_bytes(b"x")
    (tmp_path / "b.flac").write_bytes(b"x")
    (tmp_path / "transcripts.psv").write_text('a.wav|He said "hi", twice.\nb.flac|Bye.\n', encoding="utf-8")
    clips = load_clips(tmp_path)  # the folder's transcript table
    assert [(c.audio, c.text) for c in clips] == [
        (tmp_path / "wavs" / "a.wav", 'He said "hi", twice.'),
        (tmp_path / "b.flac", "Bye."),
    ]
    table = tmp_path / "zh.tsv"
    table.write_text("utt_id\twav\ttext\nu1\tb.flac\t甚至出现交易\n", encoding="utf-8")
    clips = load_clips(table)
    assert [(c.audio.name, c.text) for c in clips] == [("b.flac", "甚至出现交易")]
    assert clips_language(clips) == "zh" and clips_language(load_clips(tmp_path / "transcripts.psv")) == "en"


def test_folder_of_clips_with_text_beside(tmp_path):
    clips = load_clips(audioeval_clips("en"))
    assert sorted(c.audio.name for c in clips) == ["counting.wav", "hello_world.wav", "quick_brown_fox.wav"]
    assert next(c.text for c in clips if c.audio.name == "hello_world.wav") == "Hello world."


def test_bad_data_names_the_file_and_line(tmp_path):
    table = tmp_path / "t.tsv"
    table.write_text("a.wav\tfine\nonly-one-column\n", encoding="utf-8")
    with pytest.raises(InvalidRequestError, match=r"t.tsv:2: expected an audio file and its transcript"):
        load_clips(table)
    with pytest.raises(InvalidRequestError, match="no such file or folder"):
        load_clips(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidRequestError, match="no transcript table"):
        load_clips(tmp_path / "empty")
