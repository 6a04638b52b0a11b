"""The outline is decoded under a JSON Schema: exactly n distinct titles, even from the smallest model."""

from __future__ import annotations

import json

import pytest

from apps.writing_assistant.writer import Brief, Writer, outline_schema
from core.text.constraints import Constraint

pytestmark = pytest.mark.slow


def test_outline_is_schema_valid_json(writer_settings, llamacpp_engine):
    """SmolLM2 (English only; the Chinese path is the same code) on llama.cpp keeps the test fast."""
    writer = Writer(writer_settings, engine=llamacpp_engine)
    brief = Brief(kind="article", topic="keeping bees in a city", length=300)
    titles = writer.outline(brief, sections=3)
    assert len(titles) == 3 and len(set(titles)) == 3
    template_plan = writer.validate(brief).plan("en", 3)
    assert titles != template_plan  # the model's own titles, not the fallback
    assert Constraint.json_schema(outline_schema(3)).accepts(json.dumps({"sections": titles}))
