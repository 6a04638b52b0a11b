"""The speech-synthesis interface. Engines implement ``_speak`` (one sentence at one speed); ``stream`` adds
what every engine shares: a small SSML subset (``<speak>``, ``<break time>``, ``<prosody rate>``), sentence
splitting, pauses between sentences, and one audio chunk per sentence so playback can start early."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from core.errors import InvalidRequestError

_RATES = {"x-slow": 0.6, "slow": 0.8, "medium": 1.0, "default": 1.0, "fast": 1.25, "x-fast": 1.5}
# A sentence ends at . ! ? followed by a space, or at Chinese 。！？； (no space needed).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？；])")
MAX_CHARS = 10_000


@dataclass(frozen=True)
class SpeechOptions:
    voice: str | None = None  # None: the engine's default voice
    speed: float = 1.0  # 2.0 = twice as fast
    sentence_pause_s: float = 0.25

    def __post_init__(self) -> None:
        if not 0.25 <= self.speed <= 4.0:
            raise InvalidRequestError(f"speed must be between 0.25 and 4.0, not {self.speed}")
        if not 0.0 <= self.sentence_pause_s <= 5.0:
            raise InvalidRequestError("sentence_pause_s must be between 0 and 5 seconds")


@dataclass(frozen=True)
class Say:
    text: str
    rate: float = 1.0


@dataclass(frozen=True)
class Pause:
    seconds: float


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def parse_rate(value: str) -> float:
    value = value.strip()
    try:
        if value in _RATES:
            return _RATES[value]
        if value.endswith("%"):
            return float(value[:-1]) / 100
        return float(value)
    except ValueError:
        raise InvalidRequestError(
            f"SSML prosody rate {value!r}: use x-slow..x-fast, a percentage or a number"
        ) from None


def parse_time(value: str) -> float:
    match = re.fullmatch(r"\s*([\d.]+)\s*(ms|s)\s*", value)
    if not match:
        raise InvalidRequestError(f"SSML break time {value!r}: use e.g. 500ms or 1.5s")
    number = float(match.group(1))
    return number / 1000 if match.group(2) == "ms" else number


def parse_input(text: str) -> list[Say | Pause]:
    """Plain text, or SSML when it starts with ``<speak``: sentences to say (with a rate) and explicit pauses."""
    text = text.strip()
    if not text:
        raise InvalidRequestError("nothing to say: the text is empty")
    if len(text) > MAX_CHARS:
        raise InvalidRequestError(f"text of {len(text)} characters is longer than the limit of {MAX_CHARS}")
    if not text.startswith("<speak"):
        return [Say(s) for s in split_sentences(text)]
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise InvalidRequestError(f"SSML is not well-formed: {exc}") from None
    pieces: list[Say | Pause] = []

    def walk(node: ET.Element, rate: float) -> None:
        tag = node.tag.rsplit("}", 1)[-1]
        if tag == "break":
            pieces.append(Pause(parse_time(node.get("time", "500ms"))))
        else:
            if tag not in ("speak", "prosody", "s", "p"):
                raise InvalidRequestError(f"SSML element <{tag}> is not supported: use speak, break, prosody, p, s")
            inner = rate * parse_rate(node.get("rate", "1")) if tag == "prosody" else rate
            pieces.extend(Say(s, inner) for s in split_sentences(node.text or ""))
            for child in node:
                walk(child, inner)
        if node is not root:
            pieces.extend(Say(s, rate) for s in split_sentences(node.tail or ""))

    walk(root, 1.0)
    return pieces


class TTSEngine(ABC):
    name: str
    default_voice: str
    sample_rate: int

    def stream(self, text: str, options: SpeechOptions | None = None) -> Iterator[np.ndarray]:
        """Float32 mono chunks: one per sentence (followed by its pause), or a pause from ``<break>``."""
        options = options or SpeechOptions()
        voice = options.voice or self.default_voice
        pieces = parse_input(text)
        for i, piece in enumerate(pieces):
            if isinstance(piece, Pause):
                yield np.zeros(int(piece.seconds * self.sample_rate), dtype=np.float32)
                continue
            audio = self._speak(piece.text, voice, options.speed * piece.rate)
            next_is_pause = i + 1 < len(pieces) and isinstance(pieces[i + 1], Pause)
            if i + 1 < len(pieces) and not next_is_pause:
                audio = np.concatenate([audio, np.zeros(int(options.sentence_pause_s * self.sample_rate), np.float32)])
            yield audio

    def synthesize(self, text: str, options: SpeechOptions | None = None) -> np.ndarray:
        chunks = list(self.stream(text, options))
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)

    @abstractmethod
    def _speak(self, sentence: str, voice: str, speed: float) -> np.ndarray:
        """One sentence as float32 mono samples at ``self.sample_rate``."""

    def voices(self) -> list[str]:
        return [self.default_voice]
