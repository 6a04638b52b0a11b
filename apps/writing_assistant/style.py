"""Personal style: fine-tune a writing model on the user's own documents (TXT, MD, DOCX) with LoRA through
``core.training``, register the run under a name and select it like any model (`llmeco write ... --model NAME`).

Documents become plain-text examples of about ``CHUNK`` words (Chinese: characters) cut at paragraph ends; every
fifth chunk is held out so the run reports the held-out perplexity of the user's style before and after."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from apps.writing_assistant.config import writer_home
from apps.writing_assistant.export import read_document
from apps.writing_assistant.textutil import count, detect_language
from core.config import Settings
from core.errors import InvalidRequestError

CHUNK = {"en": 180, "zh": 360}
HELD_OUT_EVERY = 5


def chunks(text: str) -> list[str]:
    """Paragraph-aligned pieces of about CHUNK units (a single longer paragraph stays whole)."""
    lang = detect_language(text)
    out, current = [], ""
    for paragraph in (p.strip() for p in re.split(r"\n\s*\n", text)):
        if not paragraph:
            continue
        if current and count(current, lang) + count(paragraph, lang) > CHUNK[lang]:
            out.append(current)
            current = ""
        current = f"{current}\n\n{paragraph}" if current else paragraph
    if current:
        out.append(current)
    return out


def documents_to_examples(files: list[Path]) -> list[str]:
    pieces: list[str] = []
    for path in files:
        if not Path(path).is_file():
            raise InvalidRequestError(f"{path}: no such file")
        pieces += chunks(read_document(Path(path).read_bytes(), str(path)))
    return pieces


def train_style(
    files: list[Path],
    name: str,
    settings: Settings,
    *,
    base: str = "smollm2-135m-instruct",
    max_steps: int | None = None,
    learning_rate: float | None = None,
    progress: bool = True,
) -> dict:
    """Train, measure held-out perplexity before/after, register ``name``; returns the figures and the run."""
    from core.data.examples import TextExample
    from core.models import user_models
    from core.training.config import TrainConfig
    from core.training.evaluate import evaluate_lm
    from core.training.trainer import train

    if not re.fullmatch(r"[A-Za-z0-9][\w.-]{0,63}", name or ""):
        raise InvalidRequestError(f"name {name!r}: use letters, digits, '.', '-' or '_' (at most 64)")
    pieces = documents_to_examples(files)
    if len(pieces) < HELD_OUT_EVERY:
        raise InvalidRequestError(
            f"{len(pieces)} text chunk(s) of about {CHUNK['en']} words: give more of your writing (at least "
            f"{HELD_OUT_EVERY} chunks, e.g. a few pages) so some can be held out to measure the style"
        )
    held_out = pieces[HELD_OUT_EVERY - 1 :: HELD_OUT_EVERY]
    training = [p for i, p in enumerate(pieces) if (i + 1) % HELD_OUT_EVERY]
    folder = writer_home(settings) / "style" / name
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "train.jsonl"
    data.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in training), encoding="utf-8")
    held = [TextExample(t) for t in held_out]
    before = evaluate_lm(base, held, settings)["perplexity"]
    cfg = TrainConfig(
        model=base,
        data=str(data),
        format="text",
        method="lora",
        name=f"style-{name}-{time.strftime('%Y%m%d-%H%M%S')}",
        max_steps=max_steps,
        learning_rate=learning_rate,
        val_fraction=0.0,
        early_stopping_patience=None,
        max_length=512,
    )
    result = train(cfg, settings, progress=progress)
    after = evaluate_lm(str(result.run_dir), held, settings)["perplexity"]
    version = user_models.register(settings, result.run_dir, name)
    return {
        "name": name,
        "version": version,
        "run_dir": str(result.run_dir),
        "base": base,
        "train_chunks": len(training),
        "held_out_chunks": len(held_out),
        "perplexity_before": round(before, 3),
        "perplexity_after": round(after, 3),
        "steps": result.metrics.get("steps"),
    }
