"""transformers (``WhisperForConditionalGeneration``) on the PyTorch form of the embedded models, written once by
``convert.py`` from their CTranslate2 weights, or on a fine-tuned folder. Long audio goes through transformers'
chunked pipeline (30-second windows); float16 on CUDA, float32 on CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.speech.asr.base import ASREngine, Segment, TranscribeOptions, Transcript, Word
from core.speech.audio import SAMPLE_RATE


class TransformersWhisperEngine(ASREngine):
    name = "transformers"

    def __init__(self, model: str, path: Path, device: str = "auto"):
        import torch
        from transformers import (
            WhisperFeatureExtractor,
            WhisperForConditionalGeneration,
            WhisperTokenizerFast,
            pipeline,
        )

        self.model = model
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        dtype = torch.float16 if self.device.startswith("cuda") else torch.float32
        self.whisper = (
            WhisperForConditionalGeneration.from_pretrained(path, dtype=dtype, use_safetensors=True)
            .to(self.device)
            .eval()
        )
        self.tokenizer = WhisperTokenizerFast.from_pretrained(path)
        self.features = WhisperFeatureExtractor.from_pretrained(path)
        self.multilingual = self.whisper.config.vocab_size >= 51865  # .en vocabularies have 51864 tokens
        self.pipe = pipeline(
            "automatic-speech-recognition",
            model=self.whisper,
            tokenizer=self.tokenizer,
            feature_extractor=self.features,
            chunk_length_s=30,
            device=self.device,
        )

    def _transcribe(self, samples: np.ndarray, options: TranscribeOptions) -> Transcript:
        language, probability, silent = self._language_or_silence(samples, options)
        if silent is not None:
            return silent
        kwargs: dict = {"num_beams": options.beam_size}
        if self.multilingual:
            kwargs |= {"language": language, "task": options.task}
        if options.initial_prompt:
            kwargs["prompt_ids"] = self.tokenizer.get_prompt_ids(options.initial_prompt, return_tensors="pt")
        chunks = self.pipe(samples.copy(), return_timestamps=True, generate_kwargs=kwargs)["chunks"]
        segments = [
            Segment(
                i, float(c["timestamp"][0]), float(c["timestamp"][1] or samples.size / SAMPLE_RATE), c["text"].strip()
            )
            for i, c in enumerate(chunks)
        ]
        if options.word_timestamps:
            for w in self.pipe(samples.copy(), return_timestamps="word", generate_kwargs=kwargs)["chunks"]:
                start, end = float(w["timestamp"][0]), float(w["timestamp"][1] or w["timestamp"][0])
                home = next((s for s in reversed(segments) if s.start <= start), segments[0])
                home.words.append(Word(round(start, 3), round(end, 3), w["text"], 1.0))
        text = " ".join(s.text for s in segments if s.text)
        return Transcript(text, language, probability, samples.size / SAMPLE_RATE, segments, options.task)

    def detect_language(self, samples: np.ndarray) -> tuple[str, float]:
        """Whisper's own language guess: the first decoded token, restricted to language tokens."""
        import torch

        if not self.multilingual:
            return "en", 1.0
        feats = self.features(samples, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
        lang_ids = list(self.whisper.generation_config.lang_to_id.values())
        sot = [[self.whisper.config.decoder_start_token_id]]
        with torch.no_grad():
            feats = feats.to(self.device, self.whisper.dtype)
            logits = self.whisper(input_features=feats, decoder_input_ids=torch.tensor(sot, device=self.device)).logits
        probs = torch.softmax(logits[0, -1, lang_ids].float(), dim=-1)
        best = int(probs.argmax())
        return self.tokenizer.convert_ids_to_tokens(lang_ids[best]).strip("<|>"), float(probs[best])
