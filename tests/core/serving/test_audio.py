"""OpenAI-compatible audio routes, driven by the official ``openai`` client over real HTTP."""

from __future__ import annotations

import io
import wave

import httpx
import openai
import pytest

from core.config import load_settings
from core.serving.app import create_app
from core.serving.pool import ModelPool
from tests.conftest import ServerThread
from tests.core.speech.conftest import audioeval_clips

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def audio_server(settings):
    """A server with no text model loaded: the audio routes load the speech engines they are asked for."""
    with ServerThread(create_app(settings, ModelPool(settings))) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(audio_server):
    return openai.OpenAI(base_url=f"{audio_server.url}/v1", api_key="unused")


@pytest.fixture(scope="module")
def fox():
    return audioeval_clips("en") / "quick_brown_fox.wav"


def test_transcriptions_in_every_format(client, fox):
    with fox.open("rb") as f:
        r = client.audio.transcriptions.create(model="whisper-1", file=f)
    assert r.text == "The quick brown fox jumps over the lazy dog."
    with fox.open("rb") as f:
        text = client.audio.transcriptions.create(model="whisper-tiny.en", file=f, response_format="text")
    assert text.strip() == "The quick brown fox jumps over the lazy dog."
    with fox.open("rb") as f:
        srt = client.audio.transcriptions.create(model="whisper-1", file=f, response_format="srt")
    assert srt.startswith("1\n00:00:00,000 --> ")
    with fox.open("rb") as f:
        vtt = client.audio.transcriptions.create(model="whisper-1", file=f, response_format="vtt")
    assert vtt.startswith("WEBVTT")
    with fox.open("rb") as f:
        verbose = client.audio.transcriptions.create(
            model="whisper-1", file=f, response_format="verbose_json", timestamp_granularities=["word", "segment"]
        )
    assert verbose.language == "en" and verbose.duration > 1
    assert verbose.segments[0].end > verbose.segments[0].start
    assert [w.word for w in verbose.words][:3] == ["The", "quick", "brown"]


def test_chinese_with_the_multilingual_model(client):
    with (audioeval_clips("zh") / "nihao_shijie.wav").open("rb") as f:
        r = client.audio.transcriptions.create(model="whisper-base", file=f, language="zh")
    assert r.text.startswith("你好") and r.text.endswith("。")  # base hears 你好事件: the model, not the route


def test_bad_upload_is_a_400_naming_the_file(client):
    with pytest.raises(openai.BadRequestError, match="notes.wav: not a readable audio file"):
        client.audio.transcriptions.create(model="whisper-1", file=("notes.wav", b"these are not audio bytes" * 10))
    with pytest.raises(openai.BadRequestError, match="empty.mp3: the file is empty"):
        client.audio.transcriptions.create(model="whisper-1", file=("empty.mp3", b""))
    with pytest.raises(openai.NotFoundError, match="unknown model 'whisper-huge'"):
        client.audio.transcriptions.create(model="whisper-huge", file=("notes.wav", b"x"))


def test_speech_wav_and_mp3_round_trip(client):
    r = client.audio.speech.create(model="tts-1", voice="alloy", input="Hello from the server.", response_format="wav")
    with wave.open(io.BytesIO(r.content)) as w:
        assert w.getframerate() == 22_050 and w.getnframes() > 22_050
    heard = client.audio.transcriptions.create(model="whisper-1", file=("speech.wav", r.content))
    assert heard.text.lower().rstrip(".!") == "hello from the server"
    mp3 = client.audio.speech.create(
        model="espeak", voice="cmn-latn-pinyin", input="你好", response_format="mp3", speed=1.2
    )
    assert mp3.content[:3] == b"ID3" or mp3.content[0] == 0xFF
    with pytest.raises(openai.BadRequestError, match="unknown speech model"):
        client.audio.speech.create(model="tts-9", voice="alloy", input="Hi")


def test_api_key_guards_the_audio_routes(fox):
    settings = load_settings(values={"server.api_key": "secret"})
    with ServerThread(create_app(settings, ModelPool(settings))) as srv:
        r = httpx.post(f"{srv.url}/v1/audio/speech", json={"input": "Hi"})
        assert r.status_code == 401
        ok = openai.OpenAI(base_url=f"{srv.url}/v1", api_key="secret")
        assert (
            ok.audio.speech.create(model="tts-1", voice="alloy", input="Hi.", response_format="wav").content[:4]
            == b"RIFF"
        )
