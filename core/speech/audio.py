"""Audio in and out. Input: any file ffmpeg reads, decoded and resampled to 16 kHz mono float32, with bad input
(empty, corrupt, unsupported, silent, too long) refused by an ``AudioError`` that names the file. Output: WAV and
MP3 bytes. Optional spectral-gating noise reduction before recognition."""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from core.errors import InvalidRequestError

SAMPLE_RATE = 16_000  # what Whisper and its VAD expect
SILENCE_PEAK = 1e-4  # below -80 dBFS everywhere: digital silence, not a recording


class AudioError(InvalidRequestError):
    """Audio that cannot be used; the message names the file and says why."""


def _ffmpeg() -> str:
    found = shutil.which("ffmpeg")
    if found is None:
        raise AudioError("ffmpeg is not installed; it decodes audio input (Debian: apt-get install ffmpeg)")
    return found


def decode(path: Path, label: str | None = None, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode any ffmpeg-readable file to mono float32 at ``sample_rate`` (no checks beyond decodability);
    ``label`` names the file in errors."""
    cmd = [
        _ffmpeg(),
        "-nostdin",
        "-v",
        "error",
        "-i",
        str(path),
        "-map",
        "0:a:0",
        "-ac",
        "1",
        "-ar",
        str(sample_rate),
        "-f",
        "f32le",
        "-",
    ]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        reason = proc.stderr.decode(errors="replace").strip().splitlines()
        detail = reason[-1].replace(f"{path}: ", "") if reason else f"ffmpeg exit status {proc.returncode}"
        raise AudioError(f"{label or path.name}: not a readable audio file (corrupt or unsupported format): {detail}")
    return np.frombuffer(proc.stdout, dtype=np.float32).copy()


def load_audio(source: str | Path | bytes, name: str | None = None, max_duration_s: float | None = None) -> np.ndarray:
    """16 kHz mono float32 samples from a file path or the bytes of a file (uploads; ``name`` for messages)."""
    if isinstance(source, bytes):
        label = name or "upload"
        if not source:
            raise AudioError(f"{label}: the file is empty")
        suffix = Path(label).suffix if Path(label).suffix else ".audio"
        with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
            tmp.write(source)
            tmp.flush()
            return _checked(decode(Path(tmp.name), label), label, max_duration_s)
    path = Path(source)
    label = name or path.name
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise AudioError(f"{label}: the file is empty")
    return _checked(decode(path, label), label, max_duration_s)


def _checked(samples: np.ndarray, label: str, max_duration_s: float | None) -> np.ndarray:
    if samples.size == 0:
        raise AudioError(f"{label}: contains no audio samples")
    if max_duration_s is not None and samples.size / SAMPLE_RATE > max_duration_s:
        raise AudioError(
            f"{label}: {samples.size / SAMPLE_RATE / 60:.1f} min of audio is longer than the limit of"
            f" {max_duration_s / 60:.1f} min (apps.speech.max_duration_s)"
        )
    if float(np.max(np.abs(samples))) < SILENCE_PEAK:
        raise AudioError(f"{label}: the audio is silent (no signal above -80 dBFS)")
    return samples


def denoise(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Spectral gating (noisereduce, non-stationary noise estimate) before recognition."""
    import noisereduce

    return noisereduce.reduce_noise(y=samples, sr=sample_rate, stationary=False).astype(np.float32)


def has_speech(samples: np.ndarray) -> bool:
    """Silero VAD (the ONNX model faster-whisper ships) finds at least one stretch of speech: the engines without
    a VAD of their own use it so that silence and noise give no text."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    return bool(get_speech_timestamps(samples, VadOptions()))


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM mono WAV."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def read_wav(data: bytes) -> tuple[np.ndarray, int]:
    """(float32 samples, sample rate) of a 16-bit PCM mono WAV, as the synthesis engines' programs and servers
    write it."""
    with wave.open(io.BytesIO(data)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return pcm.astype(np.float32) / 32768.0, w.getframerate()


def mp3_bytes(samples: np.ndarray, sample_rate: int, bitrate: str = "64k") -> bytes:
    """MP3 through ffmpeg (libmp3lame)."""
    cmd = [_ffmpeg(), "-nostdin", "-v", "error", "-f", "wav", "-i", "-", "-b:a", bitrate, "-f", "mp3", "-"]
    proc = subprocess.run(cmd, input=wav_bytes(samples, sample_rate), capture_output=True)
    if proc.returncode != 0:
        raise AudioError(f"MP3 encoding failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def encode(samples: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    if fmt == "wav":
        return wav_bytes(samples, sample_rate)
    if fmt == "mp3":
        return mp3_bytes(samples, sample_rate)
    raise InvalidRequestError(f"audio format {fmt!r} is not supported: use wav or mp3")


def write_audio(path: str | Path, samples: np.ndarray, sample_rate: int) -> Path:
    """Write WAV or MP3, chosen by the file's suffix."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".") or "wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(samples, sample_rate, fmt))
    return path
