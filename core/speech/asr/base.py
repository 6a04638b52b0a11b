"""The speech-recognition interface. Engines implement ``_transcribe`` on 16 kHz mono samples; ``transcribe``
adds what every engine shares: decoding any input, noise reduction, Chinese in Simplified characters with
punctuation, and timing for the real-time factor."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from core.errors import InvalidRequestError
from core.speech.audio import SAMPLE_RATE, denoise, has_speech, load_audio
from core.speech.text import has_cjk, punctuate_zh, to_simplified

Task = Literal["transcribe", "translate"]
# Whisper's fallback: when the greedy/beam result looks wrong (low log-probability, repetition), decode again by
# sampling at rising temperatures and keep the most likely candidate.
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass(frozen=True)
class TranscribeOptions:
    language: str | None = None  # None: detected
    task: Task = "transcribe"  # translate: any language -> English text
    beam_size: int = 5
    vad: bool = True
    word_timestamps: bool = False
    initial_prompt: str | None = None  # context / spelling hints for the first window
    hotwords: str | None = None  # words to favour (names, jargon)
    denoise: bool = False

    @property
    def temperatures(self) -> tuple[float, ...]:
        """No sampling fallback when translating: a translation always scores worse than transcribing the source
        language, so the fallback ran every time and its most likely sample was often the untranslated source."""
        return (0.0,) if self.task == "translate" else FALLBACK_TEMPERATURES

    def __post_init__(self) -> None:
        if self.task not in ("transcribe", "translate"):
            raise InvalidRequestError(f"task must be transcribe or translate, not {self.task!r}")
        if self.beam_size < 1:
            raise InvalidRequestError("beam_size must be at least 1")


@dataclass
class Word:
    start: float
    end: float
    word: str
    probability: float


@dataclass
class Segment:
    id: int
    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0


@dataclass
class Transcript:
    text: str
    language: str
    language_probability: float
    duration: float  # seconds of input audio
    segments: list[Segment]
    task: Task = "transcribe"
    processing_s: float = 0.0

    @property
    def rtf(self) -> float:
        """Real-time factor: processing time / audio duration (lower is faster)."""
        return self.processing_s / self.duration if self.duration else 0.0

    def to_dict(self) -> dict:
        return asdict(self) | {"rtf": self.rtf}


class ASREngine(ABC):
    name: str
    model: str
    multilingual: bool
    supports_hotwords = False  # only faster-whisper has them; the others are told to use an initial prompt

    def transcribe(
        self,
        source: str | Path | bytes | np.ndarray,
        options: TranscribeOptions | None = None,
        name: str | None = None,
        max_duration_s: float | None = None,
    ) -> Transcript:
        """Transcribe a file path, the bytes of a file, or 16 kHz mono float32 samples."""
        options = options or TranscribeOptions()
        if not self.multilingual:
            if options.language not in (None, "en"):
                raise InvalidRequestError(f"{self.model} is English-only; use whisper-base for {options.language!r}")
            if options.task == "translate":
                raise InvalidRequestError(f"{self.model} is English-only; translate needs whisper-base")
        if options.hotwords and not self.supports_hotwords:
            raise InvalidRequestError(
                f"hotwords need the faster-whisper engine; use an initial prompt with {self.name}"
            )
        start = time.perf_counter()
        samples = source if isinstance(source, np.ndarray) else load_audio(source, name, max_duration_s)
        if options.denoise:
            samples = denoise(samples)
        result = self._transcribe(samples, options)
        if options.task == "transcribe" and (result.language == "zh" or has_cjk(result.text)):
            for seg in result.segments:
                seg.text = to_simplified(seg.text)
                for w in seg.words:
                    w.word = to_simplified(w.word)
            result.text = punctuate_zh([s.text for s in result.segments])
        result.duration = samples.size / SAMPLE_RATE
        result.processing_s = time.perf_counter() - start
        return result

    @abstractmethod
    def _transcribe(self, samples: np.ndarray, options: TranscribeOptions) -> Transcript: ...

    def _language_or_silence(
        self, samples: np.ndarray, options: TranscribeOptions
    ) -> tuple[str, float, Transcript | None]:
        """The language (given, detected, or English for English-only models) and, for the engines without VAD in
        their decoder, an empty transcript when Silero VAD hears no speech (so silence gives no text)."""
        language, probability = (options.language or "en", 1.0)
        if self.multilingual and options.language is None:
            language, probability = self.detect_language(samples)
        if options.vad and not has_speech(samples):
            return (
                language,
                probability,
                Transcript("", language, probability, samples.size / SAMPLE_RATE, [], options.task),
            )
        return language, probability, None

    @abstractmethod
    def detect_language(self, samples: np.ndarray) -> tuple[str, float]:
        """The most likely language code and its probability."""
