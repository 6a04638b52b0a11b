"""Shared fixtures: real models, loaded once per session. The model cache is the user's LLMECO_HOME (filled by
`make test` via `llmeco models prepare`), so conversions are not redone per run."""

from __future__ import annotations

import os
import socket
import threading
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a model hub
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest  # noqa: E402

from core.config import Settings, load_settings  # noqa: E402


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def llamacpp_engine(settings):
    from core.text import load_text_engine

    engine = load_text_engine("smollm2-135m-instruct", settings, engine="llamacpp")
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def transformers_engine(settings):
    from core.text import load_text_engine

    return load_text_engine("smollm2-135m-instruct", settings, engine="transformers")


@pytest.fixture(scope="session")
def embedder(settings):
    from core.embeddings import load_embedder

    return load_embedder("all-minilm-l6-v2", settings)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """A real uvicorn server on a free port, in a background thread."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.time() + 60
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="session")
def server(settings, transformers_engine, embedder):
    """Our OpenAI-compatible server over the default engine for SmolLM2 (transformers) and MiniLM."""
    from core.serving.app import create_app
    from core.serving.pool import ModelPool

    pool = ModelPool(settings, default_model="smollm2-135m-instruct")
    pool.adopt("smollm2-135m-instruct", engine=transformers_engine)
    pool.adopt("all-minilm-l6-v2", embedder=embedder)
    with ServerThread(create_app(settings, pool)) as srv:
        yield srv
