"""Fine-tuning Whisper on a user's clips: the CTranslate2 model is converted to PyTorch (``convert.py``), its
decoder trained on the clips' transcripts with the encoder frozen (the acoustic features stay as they are; a
short CPU run fits in memory and seconds), and the result converted back to CTranslate2 with ``ctranslate2``'s own
converter, so faster-whisper serves it like any other model (pass the folder as ``--model``).

Features are computed the way faster-whisper computes them when serving (log-mel padded to 3000 frames): train on
the layout you serve with."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.config import Settings
from core.errors import InvalidRequestError
from core.models import registry
from core.speech.asr.convert import pytorch_form
from core.speech.audio import load_audio
from core.speech.evaluate import Clip

N_FRAMES = 3000  # Whisper's 30-second window


@dataclass(frozen=True)
class FinetuneConfig:
    steps: int = 20
    learning_rate: float = 1e-4
    batch_size: int = 4
    seed: int = 0
    language: str | None = None  # multilingual models: the clips' language (default en)


def log_mel(path: Path, n_mels: int) -> np.ndarray:
    from faster_whisper.feature_extractor import FeatureExtractor

    feats = FeatureExtractor(feature_size=n_mels)(load_audio(path))[:, :N_FRAMES]
    return np.pad(feats, ((0, 0), (0, N_FRAMES - feats.shape[1]))).astype(np.float32)


def finetune(base: str, clips: list[Clip], out: Path, settings: Settings, config: FinetuneConfig | None = None) -> Path:
    """Train ``base`` (a registered Whisper model or CTranslate2 folder) on ``clips``; returns the CTranslate2
    folder ``out/ct2`` (the PyTorch form stays in ``out/hf``)."""
    import torch
    from ctranslate2.converters import TransformersConverter
    from transformers import WhisperForConditionalGeneration, WhisperTokenizerFast

    config = config or FinetuneConfig()
    if not clips:
        raise InvalidRequestError("fine-tuning needs at least one clip with a transcript")
    ct2 = registry.resolve(base, settings, "asr").path
    pytorch = pytorch_form(base, settings)
    torch.manual_seed(config.seed)
    model = WhisperForConditionalGeneration.from_pretrained(pytorch, use_safetensors=True)
    tokenizer = WhisperTokenizerFast.from_pretrained(pytorch)
    prompt = ["<|startoftranscript|>", "<|notimestamps|>"]
    if model.config.vocab_size >= 51865:  # multilingual vocabulary (.en models have 51864 tokens)
        prompt[1:1] = [f"<|{config.language or 'en'}|>", "<|transcribe|>"]
    prompt_ids = tokenizer.convert_tokens_to_ids(prompt)
    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    sequences = [prompt_ids + tokenizer.encode(" " + c.text.strip(), add_special_tokens=False) + [eot] for c in clips]
    width = max(len(s) for s in sequences)
    inputs = torch.full((len(clips), width - 1), eot)
    labels = torch.full((len(clips), width - 1), -100)
    for i, s in enumerate(sequences):
        inputs[i, : len(s) - 1] = torch.tensor(s[:-1])
        labels[i, len(prompt_ids) - 1 : len(s) - 1] = torch.tensor(s[len(prompt_ids) :])  # the prompt is not learnt
    feats = torch.from_numpy(np.stack([log_mel(c.audio, model.config.num_mel_bins) for c in clips]))
    with torch.no_grad():  # the encoder is frozen: encode each clip once
        encoded = model.model.encoder(feats).last_hidden_state
    params = [p for n, p in model.named_parameters() if not n.startswith("model.encoder.")]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate)
    model.train()
    losses = []
    for step in range(config.steps):
        batch = torch.arange(step * config.batch_size, (step + 1) * config.batch_size) % len(clips)
        loss = model(encoder_outputs=(encoded[batch],), decoder_input_ids=inputs[batch], labels=labels[batch]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    shutil.rmtree(out, ignore_errors=True)
    model.save_pretrained(out / "hf", safe_serialization=True)
    tokenizer.save_pretrained(out / "hf")
    TransformersConverter(str(out / "hf")).convert(str(out / "ct2"), quantization="float16")
    shutil.copy2(ct2 / "tokenizer.json", out / "ct2" / "tokenizer.json")
    (out / "finetune.json").write_text(
        json.dumps({"base": base, "clips": [str(c.audio) for c in clips], "config": config.__dict__, "losses": losses})
    )
    return out / "ct2"
