"""``llmeco speech ...`` as real subprocesses, the way users and scripts call it (the issue's contracts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave

import numpy as np
import pytest

from core.speech.audio import wav_bytes
from tests.core.speech.conftest import audioeval_clips

pytestmark = pytest.mark.slow


def speech(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "apps.cli", "speech", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Two good clips (16 kHz WAV, and one as 44.1 kHz stereo MP3) and a corrupt one."""
    folder = tmp_path_factory.mktemp("clips")
    en = audioeval_clips("en")
    hello = folder / "hello.wav"
    hello.write_bytes((en / "hello_world.wav").read_bytes())
    fox = folder / "fox.mp3"
    cmd = ["ffmpeg", "-v", "error", "-i", str(en / "quick_brown_fox.wav"), "-ar", "44100", "-ac", "2", str(fox)]
    subprocess.run(cmd, check=True)
    broken = folder / "broken.wav"
    broken.write_bytes(b"RIFF not really a wave file" * 20)
    return hello, fox, broken


def test_transcribe_batch_writes_one_file_per_input_and_reports_bad_files(clips, tmp_path):
    hello, fox, broken = clips
    out = tmp_path / "out"
    r = speech("transcribe", str(hello), str(broken), str(fox), "--format", "srt", "--output-dir", str(out))
    assert r.returncode == 1  # one file failed; the others were written
    assert "broken.wav: not a readable audio file" in r.stderr and "Traceback" not in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["fox.srt", "hello.srt"]
    assert (out / "fox.srt").read_text().startswith("1\n00:00:00,000 --> 00:00:0")
    assert "The quick brown fox jumps over the lazy dog." in (out / "fox.srt").read_text()


def test_transcribe_to_stdout_in_each_format(clips):
    hello = str(clips[0])
    r = speech("transcribe", hello, "--model", "whisper-tiny.en", "--language", "en", "--task", "transcribe")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Hello world.\n"
    r = speech("transcribe", hello, "--format", "vtt")
    assert r.stdout.startswith("WEBVTT\n\n00:00:00.000 --> ") and "Hello world." in r.stdout
    r = speech("transcribe", hello, "--format", "json", "--word-timestamps")
    data = json.loads(r.stdout)
    assert data["text"] == "Hello world." and [w["word"].strip() for w in data["segments"][0]["words"]] == [
        "Hello",
        "world.",
    ]
    r = speech("transcribe", hello, "--format", "doc")
    assert r.returncode == 2 and "--format 'doc'" in r.stderr


def test_say_wav_and_mp3(tmp_path):
    out = tmp_path / "out.wav"
    r = speech(
        "say", "Hello there. This is a test.", "-o", str(out), "--speed", "1.2", "--voice", "piper-en-us-joe-medium"
    )
    assert r.returncode == 0, r.stderr
    with wave.open(str(out)) as w:
        assert w.getframerate() == 22_050 and w.getnframes() > 22_050
    mp3 = tmp_path / "zh.mp3"
    r = speech("say", "你好，世界。", "-o", str(mp3), "--engine", "espeak")
    assert r.returncode == 0, r.stderr
    assert mp3.stat().st_size > 1000
    r = speech("say", "你好", "-o", str(tmp_path / "x.wav"), "--engine", "piper")
    assert r.returncode == 2 and "use the espeak engine for Chinese" in r.stderr
    r = speech("say", "Hi", "-o", str(tmp_path / "x.ogg"))
    assert r.returncode == 2 and "must end in .wav or .mp3" in r.stderr


def test_eval_on_a_folder_and_a_table(tmp_path):
    r = speech("eval", "--model", "whisper-tiny.en", "--data", str(audioeval_clips("en")), "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["metric"] == "WER" and result["clips"] == 3 and result["error_rate"] <= 0.05
    assert "numbers spelled out" in result["normalisation"] and 0 < result["rtf"] < 2
    table = tmp_path / "clips.tsv"
    silent = tmp_path / "silent.wav"
    silent.write_bytes(wav_bytes(np.zeros(16_000, np.float32), 16_000))
    zh = audioeval_clips("zh")
    table.write_text(f"{zh / 'nihao_shijie.wav'}\t你好世界。\n{silent}\t什么\n", encoding="utf-8")
    r = speech("eval", "--model", "whisper-base", "--data", str(table))
    assert r.returncode == 0, r.stderr
    assert "CER" in r.stdout and "Traditional -> Simplified" in r.stdout
    assert "silent.wav: the audio is silent" in r.stderr


def test_convert_writes_a_hugging_face_folder(tmp_path):
    r = speech("convert", "whisper-tiny.en", "--output", str(tmp_path / "hf"))
    assert r.returncode == 0, r.stderr
    assert {"model.safetensors", "config.json", "tokenizer.json", "preprocessor_config.json"} <= {
        p.name for p in (tmp_path / "hf").iterdir()
    }
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["d_model"] == 384 and config["encoder_layers"] == 4 and config["num_mel_bins"] == 80


def test_say_with_the_coqui_engine(tmp_path):
    """Through the real Coqui server from its own environment; without one, a one-line error saying how to start it."""
    from tests.conftest import free_port
    from tests.core.speech.conftest import coqui_server

    out = tmp_path / "coqui.wav"
    nowhere = f"apps.speech.coqui_url=http://127.0.0.1:{free_port()}"
    r = speech("say", "Hello there.", "-o", str(out), "--engine", "coqui", "--set", nowhere)
    assert r.returncode == 2 and "start it with `make coqui-serve`" in r.stderr and "Traceback" not in r.stderr
    with coqui_server() as url:
        r = speech(
            "say", "Hello there. Bye.", "-o", str(out), "--engine", "coqui", "--set", f"apps.speech.coqui_url={url}"
        )
    assert r.returncode == 0, r.stderr
    assert f"wrote {out}" in r.stderr and ", coqui)" in r.stderr
    with wave.open(str(out)) as w:
        assert w.getframerate() == 22_050 and w.getnframes() > 0.5 * 22_050


def test_convert_to_openai_whisper_form(tmp_path):
    from safetensors import safe_open

    r = speech("convert", "whisper-tiny.en", "--to", "openai-whisper", "--output", str(tmp_path / "oai"))
    assert r.returncode == 0, r.stderr
    with safe_open(str(tmp_path / "oai" / "model.safetensors"), "np") as f:
        dims = json.loads(f.metadata()["dims"])
        assert "decoder.blocks.3.cross_attn.query.weight" in f.keys()  # noqa: SIM118 (safe_open has no __contains__)
    assert dims["n_audio_state"] == 384 and dims["n_text_layer"] == 4 and dims["n_vocab"] == 51864
    r = speech("convert", "whisper-tiny.en", "--to", "onnx", "--output", str(tmp_path / "x"))
    assert r.returncode == 2 and "--to 'onnx': use hf or openai-whisper" in r.stderr
