"""espeak-ng (Debian): formant synthesis in ~100 languages, Mandarin included; the fallback for any language
Piper has no voice for. Chinese text picks the Mandarin voice ``cmn-latn-pinyin`` when no voice is given
(Debian's plain ``cmn`` reads its pinyin tone digits aloud as English numbers)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np

from core.errors import InvalidRequestError, ModelNotAvailableError
from core.speech.audio import read_wav
from core.speech.text import has_cjk
from core.speech.tts.base import TTSEngine

WORDS_PER_MINUTE = 175  # espeak-ng's default rate = speed 1.0


class EspeakEngine(TTSEngine):
    name = "espeak"
    sample_rate = 22_050

    def __init__(self, voice: str | None = None):
        self.binary = shutil.which("espeak-ng")
        if self.binary is None:
            raise ModelNotAvailableError("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
        self.default_voice = voice or "auto"

    def _speak(self, sentence: str, voice: str, speed: float) -> np.ndarray:
        if voice == "auto":
            voice = "cmn-latn-pinyin" if has_cjk(sentence) else "en-us"
        wpm = str(max(80, min(500, round(WORDS_PER_MINUTE * speed))))
        proc = subprocess.run([self.binary, "-v", voice, "-s", wpm, "--stdout", "--", sentence], capture_output=True)
        if proc.returncode != 0 or not proc.stdout:
            detail = proc.stderr.decode(errors="replace").strip()
            raise InvalidRequestError(
                f"espeak-ng voice {voice!r} failed: {detail or 'no audio'} (see `espeak-ng --voices`)"
            )
        audio, rate = read_wav(proc.stdout)
        if rate != self.sample_rate:
            raise InvalidRequestError(f"espeak-ng voice {voice!r} speaks at {rate} Hz, expected 22050")
        return audio

    def voices(self) -> list[str]:
        out = subprocess.run([self.binary, "--voices"], capture_output=True, text=True).stdout.splitlines()[1:]
        return ["auto"] + [line.split()[1] for line in out if len(line.split()) > 1]
