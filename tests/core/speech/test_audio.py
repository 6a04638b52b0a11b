"""Audio decoding (any ffmpeg format -> 16 kHz mono), bad input refused with the file's name, WAV/MP3 output."""

from __future__ import annotations

import subprocess
import wave

import numpy as np
import pytest

from core.speech.audio import SAMPLE_RATE, AudioError, encode, load_audio, wav_bytes, write_audio


def tone(seconds: float = 1.0, rate: int = 44_100, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture(scope="module")
def stereo_flac(tmp_path_factory):
    """A 44.1 kHz stereo FLAC: a format and a rate the recogniser does not take as is."""
    folder = tmp_path_factory.mktemp("audio")
    src = folder / "mono.wav"
    src.write_bytes(wav_bytes(tone(), 44_100))
    out = folder / "stereo.flac"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), "-ac", "2", str(out)], check=True)
    return out


def test_any_format_is_resampled_to_16k_mono(stereo_flac):
    samples = load_audio(stereo_flac)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(samples.size - SAMPLE_RATE) < 200  # 1 s at 16 kHz
    assert 0.25 < np.abs(samples).max() < 0.35
    assert np.array_equal(load_audio(stereo_flac.read_bytes(), name="upload.flac"), samples)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "clip.wav: the file is empty"),
        (b"RIFF\x00\x00garbage that is not audio" * 10, "clip.wav: not a readable audio file"),
        (wav_bytes(np.zeros(16_000, np.float32), 16_000), "clip.wav: the audio is silent"),
        (b"just text, not audio\n", "clip.wav: not a readable audio file"),
    ],
)
def test_bad_audio_is_refused_naming_the_file(tmp_path, content, message):
    path = tmp_path / "clip.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=message):
        load_audio(path)
    with pytest.raises(AudioError, match=message):
        load_audio(content, name="clip.wav")


def test_too_long_and_missing(tmp_path):
    path = tmp_path / "long.wav"
    path.write_bytes(wav_bytes(tone(3.0, 16_000), 16_000))
    with pytest.raises(AudioError, match=r"long.wav: 0.1 min of audio is longer than the limit"):
        load_audio(path, max_duration_s=2.0)
    assert load_audio(path, max_duration_s=5.0).size == 48_000
    with pytest.raises(AudioError, match="nope.wav: no such file"):
        load_audio(tmp_path / "nope.wav")


def test_wav_and_mp3_output(tmp_path):
    samples = tone(1.0, 22_050)
    out = write_audio(tmp_path / "out.wav", samples, 22_050)
    with wave.open(str(out)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()) == (22_050, 1, 2, 22_050)
    mp3 = encode(samples, 22_050, "mp3")
    assert mp3[:3] == b"ID3" or mp3[0] == 0xFF
    decoded = load_audio(mp3, name="out.mp3")
    assert abs(decoded.size - SAMPLE_RATE) < 2000
    with pytest.raises(Exception, match="'ogg' is not supported"):
        encode(samples, 22_050, "ogg")
