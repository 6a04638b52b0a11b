"""A short CPU fine-tuning run on a handful of clips lowers WER on them, and the result (converted back to
CTranslate2) is served by faster-whisper like any model."""

from __future__ import annotations

import json

import pytest

from core.speech.asr import TranscribeOptions, load_asr_engine
from core.speech.asr.finetune import FinetuneConfig, finetune
from core.speech.evaluate import evaluate, load_clips
from tests.core.speech.conftest import DATASETS, dataset

pytestmark = pytest.mark.slow
HARD = ("LJ001-0021", "LJ001-0023", "LJ001-0026", "LJ001-0031")  # clips whisper-tiny.en gets wrong (names, years)


def test_finetuning_lowers_wer_on_its_clips(settings, tiny_en, tmp_path):
    table = dataset(DATASETS / "asr_en_ljspeech_subset" / "transcripts.psv")
    clips = [c for c in load_clips(table) if c.audio.stem in HARD]
    options = TranscribeOptions(language="en")
    before = evaluate(tiny_en, clips, "en", options).error_rate
    assert before > 0.05
    tuned = finetune("whisper-tiny.en", clips, tmp_path / "run", settings, FinetuneConfig(steps=4))
    losses = json.loads((tmp_path / "run" / "finetune.json").read_text())["losses"]
    assert losses[-1] < losses[0] / 10
    after = evaluate(load_asr_engine(str(tuned), settings), clips, "en", options).error_rate
    assert after < before / 2
