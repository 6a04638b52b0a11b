"""Model Lab fixtures: settings whose home is a temporary folder (runs, uploads, registered names) while the model
cache stays the real one, linked in as ``home/models`` so no model is converted again."""

from __future__ import annotations

import pytest

from core.config import Settings
from tests.conftest import settings_in


@pytest.fixture
def lab_settings(tmp_path) -> Settings:
    return settings_in(tmp_path)
