"""``evaluate()``: one entry point for the three kinds of evaluation users run on a test set."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from core.config import Settings
from core.data import ChatExample, ClassificationExample, TextExample, prepare_data
from core.errors import ConfigError
from core.models import registry, user_models
from core.training.metrics import classification_scores, generation_scores
from core.training.plots import plot_confusion


def _test_set(path: str, fmt: str = "auto"):
    return prepare_data(path, fmt=fmt, val_fraction=0.0)


def evaluate(model: str, data: str, settings: Settings, task: str = "auto", output: Path | None = None) -> dict:
    """Return metrics; with ``output``, also write metrics.json (+ confusion.png / outputs.jsonl)."""
    prepared = _test_set(data)
    if task == "auto":
        task = "classification" if prepared.format == "classification" else "lm"
    if output is not None:
        Path(output).mkdir(parents=True, exist_ok=True)
    examples = prepared.train + prepared.val
    if task == "classification":
        result = evaluate_classifier(model, examples, settings, output)
    elif task == "lm":
        result = evaluate_lm(model, examples, settings)
    elif task == "generation":
        result = evaluate_generation(model, examples, settings, output)
    else:
        raise ConfigError(f"unknown eval task {task!r}: use auto, lm, classification or generation")
    result = {"task": task, "model": model, "data": data, **result}
    run = user_models.run_folder(settings, model)
    if run is not None:  # kept in the run: `llmeco models register --gate` compares versions with it
        user_models.record_eval(run, result)
    if output is not None:
        (Path(output) / "metrics.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return result


def evaluate_classifier(model: str, examples: list, settings: Settings, output: Path | None) -> dict:
    from core.classify import TransformersClassifier

    items = [e for e in examples if isinstance(e, ClassificationExample)]
    if not items:
        raise ConfigError("classification eval needs rows with text and label")
    clf = TransformersClassifier(registry.resolve(model, settings, "classification").path)
    unknown = sorted({e.label for e in items} - set(clf.labels))
    if unknown:
        raise ConfigError(f"test labels the model does not know: {', '.join(unknown[:10])}")
    preds = [p.label for p in clf.predict([e.text for e in items])]
    scores = classification_scores([e.label for e in items], preds, clf.labels)
    if output is not None:
        scores["confusion_png"] = str(
            plot_confusion(scores["confusion_matrix"], clf.labels, Path(output) / "confusion.png")
        )
    scores["n"] = len(items)
    return scores


@torch.inference_mode()
def evaluate_lm(model: str, examples: list, settings: Settings, max_length: int = 1024) -> dict:
    """Mean loss per target token (assistant tokens for chat data) and perplexity, in fp32."""
    from core.data.chat_tokens import encode_chat
    from core.text import load_text_engine

    engine = load_text_engine(
        model,
        settings.model_copy(update={"text": settings.text.model_copy(update={"quantize": "none"})}),
        "transformers",
    )
    tok, lm = engine.tokenizer, engine.model
    total_loss, total_tokens = 0.0, 0
    for ex in examples:
        if isinstance(ex, ChatExample):
            enc = encode_chat(tok, ex.messages, max_length)
        elif isinstance(ex, TextExample):
            ids = tok(ex.text, add_special_tokens=False)["input_ids"][:max_length]
            enc = {"input_ids": ids, "labels": ids}
        else:
            raise ConfigError("LM eval needs chat, alpaca or text data")
        labels = torch.tensor([enc["labels"]])
        n = int((labels[:, 1:] != -100).sum())
        if n == 0:
            continue
        out = lm(input_ids=torch.tensor([enc["input_ids"]], device=lm.device), labels=labels.to(lm.device))
        total_loss += float(out.loss) * n
        total_tokens += n
    if total_tokens == 0:
        raise ConfigError("no target tokens to score in the test data")
    loss = total_loss / total_tokens
    return {"loss": loss, "perplexity": math.exp(loss), "tokens": total_tokens, "n": len(examples)}


def evaluate_generation(model: str, examples: list, settings: Settings, output: Path | None) -> dict:
    """Greedy answers to each example's prompt, scored against its reference answer."""
    from core.text import GenerationParams, load_text_engine

    engine = load_text_engine(model, settings)
    prompts, refs = [], []
    for ex in examples:
        if not isinstance(ex, ChatExample) or ex.messages[-1]["role"] != "assistant":
            raise ConfigError("generation eval needs chat/alpaca rows ending with the reference answer")
        prompts.append(list(ex.messages[:-1]))
        refs.append(ex.messages[-1]["content"])
    params = GenerationParams(max_new_tokens=256)
    preds = [engine.chat(p, params).text.strip() for p in prompts]
    engine.close()
    scores = generation_scores(preds, refs)
    if output is not None:
        with (Path(output) / "outputs.jsonl").open("w", encoding="utf-8") as f:
            for p, pred, ref in zip(prompts, preds, refs, strict=True):
                f.write(json.dumps({"prompt": p, "prediction": pred, "reference": ref}, ensure_ascii=False) + "\n")
    return scores
