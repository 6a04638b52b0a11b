"""Shared fixtures: real models, loaded once per session. The model cache is the user's LLMECO_HOME (filled by
`make test` via `llmeco models prepare`), so conversions are not redone per run."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a model hub
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest  # noqa: E402

from core.config import Settings, load_settings  # noqa: E402


def settings_in(home, **values) -> Settings:
    """Settings whose LLMECO_HOME is ``home`` (runs, stores, knowledge bases) while the prepared model cache
    stays the user's, linked in as ``home/models`` so nothing is converted again. ``values``: dotted settings."""
    from pathlib import Path

    (Path(home) / "models").symlink_to(load_settings().models_dir, target_is_directory=True)
    return load_settings(values={"home": str(home), **values})


IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_collection_modifyitems(config, items) -> None:
    """``gpu`` tests run only where CUDA is (``.ci/gpu`` runs them on a GPU host)."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    import torch

    if not torch.cuda.is_available():
        for item in gpu_items:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device (run .ci/gpu on a GPU host)"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI=true a skip hides a missing package or service, so it fails the run (GPU tests excepted):
    CI must install what the tests need (.ci/apt-packages.txt, the Makefile's extras)."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail") and not item.get_closest_marker("gpu"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which allows no skips but GPU tests: {reason}"


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


@contextlib.contextmanager
def ui_running(build):
    """A Gradio UI, ``build()``, on a free port in this process; yields its URL. Skips without Debian chromium,
    which the browser tests that use it drive."""
    import shutil

    if not shutil.which("chromium"):
        pytest.skip("Debian chromium is not installed (apt-get install chromium; .ci/run does this)")
    port = free_port()
    ui = build()
    ui.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        ui.close()


def portal_running(settings: Settings):
    """The demo portal (every app's tab), see ``ui_running``."""
    from apps.portal import build_portal

    return ui_running(lambda: build_portal(settings))


def wait_until_serving(url: str, proc, timeout: float, output=None) -> None:
    """Wait for ``url`` (a health route) to answer 200 from the server process ``proc``; fail with its output
    (``output``, a binary file it writes to, else its stdout pipe) if it exits or takes longer than ``timeout`` s."""
    import httpx

    deadline = time.time() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            if output is None:
                said = proc.stdout.read()
            else:
                output.seek(0)
                said = output.read().decode(errors="replace")
            pytest.fail(f"the server at {url} did not start:\n{said[-3000:]}")
        time.sleep(0.5)


@contextlib.contextmanager
def serving(command: list[str], env: dict[str, str] | None = None, timeout: float = 180) -> Iterator[str]:
    """``command --port PORT`` (a server) in its own process: its URL once /health answers 200; stopped after.
    Its output goes to a file, so a chatty server never blocks on a full pipe, and is shown if it does not start."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([*command, "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            wait_until_serving(f"{url}/health", proc, timeout, log)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=60)


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


# Speech (issue 10): the embedded speech models, loaded once per session.
@pytest.fixture(scope="session")
def tiny_en(settings):
    from core.speech.asr import load_asr_engine

    return load_asr_engine("whisper-tiny.en", settings)


@pytest.fixture(scope="session")
def whisper_base(settings):
    from core.speech.asr import load_asr_engine

    return load_asr_engine("whisper-base", settings)


@pytest.fixture(scope="session")
def piper(settings):
    from core.speech.tts import load_tts_engine

    return load_tts_engine("piper", settings)
