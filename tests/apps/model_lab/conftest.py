"""Model Lab fixtures: settings whose home is a temporary folder (runs, uploads, registered names) while the model
cache stays the real one, linked in as ``home/models`` so no model is converted again."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Settings, load_settings


def lab_settings_in(home: Path) -> Settings:
    real_models = load_settings().models_dir
    (home / "models").symlink_to(real_models, target_is_directory=True)
    return load_settings(None, [f"home={home}"])


@pytest.fixture
def lab_settings(tmp_path) -> Settings:
    return lab_settings_in(tmp_path)
