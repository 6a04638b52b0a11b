"""Write a (merged) Hugging Face causal LM as a GGUF file for llama.cpp, optionally quantised.

f16 and Q8_0 come from the ``gguf`` package; the K-quants from llama.cpp's own quantiser (``llama_cpp``), run on
an f16 file. When the base model came from a GGUF (SmolLM2, Qwen), its metadata (tokenizer, merges, chat
template, special tokens) is copied, so the export tokenises and formats chats exactly like the base; otherwise
the metadata is built from the config and the tokenizer files."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.errors import ConfigError, ModelLoadError

if TYPE_CHECKING:
    from gguf import GGMLQuantizationType, GGUFWriter
    from transformers import PretrainedConfig, PreTrainedModel

QUANTS = ("f16", "q8_0", "q4_k_m")
ARCHITECTURES = ("llama", "qwen2")  # HF model_type -> GGUF architecture of the same name

# llama.cpp file types (enum llama_ftype) written into general.file_type.
_FILE_TYPE = {"f16": 1, "q8_0": 7, "q4_k_m": 15}
# Metadata that describes the weights, not the tokenizer or the architecture: written anew for the export.
_WEIGHT_KEYS = ("general.architecture", "general.name", "general.file_type", "general.quantization_version")


def check_architecture(model_type: str) -> None:
    """Refuse models llama.cpp export does not cover here before any weights are loaded."""
    if model_type not in ARCHITECTURES:
        raise ConfigError(
            f"GGUF export supports {' and '.join(ARCHITECTURES)} models; this one is {model_type!r}."
            " Export it with `llmeco export` (safetensors) and serve it with the transformers engine instead."
        )


def check_quant(quant: str) -> None:
    if quant not in QUANTS:
        raise ConfigError(f"unknown GGUF quantisation {quant!r}: use one of {', '.join(QUANTS)}")


def permute_for_llamacpp(weight: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder q/k projection rows from Hugging Face's rotate-half RoPE layout to llama.cpp's interleaved one
    (what llama.cpp's convert_hf_to_gguf does for Llama; transformers undoes it when it reads a GGUF)."""
    rows = weight.shape[0]
    return weight.reshape(n_head, 2, rows // n_head // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def gguf_tensors(model: PreTrainedModel, quant: str) -> Iterator[tuple[str, np.ndarray, GGMLQuantizationType | None]]:
    """(GGUF name, array, raw type or None) for every weight, quantised for ``quant`` (K-quants: f16 here)."""
    import gguf
    import torch

    cfg = model.config
    arch = next(a for a, arch_name in gguf.MODEL_ARCH_NAMES.items() if arch_name == cfg.model_type)
    names = gguf.get_tensor_name_map(arch, cfg.num_hidden_layers)
    n_head, n_kv = cfg.num_attention_heads, getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
    state = model.state_dict()
    if getattr(cfg, "tie_word_embeddings", False):
        state.pop("lm_head.weight", None)  # llama.cpp reuses token_embd when output.weight is absent
    for hf_name, tensor in state.items():
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise ModelLoadError(f"no GGUF name for tensor {hf_name!r} of a {cfg.model_type} model")
        data = tensor.detach().to(torch.float32).cpu().numpy()
        if cfg.model_type == "llama" and hf_name.endswith("q_proj.weight"):
            data = permute_for_llamacpp(data, n_head)
        elif cfg.model_type == "llama" and hf_name.endswith("k_proj.weight"):
            data = permute_for_llamacpp(data, n_kv)
        if data.ndim == 1:  # norms and biases stay f32, as llama.cpp expects
            yield name, data, None
        elif quant == "q8_0":
            yield name, gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0), gguf.GGMLQuantizationType.Q8_0
        else:
            yield name, data.astype(np.float16), None


def copy_metadata(writer: GGUFWriter, base_gguf: Path) -> None:
    """Every key of ``base_gguf`` except those describing its weights' encoding."""
    from gguf import GGUFReader, GGUFValueType

    reader = GGUFReader(base_gguf)
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key in _WEIGHT_KEYS:
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), vtype, sub_type=sub)


