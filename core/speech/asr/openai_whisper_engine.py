"""openai-whisper (the ``whisper`` package, PyTorch) on the embedded models, whose CTranslate2 weights
``convert.py`` turns once into its own form (``ModelDimensions`` + state dict, as safetensors). Its ``transcribe``
pads the log-mel to 30 s as faster-whisper does, so the two agree on the same clip; float16 on CUDA, float32 on CPU.
It has no VAD of its own: Silero's decides whether there is any speech, as for the transformers engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.speech.asr.base import ASREngine, Segment, TranscribeOptions, Transcript, Word
from core.speech.audio import SAMPLE_RATE


class OpenAIWhisperEngine(ASREngine):
    name = "openai-whisper"

    def __init__(self, model: str, path: Path, device: str = "auto"):
        import torch

        from core.speech.asr.convert import load_openai_whisper

        self.model = model
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        self.whisper = load_openai_whisper(path, self.device)
        self.multilingual = self.whisper.is_multilingual

    def _transcribe(self, samples: np.ndarray, options: TranscribeOptions) -> Transcript:
        import whisper

        language, probability, silent = self._language_or_silence(samples, options)
        if silent is not None:
            return silent
        result = whisper.transcribe(
            self.whisper,
            samples,
            verbose=None,
            language=language,
            task=options.task,
            beam_size=options.beam_size if options.beam_size > 1 else None,  # None: its greedy decoder
            temperature=options.temperatures,
            word_timestamps=options.word_timestamps,
            initial_prompt=options.initial_prompt,
            fp16=self.device.startswith("cuda"),
        )
        segments = [
            Segment(
                id=i,
                start=round(float(s["start"]), 3),
                end=round(float(s["end"]), 3),
                text=s["text"].strip(),
                words=[
                    Word(
                        round(float(w["start"]), 3),
                        round(float(w["end"]), 3),
                        w["word"],
                        round(float(w["probability"]), 4),
                    )
                    for w in s.get("words", [])
                ],
                avg_logprob=float(s["avg_logprob"]),
                no_speech_prob=float(s["no_speech_prob"]),
            )
            for i, s in enumerate(result["segments"])
        ]
        text = " ".join(s.text for s in segments if s.text)
        return Transcript(text, language, probability, samples.size / SAMPLE_RATE, segments, options.task)

    def detect_language(self, samples: np.ndarray) -> tuple[str, float]:
        """Whisper's language guess on the first 30 seconds."""
        import torch
        import whisper

        if not self.multilingual:
            return "en", 1.0
        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(samples), self.whisper.dims.n_mels)
        with torch.no_grad():
            _, probs = self.whisper.detect_language(mel.to(self.device, next(self.whisper.parameters()).dtype))
        best = max(probs, key=probs.get)
        return best, float(probs[best])
