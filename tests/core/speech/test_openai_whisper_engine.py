"""The openai-whisper engine on the converted embedded models, on the same clips as faster-whisper."""

from __future__ import annotations

import numpy as np
import pytest

from core.config import load_settings
from core.errors import InvalidRequestError
from core.speech.asr import TranscribeOptions, load_asr_engine
from core.speech.audio import SAMPLE_RATE
from core.speech.evaluate import evaluate, load_clips
from core.speech.text import edit_distance, error_tokens
from tests.core.speech.conftest import AISHELL_TEXT, JFK_TEXT, audioeval_clips

pytestmark = pytest.mark.slow
GREEDY = TranscribeOptions(beam_size=1)


def error_rate(ref: str, hyp: str, language: str) -> float:
    r, h = error_tokens(ref, hyp, language)
    return edit_distance(r, h) / len(r)


@pytest.fixture(scope="module")
def openai_tiny():
    """Chosen the way users choose it: ``apps.speech.asr_engine=openai-whisper``."""
    return load_asr_engine("whisper-tiny.en", load_settings(values={"apps.speech.asr_engine": "openai-whisper"}))


def test_english_agrees_with_faster_whisper(openai_tiny, tiny_en, jfk):
    t = openai_tiny.transcribe(jfk, TranscribeOptions(beam_size=1, word_timestamps=True))
    assert openai_tiny.name == "openai-whisper" and t.language == "en"
    assert error_rate(JFK_TEXT, t.text, "en") < 0.1
    assert error_rate(tiny_en.transcribe(jfk, GREEDY).text, t.text, "en") == 0  # same words as faster-whisper
    assert len(t.segments) >= 1 and t.segments[0].start == 0.0 and t.segments[-1].end <= 11.5
    words = [w for s in t.segments for w in s.words]
    assert len(words) >= 20 and all(0 <= w.start <= w.end <= 11.5 for w in words)
    ask = [w for w in words if w.word.strip(" ,").lower() == "ask"]
    assert len(ask) == 2 and 2.0 < ask[0].start < 4.0 < 7.5 < ask[1].start < 9.0  # alignment heads at work


def test_audioeval_english_clips(openai_tiny, tiny_en):
    clips = load_clips(audioeval_clips("en"))
    ours = evaluate(openai_tiny, clips, "en", TranscribeOptions(language="en"))
    theirs = evaluate(tiny_en, clips, "en", TranscribeOptions(language="en"))
    assert ours.clips == 3 and ours.failed == 0 and ours.error_rate == theirs.error_rate == 0.0


def test_silence_and_unsupported_options(openai_tiny):
    noise = np.random.default_rng(0).normal(0, 0.01, 5 * SAMPLE_RATE).astype(np.float32)
    assert openai_tiny.transcribe(noise, GREEDY).text == ""
    with pytest.raises(InvalidRequestError, match="hotwords need the faster-whisper engine"):
        openai_tiny.transcribe(noise, TranscribeOptions(hotwords="Kennedy"))


def test_multilingual_chinese(settings, aishell):
    engine = load_asr_engine("whisper-base", settings, engine="openai-whisper")
    t = engine.transcribe(aishell, GREEDY)  # language detected
    assert t.language == "zh" and t.language_probability > 0.5 and t.text.endswith("。")
    assert error_rate(AISHELL_TEXT, t.text, "zh") <= 0.25
