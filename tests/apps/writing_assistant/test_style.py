"""Personal style: LoRA on the user's own TXT/MD/DOCX through core, held-out perplexity falls, and the run loads
by name like any model."""

from __future__ import annotations

import pytest

from apps.writing_assistant.config import SHARED_DATA
from apps.writing_assistant.style import documents_to_examples, train_style
from core.errors import InvalidRequestError
from tests.conftest import settings_in

pytestmark = pytest.mark.slow
SAMPLE = SHARED_DATA / "style_sample"


@pytest.fixture(scope="module")
def user_files(tmp_path_factory):
    from docx import Document

    folder = tmp_path_factory.mktemp("my-writing")
    doc = Document()
    for paragraph in (SAMPLE / "newsletter_3.txt").read_text().split("\n\n"):
        doc.add_paragraph(paragraph.strip())
    doc.save(folder / "newsletter_3.docx")
    return [SAMPLE / "newsletter_1.txt", SAMPLE / "newsletter_2.md", folder / "newsletter_3.docx"]


def test_documents_become_paragraph_aligned_examples(user_files):
    pieces = documents_to_examples(user_files)
    assert len(pieces) >= 5 and any("Raven Crag" in p for p in pieces)  # the DOCX was read
    assert all(not p.startswith(" ") and len(p.split()) <= 260 for p in pieces)


def test_style_run_lowers_held_out_perplexity_and_loads_by_name(user_files, tmp_path):
    from core.text import GenerationParams, load_text_engine

    settings = settings_in(tmp_path)
    result = train_style(user_files, "ridge-voice", settings, max_steps=8, learning_rate=1e-3, progress=False)
    assert result["held_out_chunks"] >= 1 and result["version"] == 1
    assert result["perplexity_after"] < 0.9 * result["perplexity_before"], result
    engine = load_text_engine("ridge-voice", settings)
    reply = engine.chat([{"role": "user", "content": "Write a line for the club newsletter."}], GenerationParams(8))
    assert reply.completion_tokens > 0


def test_too_little_writing_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidRequestError, match="give more of your writing"):
        train_style([SAMPLE / "newsletter_1.txt"], "tiny", settings_in(tmp_path))
