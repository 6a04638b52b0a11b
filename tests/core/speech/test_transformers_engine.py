"""The transformers engine on the converted embedded models, on the same clips as faster-whisper."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import InvalidRequestError
from core.speech.asr import TranscribeOptions, load_asr_engine
from core.speech.audio import SAMPLE_RATE
from core.speech.text import edit_distance, error_tokens
from tests.core.speech.conftest import AISHELL_TEXT, JFK_TEXT

pytestmark = pytest.mark.slow
GREEDY = TranscribeOptions(beam_size=1)


def error_rate(ref: str, hyp: str, language: str) -> float:
    r, h = error_tokens(ref, hyp, language)
    return edit_distance(r, h) / len(r)


@pytest.fixture(scope="module")
def hf_tiny(settings):
    return load_asr_engine("whisper-tiny.en", settings, engine="transformers")


def test_english_segments_and_words(hf_tiny, tiny_en, jfk):
    t = hf_tiny.transcribe(jfk, TranscribeOptions(beam_size=1, word_timestamps=True))
    assert hf_tiny.name == "transformers" and t.language == "en"
    assert error_rate(JFK_TEXT, t.text, "en") < 0.1
    assert error_rate(tiny_en.transcribe(jfk, GREEDY).text, t.text, "en") < 0.1  # agrees with faster-whisper
    assert len(t.segments) >= 2 and t.segments[0].start == 0.0 and t.segments[-1].end <= 11.5
    words = [w for s in t.segments for w in s.words]
    assert len(words) >= 20 and all(0 <= w.start <= w.end <= 11.5 for w in words)


def test_silence_and_unsupported_options(hf_tiny):
    noise = np.random.default_rng(0).normal(0, 0.01, 5 * SAMPLE_RATE).astype(np.float32)
    assert hf_tiny.transcribe(noise, GREEDY).text == ""
    with pytest.raises(InvalidRequestError, match="hotwords need the faster-whisper engine"):
        hf_tiny.transcribe(noise, TranscribeOptions(hotwords="Kennedy"))


def test_multilingual_chinese(settings, aishell):
    engine = load_asr_engine("whisper-base", settings, engine="transformers")
    t = engine.transcribe(aishell, GREEDY)  # language detected
    assert t.language == "zh" and t.language_probability > 0.5 and t.text.endswith("。")
    assert error_rate(AISHELL_TEXT, t.text, "zh") <= 0.25
