"""faster-whisper (CTranslate2): int8 on CPU, float16 on CUDA. Long audio is decoded in Whisper's 30-second
windows, each conditioned on the previous one's text; Silero VAD (bundled as ONNX) drops silence first."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.speech.asr.base import ASREngine, Segment, TranscribeOptions, Transcript, Word


def pick_device(device: str, compute_type: str) -> tuple[str, int, str]:
    """(device, index, compute type): CUDA when present and asked for (auto), float16 there, int8 on CPU."""
    import ctranslate2

    if device == "auto":
        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    kind, _, index = device.partition(":")
    if compute_type == "auto":
        compute_type = "float16" if kind == "cuda" else "int8"
    return kind, int(index or 0), compute_type


def _word(w) -> Word:
    return Word(round(float(w.start), 3), round(float(w.end), 3), w.word, round(float(w.probability), 4))


class FasterWhisperEngine(ASREngine):
    name = "faster-whisper"
    supports_hotwords = True

    def __init__(self, model: str, path: Path, device: str = "auto", compute_type: str = "auto", threads: int = 0):
        from faster_whisper import WhisperModel

        self.model = model
        self.device, index, self.compute_type = pick_device(device, compute_type)
        self.whisper = WhisperModel(
            str(path), device=self.device, device_index=index, compute_type=self.compute_type, cpu_threads=threads
        )
        self.multilingual = self.whisper.model.is_multilingual

    def _transcribe(self, samples: np.ndarray, options: TranscribeOptions) -> Transcript:
        import ctranslate2

        language = options.language or (None if self.multilingual else "en")
        ctranslate2.set_random_seed(0)  # the temperature fallback samples: same audio, same text
        segments, info = self.whisper.transcribe(
            samples,
            language=language,
            task=options.task,
            beam_size=options.beam_size,
            temperature=options.temperatures,
            vad_filter=options.vad,
            word_timestamps=options.word_timestamps,
            initial_prompt=options.initial_prompt,
            hotwords=options.hotwords,
        )
        out = [
            Segment(
                id=i,
                start=round(float(s.start), 3),
                end=round(float(s.end), 3),
                text=s.text.strip(),
                words=[_word(w) for w in s.words or []],
                avg_logprob=float(s.avg_logprob),
                no_speech_prob=float(s.no_speech_prob),
            )
            for i, s in enumerate(segments)  # a generator: decoding happens here
        ]
        text = " ".join(s.text for s in out if s.text)
        return Transcript(text, info.language, info.language_probability, info.duration, out, options.task)

    def detect_language(self, samples: np.ndarray) -> tuple[str, float]:
        if not self.multilingual:
            return "en", 1.0
        language, probability, _ = self.whisper.detect_language(samples)
        return language, probability
