"""Speech test data: clips from ../shared/datasets (tests skip when absent), and the Coqui TTS server. The models
are in tests/conftest.py."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

DATASETS = Path(__file__).resolve().parents[4] / "shared" / "datasets"
JFK = DATASETS / "asr_en_whisper_jfk" / "jfk.flac"
JFK_TEXT = (
    "And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
)
AISHELL = DATASETS / "asr_zh_aishell1" / "wav" / "BAC009S0764W0121.wav"
AISHELL_TEXT = "甚至出现交易几乎停滞的情况"


def dataset(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared/datasets)")
    return path


@pytest.fixture(scope="session")
def jfk() -> Path:
    return dataset(JFK)


@pytest.fixture(scope="session")
def aishell() -> Path:
    return dataset(AISHELL)


def audioeval_clips(language: str) -> Path:
    """The clips the ``pytest-audioeval`` package ships (16 kHz WAV, ``.txt`` transcript beside each)."""
    from core.models.embedded import package_dir

    found = package_dir("pytest_audioeval")
    if found is None:
        pytest.skip("pytest-audioeval is not installed (dev dependency)")
    return found / "samples" / "audio" / language


COQUI_PYTHON = Path(__file__).resolve().parents[3] / ".venv-coqui" / "bin" / "python"


@contextlib.contextmanager
def coqui_server() -> Iterator[str]:
    """The real Coqui TTS server (``core/speech/tts/coqui_server.py``, an untrained VITS) started from its own
    environment on a free port; yields its URL."""
    from tests.conftest import serving

    if not COQUI_PYTHON.exists():
        pytest.skip(f"{COQUI_PYTHON} is absent: `make coqui` builds the Coqui environment")
    script = Path(__file__).resolve().parents[3] / "core" / "speech" / "tts" / "coqui_server.py"
    with serving([str(COQUI_PYTHON), str(script), "--threads", "1"]) as url:
        yield url
