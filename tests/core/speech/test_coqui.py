"""Coqui TTS through its own environment: the real server (an untrained VITS initialised from Coqui's own config,
since no pretrained Coqui weights are reachable offline) started from ``.venv-coqui``, and the ``coqui`` engine
talking to it over HTTP. The audio is noise shaped like speech; what is checked is the wiring: sentences, pauses,
speed, voices and errors."""

from __future__ import annotations

import pytest

from core.errors import InvalidRequestError, ModelNotAvailableError
from core.speech.audio import load_audio, wav_bytes
from core.speech.tts import SpeechOptions, load_tts_engine
from tests.conftest import free_port, settings_in
from tests.core.speech.conftest import coqui_server


@pytest.fixture(scope="module")
def coqui_url():
    with coqui_server() as url:
        yield url


def test_no_server_is_a_clear_error_naming_how_to_start_it(tmp_path):
    settings = settings_in(tmp_path, **{"apps.speech.coqui_url": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(ModelNotAvailableError, match=r"not running .* start it with `make coqui-serve`"):
        load_tts_engine("coqui", settings)


@pytest.mark.slow
def test_synthesis_through_the_coqui_server(coqui_url, tmp_path):
    coqui = load_tts_engine("coqui", settings_in(tmp_path, **{"apps.speech.coqui_url": coqui_url}))
    assert (coqui.name, coqui.sample_rate, coqui.voices()) == ("coqui", 22_050, ["default"])
    chunks = list(coqui.stream("The first sentence. And the second one."))
    assert len(chunks) == 2 and all(c.size > 0.2 * coqui.sample_rate and c.any() for c in chunks)
    wav = load_audio(wav_bytes(coqui.synthesize("Hello from Coqui."), coqui.sample_rate), name="coqui.wav")
    assert wav.size > 0.2 * 16_000  # a valid, non-silent WAV after the round trip through ffmpeg
    slow, fast = (coqui.synthesize("Speed changes the length.", SpeechOptions(speed=s)).size for s in (0.5, 2.0))
    assert slow > 2 * fast  # speed -> VITS length scale on the server
    pieces = list(coqui.stream('<speak>Wait.<break time="1s"/><prosody rate="x-fast">Now.</prosody></speak>'))
    assert len(pieces) == 3 and pieces[1].size == coqui.sample_rate and not pieces[1].any()
    with pytest.raises(InvalidRequestError, match="unknown voice 'nobody'"):
        coqui.synthesize("Hello.", SpeechOptions(voice="nobody"))


@pytest.mark.slow
def test_openai_client_speech_route_with_model_coqui(coqui_url, tmp_path):
    """``llmeco serve``'s ``POST /v1/audio/speech`` (core/serving/audio.py) picks the engine by model name."""
    import io
    import wave

    import openai

    from core.serving.app import create_app
    from core.serving.pool import ModelPool
    from tests.conftest import ServerThread

    settings = settings_in(tmp_path, **{"apps.speech.coqui_url": coqui_url})
    with ServerThread(create_app(settings, ModelPool(settings))) as srv:
        client = openai.OpenAI(base_url=f"{srv.url}/v1", api_key="unused")
        r = client.audio.speech.create(model="coqui", voice="alloy", input="Hello. Bye.", response_format="wav")
    with wave.open(io.BytesIO(r.content)) as w:
        assert w.getframerate() == 22_050 and w.getnframes() > 0.3 * 22_050