def build_metadata(writer: GGUFWriter, config: PretrainedConfig, tokenizer_dir: Path) -> None:
    """Hyperparameters from the config and a GPT-2-style BPE vocabulary from ``tokenizer.json`` (Llama 3, SmolLM,
    Qwen2 tokenizers). The pre-tokenizer is named from the model family."""
    import gguf

    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(getattr(config, "num_key_value_heads", None) or config.num_attention_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(getattr(config, "rope_theta", None) or config.rope_parameters["rope_theta"])
    writer.add_vocab_size(config.vocab_size)
    writer.add_rope_dimension_count(config.hidden_size // config.num_attention_heads)
    tokens, types, pre = _bpe_vocab(tokenizer_dir / "tokenizer.json", config.vocab_size)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(_pre_tokenizer(config.model_type, pre))
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    special = gguf.SpecialVocab(tokenizer_dir, load_merges=True, n_vocab=config.vocab_size)
    special.add_to_gguf(writer, quiet=True)


def _bpe_vocab(tokenizer_json: Path, vocab_size: int) -> tuple[list[str], list[int], dict]:
    """Tokens by id with llama.cpp token types (special added tokens are control tokens), and the
    pre-tokenizer description, from a byte-level BPE ``tokenizer.json``."""
    import gguf

    if not tokenizer_json.is_file():
        raise ConfigError(f"GGUF export of a non-GGUF base needs a fast tokenizer ({tokenizer_json} is missing)")
    spec = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    if spec["model"]["type"] != "BPE" or spec["model"].get("byte_fallback"):
        raise ConfigError("GGUF export of a non-GGUF base supports byte-level BPE tokenizers (Llama 3, Qwen2, SmolLM)")
    by_id = {i: t for t, i in spec["model"]["vocab"].items()}
    kinds = {i: gguf.TokenType.NORMAL for i in by_id}
    for added in spec.get("added_tokens", []):
        by_id[added["id"]] = added["content"]
        kinds[added["id"]] = gguf.TokenType.CONTROL if added.get("special") else gguf.TokenType.USER_DEFINED
    tokens = [by_id.get(i, f"[PAD{i}]") for i in range(vocab_size)]  # rows beyond the tokenizer: padding
    types = [kinds.get(i, gguf.TokenType.UNUSED) for i in range(vocab_size)]
    return tokens, types, spec.get("pre_tokenizer") or {}


def _pre_tokenizer(model_type: str, pre: dict) -> str:
    """llama.cpp's name for the regex that splits text before BPE (it decides how digits and punctuation split)."""
    if model_type == "qwen2":
        return "qwen2"
    parts = pre.get("pretokenizers", [pre])
    if any(p.get("type") == "Digits" and p.get("individual_digits") for p in parts):
        return "smollm"
    if any(p.get("type") == "Split" for p in parts):
        return "llama-bpe"
    return "gpt-2" if any(p.get("type") == "ByteLevel" and p.get("use_regex", True) for p in parts) else "default"


def write_gguf(
    model: PreTrainedModel,
    tokenizer_dir: Path,
    output: Path,
    quant: str,
    *,
    base_gguf: Path | None,
    name: str,
    threads: int = 0,
) -> Path:
    """Write ``model`` to ``output`` as ``quant``. ``base_gguf``: copy its metadata (same tokenizer and template)."""
    import gguf

    check_quant(quant)
    check_architecture(model.config.model_type)
    direct = "f16" if quant == "q4_k_m" else quant
    with tempfile.TemporaryDirectory(dir=output.parent) as tmp:
        stage = Path(tmp) / "model.gguf"
        writer = gguf.GGUFWriter(stage, model.config.model_type)
        if base_gguf is not None:
            copy_metadata(writer, base_gguf)
        else:
            build_metadata(writer, model.config, tokenizer_dir)
        writer.add_name(name)
        writer.add_file_type(_FILE_TYPE[direct])
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        for tensor_name, data, raw in gguf_tensors(model, direct):
            writer.add_tensor(tensor_name, data, raw_dtype=raw)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        if quant == direct:
            stage.replace(output)
        else:
            llamacpp_quantize(stage, output, _FILE_TYPE[quant], threads)
    return output


def llamacpp_quantize(source: Path, target: Path, file_type: int, threads: int = 0) -> None:
    """llama.cpp's quantiser (the K-quants: per-tensor type choices as in llama-quantize)."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = file_type
    params.nthread = threads
    if llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), params) != 0:
        raise ModelLoadError(f"llama.cpp could not quantise {source} (file type {file_type})")
