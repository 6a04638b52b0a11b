"""CTranslate2 -> Hugging Face Whisper conversion: fed identical log-mel features, the converted PyTorch model
decodes token for token what CTranslate2 decodes (greedy), for the English-only and the multilingual model."""

from __future__ import annotations

import numpy as np
import pytest

from core.models import registry
from core.speech.asr.convert import ct2_to_hf, pytorch_form, read_ct2
from core.speech.audio import load_audio

pytestmark = pytest.mark.slow


def features(path, n_mels: int) -> np.ndarray:
    from faster_whisper.feature_extractor import FeatureExtractor

    feats = FeatureExtractor(feature_size=n_mels)(load_audio(path))[:, :3000]
    return np.pad(feats, ((0, 0), (0, 3000 - feats.shape[1]))).astype(np.float32)[None]


def greedy_hf(model, feats: np.ndarray, prompt: list[int], limit: int = 100) -> list[int]:
    import torch

    ids = torch.tensor([prompt])
    with torch.no_grad():
        encoded = model.model.encoder(torch.from_numpy(feats)).last_hidden_state
        for _ in range(limit):
            token = int(model(encoder_outputs=(encoded,), decoder_input_ids=ids).logits[0, -1].argmax())
            if token == model.config.eos_token_id:
                break
            ids = torch.cat([ids, torch.tensor([[token]])], 1)
    return ids[0, len(prompt) :].tolist()


def greedy_ct2(folder, feats: np.ndarray, prompt: list[int]) -> list[int]:
    import ctranslate2

    model = ctranslate2.models.Whisper(str(folder), device="cpu", compute_type="float32")
    result = model.generate(
        ctranslate2.StorageView.from_array(feats),
        [prompt],
        beam_size=1,
        suppress_blank=False,
        suppress_tokens=[],
        max_length=100,
    )
    return result[0].sequences_ids[0]


@pytest.mark.parametrize(
    ("name", "clip", "prompt", "expected"),
    [
        ("whisper-tiny.en", "jfk", ["<|startoftranscript|>", "<|notimestamps|>"], "ask not what your country"),
        ("whisper-base", "aishell", ["<|startoftranscript|>", "<|zh|>", "<|transcribe|>", "<|notimestamps|>"], "交易"),
    ],
)
def test_converted_model_decodes_the_same_tokens(settings, tmp_path, request, name, clip, prompt, expected):
    from transformers import WhisperForConditionalGeneration, WhisperTokenizerFast

    ct2 = registry.prepare(name, settings).path
    # tiny.en is converted afresh; base's conversion is the cached one the transformers engine serves
    hf = ct2_to_hf(ct2, tmp_path / name) if name == "whisper-tiny.en" else pytorch_form(name, settings)
    model = WhisperForConditionalGeneration.from_pretrained(hf).eval()
    tokenizer = WhisperTokenizerFast.from_pretrained(hf)
    assert tokenizer.convert_tokens_to_ids("<|30.00|>") == model.config.vocab_size - 1  # timestamps appended
    feats = features(request.getfixturevalue(clip), model.config.num_mel_bins)
    ids = tokenizer.convert_tokens_to_ids(prompt)
    decoded = greedy_hf(model, feats, ids)
    assert decoded == greedy_ct2(ct2, feats, ids)
    assert expected in tokenizer.decode(decoded)


def test_int8_weights_are_dequantised(tmp_path):
    """A tiny hand-written model.bin: an int8 weight with per-row scales, a flag, and an alias."""
    import struct

    def string(s: str) -> bytes:
        raw = s.encode() + b"\0"
        return struct.pack("<H", len(raw)) + raw

    def var(name: str, array: np.ndarray, code: int) -> bytes:
        head = string(name) + struct.pack("<B", array.ndim) + b"".join(struct.pack("<I", d) for d in array.shape)
        return head + struct.pack("<BI", code, array.nbytes) + array.tobytes()

    weight = np.array([[10, -20], [30, 40]], np.int8)
    scale = np.array([10.0, 20.0], np.float32)
    body = var("a/weight", weight, 1) + var("a/weight_scale", scale, 0) + var("n/num_heads", np.array(6, np.int16), 2)
    blob = struct.pack("<I", 6) + string("WhisperSpec") + struct.pack("<II", 1, 3) + body
    blob += struct.pack("<I", 1) + string("b/weight") + string("a/weight")
    path = tmp_path / "model.bin"
    path.write_bytes(blob)
    v = read_ct2(path)
    assert np.allclose(v["a/weight"], [[1.0, -2.0], [1.5, 2.0]]) and "a/weight_scale" not in v
    assert int(v["n/num_heads"]) == 6 and v["b/weight"] is v["a/weight"]


def greedy_openai(model, feats: np.ndarray, prompt: list[int], eos: int, limit: int = 100) -> list[int]:
    import torch

    ids = torch.tensor([prompt])
    with torch.no_grad():
        encoded = model.encoder(torch.from_numpy(feats))
        for _ in range(limit):
            token = int(model.decoder(ids, encoded)[0, -1].argmax())
            if token == eos:
                break
            ids = torch.cat([ids, torch.tensor([[token]])], 1)
    return ids[0, len(prompt) :].tolist()


@pytest.mark.parametrize(
    ("name", "clip", "prompt"),
    [
        ("whisper-tiny.en", "jfk", ["<|startoftranscript|>", "<|notimestamps|>"]),
        ("whisper-base", "aishell", ["<|startoftranscript|>", "<|zh|>", "<|transcribe|>", "<|notimestamps|>"]),
    ],
)
def test_openai_whisper_form_decodes_the_same_tokens(settings, tmp_path, request, name, clip, prompt):
    """openai-whisper's form (``ModelDimensions`` + state dict in safetensors) loads strictly into
    ``whisper.model.Whisper`` and decodes what CTranslate2 decodes; its alignment heads (word timestamps) are the
    CTranslate2 config's."""
    import json

    from transformers import WhisperTokenizerFast

    from core.speech.asr.convert import ct2_to_openai, load_openai_whisper, openai_form

    ct2 = registry.prepare(name, settings).path
    # tiny.en is converted afresh; base's conversion is the cached one the openai-whisper engine serves
    path = ct2_to_openai(ct2, tmp_path / name) if name == "whisper-tiny.en" else openai_form(name, settings)
    model = load_openai_whisper(path)
    heads = json.loads((ct2 / "config.json").read_text())["alignment_heads"]
    assert model.alignment_heads.to_dense().nonzero().tolist() == sorted(heads)
    assert model.is_multilingual == (name == "whisper-base")
    tokenizer = WhisperTokenizerFast(tokenizer_file=str(ct2 / "tokenizer.json"))
    ids = tokenizer.convert_tokens_to_ids(prompt)
    feats = features(request.getfixturevalue(clip), model.dims.n_mels)
    decoded = greedy_openai(model, feats, ids, tokenizer.convert_tokens_to_ids("<|endoftext|>"))
    assert len(decoded) > 5 and decoded == greedy_ct2(ct2, feats, ids)
