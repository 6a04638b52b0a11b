import gradio as gr
import pytest

from apps.playground.ui import chat_stream
from apps.portal import build_portal
from core.serving.pool import ModelPool

pytestmark = pytest.mark.slow


def test_portal_builds_with_playground_tab(settings):
    portal = build_portal(settings)
    assert isinstance(portal, gr.Blocks)
    config = portal.get_config_file()
    labels = [c.get("props", {}).get("label") for c in config["components"]]
    assert "Chat playground" in labels


def test_playground_streams_growing_answer(settings, transformers_engine):
    pool = ModelPool(settings)
    pool.adopt("smollm2-135m-instruct", engine=transformers_engine)
    history = [
        {"role": "user", "content": "Hi, I am planning a trip."},
        {"role": "assistant", "content": "Great! Where to?"},
    ]
    steps = list(
        chat_stream(
            pool,
            "What is the capital of France?",
            history,
            "smollm2-135m-instruct",
            "auto",
            "Be brief.",
            48,
            0.0,
        )
    )
    assert len(steps) > 3
    assert all(steps[i + 1].startswith(steps[i]) for i in range(len(steps) - 1))
    assert "Paris" in steps[-1]


def test_playground_errors_are_shown_not_raised(settings):
    pool = ModelPool(settings)
    with pytest.raises(gr.Error, match="Registered models"):
        list(chat_stream(pool, "hi", [], "gpt-17", "auto", "", 16, 0.0))
    with pytest.raises(gr.Error):
        list(chat_stream(pool, "   ", [], "smollm2-135m-instruct", "auto", "", 16, 0.0))
