"""Speech synthesis: SSML subset and sentence splitting (no model), Piper and espeak-ng on real text, and a
TTS -> ASR round trip."""

from __future__ import annotations

import pytest

from core.errors import InvalidRequestError
from core.speech.text import edit_distance, error_tokens
from core.speech.tts import SpeechOptions, load_tts_engine, parse_input, split_sentences
from core.speech.tts.base import Pause, Say


def test_sentences_in_english_and_chinese():
    assert split_sentences("Hello there. How are you? Fine!") == ["Hello there.", "How are you?", "Fine!"]
    assert split_sentences("你好。今天天气很好！我们走吧") == ["你好。", "今天天气很好！", "我们走吧"]
    assert split_sentences("It costs 3.50 dollars.") == ["It costs 3.50 dollars."]


def test_ssml_subset():
    ssml = (
        '<speak>Hello. <break time="750ms"/><prosody rate="slow">Slow one. '
        '<prosody rate="200%">Faster.</prosody></prosody> Normal.<break time="1.5s"/></speak>'
    )
    assert parse_input(ssml) == [
        Say("Hello."),
        Pause(0.75),
        Say("Slow one.", 0.8),
        Say("Faster.", 1.6),
        Say("Normal."),
        Pause(1.5),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the text is empty"),
        ("<speak>Hi <break time='soon'/></speak>", "SSML break time 'soon'"),
        ("<speak>Hi <emphasis>there</emphasis></speak>", "SSML element <emphasis> is not supported"),
        ("<speak>Hi", "SSML is not well-formed"),
        ("<speak><prosody rate='quick'>Hi</prosody></speak>", "SSML prosody rate 'quick'"),
    ],
)
def test_bad_input_is_refused(text, message):
    with pytest.raises(InvalidRequestError, match=message):
        parse_input(text)


@pytest.mark.slow
def test_piper_speed_pauses_and_streaming(piper):
    rate = piper.sample_rate
    assert rate == 22_050
    chunks = list(piper.stream("The first sentence. The second one. And a third."))
    assert len(chunks) == 3 and all(c.size > 0.4 * rate for c in chunks)
    sizes = [
        piper.synthesize("The quick brown fox jumps over the lazy dog.", SpeechOptions(speed=x)).size
        for x in (0.5, 1.0, 2.0)
    ]
    assert sizes[0] > 1.5 * sizes[1] > 2.25 * sizes[2]  # Piper pads each sentence, so not exactly 2x
    pieces = list(piper.stream('<speak>Wait for it.<break time="1s"/>Now. Go.</speak>', SpeechOptions()))
    assert len(pieces) == 4 and pieces[1].size == rate and not pieces[1].any()  # the break: 1 s of silence
    assert not pieces[2][-int(0.25 * rate) :].any() and pieces[3][-100:].any()  # sentence pause, none at the end
    slow = piper.synthesize('<speak><prosody rate="50%">Wait for it. Now.</prosody></speak>').size
    assert slow > 1.4 * piper.synthesize("Wait for it. Now.").size


@pytest.mark.slow
def test_piper_to_whisper_round_trip(piper, tiny_en):
    audio = piper.synthesize("The quick brown fox jumps over the lazy dog. It was a sunny day.")
    from core.speech.audio import load_audio, wav_bytes

    heard = tiny_en.transcribe(load_audio(wav_bytes(audio, piper.sample_rate), name="tts.wav")).text
    said, got = error_tokens("The quick brown fox jumps over the lazy dog. It was a sunny day.", heard, "en")
    assert edit_distance(said, got) <= 1  # Piper samples its noise, so one word in 14 may come out differently


@pytest.mark.slow
def test_piper_refuses_chinese_and_espeak_speaks_it(piper, settings, whisper_base):
    with pytest.raises(InvalidRequestError, match="use the espeak engine for Chinese"):
        piper.synthesize("你好世界")
    espeak = load_tts_engine("espeak", settings)
    audio = espeak.synthesize("我们明天去北京。")
    from core.speech.asr import TranscribeOptions
    from core.speech.audio import load_audio, wav_bytes

    heard = whisper_base.transcribe(
        load_audio(wav_bytes(audio, espeak.sample_rate), name="zh.wav"), TranscribeOptions(language="zh")
    )
    said, got = error_tokens("我们明天去北京。", heard.text, "zh")
    assert edit_distance(said, got) <= 1
    with pytest.raises(InvalidRequestError, match="espeak-ng voice 'xx-nope' failed"):
        espeak.synthesize("Hello", SpeechOptions(voice="xx-nope"))
