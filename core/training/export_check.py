"""Is an exported GGUF as good as the merged fp32 model it came from? Both answer the run's own validation
prompts greedily and score its reference answers (perplexity), so quantisation damage is measured, not assumed."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.config import Settings
from core.data import ChatExample, prepare_data
from core.errors import ConfigError
from core.training.config import TrainConfig, prepare_run_data
from core.training.metrics import generation_scores
from core.training.runs import read_run, read_run_config

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from core.text import TextEngine


@dataclass(frozen=True)
class Tolerance:
    """How far an export may drift from fp32 and still be registered."""

    min_rouge_l: float = 0.8  # mean ROUGE-L of the export's answers against the fp32 model's answers
    max_perplexity_increase: float = 0.1  # relative, on the reference answers (0.1 = at most 10% higher)


def validation_examples(source: Path | None, data: str | None) -> list[ChatExample]:
    """``data`` when given, else the validation split of the run ``source`` (re-made from its config)."""
    if data is None:
        if source is None or read_run(source) is None:
            raise ConfigError("the quality check needs chat data: export a training run or give --data FILE")
        cfg = TrainConfig(**read_run_config(source)["config"])
        prepared = prepare_run_data(cfg)
        examples = prepared.val or prepared.train
    else:
        prepared = prepare_data(data, val_fraction=0.0)
        examples = prepared.train
    chats = [e for e in examples if isinstance(e, ChatExample) and e.messages[-1]["role"] == "assistant"]
    if not chats:
        raise ConfigError("the quality check needs chat examples that end with an assistant answer")
    return chats


def answer_perplexity(
    logits_of: Callable[[list[int]], np.ndarray], tokenizer: PreTrainedTokenizerBase, examples: Sequence[ChatExample]
) -> float:
    """Perplexity of the reference answers (assistant tokens only) given ``logits_of(ids) -> [len(ids), vocab]``."""
    from core.data.chat_tokens import IGNORE, encode_chat

    total, count = 0.0, 0
    for ex in examples:
        enc = encode_chat(tokenizer, ex.messages, 1024)
        ids, labels = enc["input_ids"], np.array(enc["labels"][1:])
        logits = logits_of(ids)[:-1].astype(np.float64)
        logprobs = logits - logits.max(-1, keepdims=True)
        logprobs -= np.log(np.exp(logprobs).sum(-1, keepdims=True))
        keep = labels != IGNORE
        total -= float(logprobs[np.arange(len(labels))[keep], labels[keep]].sum())
        count += int(keep.sum())
    return math.exp(total / max(count, 1))


def _answers(engine: TextEngine, examples: Sequence[ChatExample], max_new_tokens: int) -> tuple[list[str], float]:
    """Greedy answers and decode speed (generated tokens per second)."""
    from core.text import GenerationParams

    engine.chat(list(examples[0].messages[:-1]), GenerationParams(max_new_tokens=2))  # warm-up: not timed
    params = GenerationParams(max_new_tokens=max_new_tokens)
    start, tokens, answers = time.perf_counter(), 0, []
    for ex in examples:
        out = engine.chat(list(ex.messages[:-1]), params)
        answers.append(out.text.strip())
        tokens += out.completion_tokens
    return answers, tokens / (time.perf_counter() - start)


def compare_with_fp32(
    model: str,
    gguf: Path,
    examples: Sequence[ChatExample],
    settings: Settings,
    tolerance: Tolerance,
    max_new_tokens: int = 128,
) -> dict:
    """Answers, perplexity and speed of ``gguf`` (llama.cpp) next to ``model`` merged in fp32 (transformers)."""
    import torch
    from llama_cpp import Llama

    from core.text import load_text_engine
    from core.text.llamacpp_engine import LlamaCppEngine

    text = settings.text.model_copy(update={"quantize": "none", "dtype": "float32"})
    fp32 = settings.model_copy(update={"text": text})
    ref_engine = load_text_engine(model, fp32, "transformers")
    tokenizer = ref_engine.tokenizer
    try:
        ref_answers, ref_speed = _answers(ref_engine, examples, max_new_tokens)
        with torch.inference_mode():
            ref_ppl = answer_perplexity(
                lambda ids: ref_engine.model(input_ids=torch.tensor([ids])).logits[0].float().numpy(),
                tokenizer,
                examples,
            )
    finally:
        ref_engine.close()
    engine = LlamaCppEngine(gguf.name, gguf, context_length=2048, threads=settings.text.threads)
    try:
        answers, speed = _answers(engine, examples, max_new_tokens)
    finally:
        engine.close()
    scorer = Llama(model_path=str(gguf), n_ctx=2048, n_threads=settings.text.threads, logits_all=True, verbose=False)
    try:

        def gguf_logits(ids: list[int]) -> np.ndarray:
            scorer.reset()
            scorer.eval(ids)
            return np.array(scorer.scores[: len(ids)])

        ppl = answer_perplexity(gguf_logits, tokenizer, examples)
    finally:
        scorer.close()
    refs = [ex.messages[-1]["content"] for ex in examples]
    agreement = generation_scores(answers, ref_answers)
    reasons = []
    if agreement["rouge_l"] < tolerance.min_rouge_l:
        reasons.append(f"answers agree with fp32 at ROUGE-L {agreement['rouge_l']:.3f} < {tolerance.min_rouge_l}")
    if ppl > ref_ppl * (1 + tolerance.max_perplexity_increase):
        reasons.append(
            f"perplexity {ppl:.3f} is more than {tolerance.max_perplexity_increase:.0%} above fp32's {ref_ppl:.3f}"
        )
    return {
        "examples": len(examples),
        "fp32": {"perplexity": ref_ppl, "tokens_per_s": ref_speed, **generation_scores(ref_answers, refs)},
        "gguf": {"perplexity": ppl, "tokens_per_s": speed, **generation_scores(answers, refs)},
        "agreement": {"exact_match": agreement["exact_match"], "rouge_l": agreement["rouge_l"]},
        "answers": [
            {"prompt": ex.messages[-2]["content"], "reference": r, "fp32": a, "gguf": b}
            for ex, r, a, b in zip(examples, refs, ref_answers, answers, strict=True)
        ],
        "tolerance": asdict(tolerance),
        "passed": not reasons,
        "reasons": reasons,
    }
