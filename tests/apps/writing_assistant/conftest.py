"""Writing-assistant fixtures: the default chat model loaded once per session (Qwen2.5-Coder-1.5B when installed,
as `make test` does), and a writer whose store lives in a scratch LLMECO_HOME."""

from __future__ import annotations

import pytest

from tests.conftest import settings_in


@pytest.fixture(scope="session")
def chat_engine(settings):
    from core.models.registry import default_chat_model
    from core.text import load_text_engine

    engine = load_text_engine(default_chat_model(), settings)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def writer_settings(tmp_path_factory):
    return settings_in(tmp_path_factory.mktemp("writer-home"))


@pytest.fixture(scope="session")
def lazy_writer(writer_settings):
    """A writer that never loads a model: for the paths that must fail before generating."""
    from apps.writing_assistant.writer import Writer

    return Writer(writer_settings, model="no-model-needed")


@pytest.fixture(scope="session")
def writer(writer_settings, chat_engine):
    from apps.writing_assistant.writer import Writer

    return Writer(writer_settings, engine=chat_engine)
