"""The demo portal: one Gradio page with a tab per app (discovered, see ``apps/__init__.py``)."""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from apps import app_modules  # noqa: E402
from core.config import Settings  # noqa: E402
from core.governance.ui_cache import blocks_options  # noqa: E402


def build_portal(settings: Settings | None = None) -> gr.Blocks:
    settings = settings or Settings()
    with gr.Blocks(title="llm-ecosystem", **blocks_options(settings)) as portal:
        gr.Markdown("# llm-ecosystem\nLocal language models and the apps built on them. 中文 / English.")
        with gr.Tabs():
            for module in app_modules("ui"):
                with gr.Tab(module.TITLE):
                    module.build(settings)
    return portal
