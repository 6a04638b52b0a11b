"""Speech recognition on the embedded Whisper models (faster-whisper, int8 on CPU), on real clips."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import InvalidRequestError
from core.speech.asr import TranscribeOptions
from core.speech.audio import SAMPLE_RATE, load_audio
from core.speech.text import edit_distance, error_tokens, has_cjk
from tests.core.speech.conftest import AISHELL_TEXT, JFK_TEXT, audioeval_clips

pytestmark = pytest.mark.slow


def error_rate(ref: str, hyp: str, language: str) -> float:
    r, h = error_tokens(ref, hyp, language)
    return edit_distance(r, h) / len(r)


def test_segments_and_word_timestamps(tiny_en, jfk):
    t = tiny_en.transcribe(jfk, TranscribeOptions(word_timestamps=True))
    assert error_rate(JFK_TEXT, t.text, "en") < 0.1
    assert t.language == "en" and t.duration == pytest.approx(11.0, abs=0.1) and 0 < t.rtf < 2
    starts = [s.start for s in t.segments]
    assert starts == sorted(starts) and t.segments[-1].end <= t.duration + 0.5
    words = [w for s in t.segments for w in s.words]
    assert len(words) >= 20 and all(w.start <= w.end for w in words)
    ask = [w for w in words if w.word.strip(" ,").lower() == "ask"]
    assert len(ask) == 2 and 2.0 < ask[0].start < 4.0 < 7.5 < ask[1].start < 9.0  # "ask not" ~3 s, "ask what" ~8 s


def test_vad_gives_no_text_for_noise_without_speech(tiny_en):
    noise = np.random.default_rng(0).normal(0, 0.01, 8 * SAMPLE_RATE).astype(np.float32)
    assert tiny_en.transcribe(noise).text == ""


def test_long_audio_is_decoded_in_windows(tiny_en, jfk):
    clip = load_audio(jfk)
    gap = np.random.default_rng(1).normal(0, 0.003, 10 * SAMPLE_RATE).astype(np.float32)
    long = np.concatenate([clip, gap, clip, gap, clip])  # 53 s: two 30 s windows and more
    t = tiny_en.transcribe(long)
    assert t.duration == pytest.approx(53.0, abs=0.2)
    assert t.text.lower().count("your country") == 6
    assert t.segments[-1].start > 40


def test_english_only_model_refuses_other_languages(tiny_en, jfk):
    with pytest.raises(InvalidRequestError, match="English-only"):
        tiny_en.transcribe(jfk, TranscribeOptions(task="translate"))
    with pytest.raises(InvalidRequestError, match="English-only"):
        tiny_en.transcribe(jfk, TranscribeOptions(language="zh"))


def test_language_detection(whisper_base, jfk, aishell):
    assert whisper_base.detect_language(load_audio(jfk))[0] == "en"
    language, probability = whisper_base.detect_language(load_audio(aishell))
    assert language == "zh" and probability > 0.5


def test_chinese_in_simplified_characters_with_punctuation(whisper_base, aishell):
    t = whisper_base.transcribe(aishell)
    assert t.language == "zh"
    assert error_rate(AISHELL_TEXT, t.text, "zh") <= 0.25
    assert t.text.endswith("。")
    assert not any(ch in t.text for ch in "現幾滯況")  # the Traditional forms Whisper base tends to write


def test_translate_to_english(whisper_base, aishell):
    """Whisper base's translation of this clip scores below the fallback's threshold: with sampling allowed it was
    sometimes the Chinese transcript (seen in CI), so the same audio must give the same English text."""
    texts = {whisper_base.transcribe(aishell, TranscribeOptions(task="translate")).text for _ in range(3)}
    assert len(texts) == 1
    text = texts.pop()
    assert text and not has_cjk(text)
    assert sum(c.isascii() and c.isalpha() for c in text) > 10


def test_initial_prompt_and_hotwords_steer_the_decoder(tiny_en):
    clips = audioeval_clips("en")
    plain = tiny_en.transcribe(clips / "counting.wav").text
    assert plain.startswith("One, two, three")
    prompted = tiny_en.transcribe(clips / "counting.wav", TranscribeOptions(initial_prompt="one two three four")).text
    # the prompt's style: no capitals, no commas ("one two three four five six seven eight nine ten" on AVX2 and
    # AVX-512; on another AVX2 EPYC it dropped the prompt's own words: "five six seven eight nine ten")
    assert prompted.endswith("seven eight nine ten") and prompted.islower() and "," not in prompted, prompted
    assert tiny_en.transcribe(clips / "hello_world.wav").text == "Hello world."
    assert tiny_en.transcribe(clips / "hello_world.wav", TranscribeOptions(hotwords="Hallo Welt")).text == "Hallo Welt"
