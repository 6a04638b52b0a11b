"""Text classification over fine-tuned encoders (e.g. the support bot's intent model), batched."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from safetensors import SafetensorError
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from core.errors import InvalidRequestError, ModelLoadError
from core.models.weights import safetensors_only
from core.text.transformers_engine import pick_device


@dataclass
class Prediction:
    label: str
    confidence: float
    scores: dict[str, float]  # every label's probability


class Classifier(Protocol):
    labels: list[str]

    def predict(self, texts: Sequence[str]) -> list[Prediction]: ...


class TransformersClassifier:
    def __init__(
        self,
        source: str | Path,
        *,
        device: str = "auto",
        batch_size: int = 32,
        max_length: int = 256,
        trust_remote_code: bool = False,
        allow_pickle_weights: bool = False,
    ):
        self.device = pick_device(device)
        self.batch_size = batch_size
        self.max_length = max_length
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(source), trust_remote_code=trust_remote_code)
            self.model = AutoModelForSequenceClassification.from_pretrained(
                str(source), trust_remote_code=trust_remote_code, **safetensors_only(source, allow_pickle_weights)
            )
        except (OSError, ValueError, SafetensorError) as exc:
            raise ModelLoadError(f"could not load classifier from {source}: {exc}") from None
        self.model.to(self.device).eval()
        id2label = self.model.config.id2label
        self.labels = [id2label[i] for i in range(len(id2label))]

    @torch.inference_mode()
    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        if isinstance(texts, str):
            raise InvalidRequestError("predict() takes a list of texts, not a single string")
        out: list[Prediction] = []
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(
                list(texts[start : start + self.batch_size]),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self.device)
            probs = self.model(**batch).logits.float().softmax(-1).cpu()
            for row in probs.tolist():
                best = max(range(len(row)), key=row.__getitem__)
                out.append(Prediction(self.labels[best], row[best], dict(zip(self.labels, row, strict=True))))
        return out
