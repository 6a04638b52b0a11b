"""TXT / SRT / VTT / JSON writers on a known transcript."""

from __future__ import annotations

import json

import pytest

from core.errors import InvalidRequestError
from core.speech.asr import Segment, Transcript, Word
from core.speech.subtitles import render

T = Transcript(
    text="Hello there. General Kenobi!",
    language="en",
    language_probability=1.0,
    duration=3725.5,
    segments=[
        Segment(0, 0.0, 1.5, "Hello there.", [Word(0.0, 0.6, " Hello", 0.9), Word(0.7, 1.5, " there.", 0.8)]),
        Segment(1, 3723.25, 3725.5, "General Kenobi!"),
    ],
)


def test_srt_and_vtt():
    assert render(T, "srt") == (
        "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n2\n01:02:03,250 --> 01:02:05,500\nGeneral Kenobi!\n"
    )
    assert render(T, "vtt") == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.\n\n01:02:03.250 --> 01:02:05.500\nGeneral Kenobi!\n"
    )


def test_txt_and_json():
    assert render(T, "txt") == "Hello there. General Kenobi!\n"
    data = json.loads(render(T, "json"))
    assert data["language"] == "en" and data["segments"][1]["start"] == 3723.25
    assert data["segments"][0]["words"][1] == {"start": 0.7, "end": 1.5, "word": " there.", "probability": 0.8}
    with pytest.raises(InvalidRequestError, match="'doc' is not supported"):
        render(T, "doc")
