import json

import pytest
from safetensors import safe_open

from core.errors import ModelLoadError, ModelNotAvailableError, UnknownModelError
from core.models import registry
from core.models.embedded import SplitCheckpoint, sha256_of

EMBEDDED = {
    "smollm2-135m-instruct",
    "whisper-tiny.en",
    "whisper-base",
    "piper-en-us-joe-medium",
    "all-minilm-l6-v2",
}


def test_every_embedded_model_is_registered_with_metadata():
    specs = {s.name: s for s in registry.all_specs()}
    assert set(specs) >= EMBEDDED
    for name in EMBEDDED:
        s = specs[name]
        assert s.license and s.source and s.size_mb > 0 and s.languages


def test_all_embedded_models_are_ready_after_setup(settings):
    for name in EMBEDDED:
        assert registry.status(registry.get(name), settings).ready, name


def test_unknown_name_lists_known_names(settings):
    with pytest.raises(UnknownModelError) as info:
        registry.resolve("gpt-17", settings, "text-generation")
    for name in EMBEDDED:
        assert name in str(info.value)


def test_wrong_task_is_refused(settings):
    with pytest.raises(UnknownModelError, match="asr model"):
        registry.resolve("whisper-base", settings, "text-generation")


def test_uncached_hub_id_offline_names_model_and_remedy(settings, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailableError) as info:
        registry.resolve("some-org/not-a-real-model", settings, "text-generation")
    assert "some-org/not-a-real-model" in str(info.value)
    assert "hf download" in str(info.value)


def test_local_folder_resolves_to_itself(settings, tmp_path):
    assert registry.resolve(str(tmp_path), settings, "text-generation").path == tmp_path


def test_smollm2_converted_to_safetensors(settings):
    files = registry.prepare("smollm2-135m-instruct", settings, dtype="float32")
    assert files.gguf.suffix == ".gguf"
    st = files.path / "model.safetensors"
    with safe_open(str(st), "pt") as f:
        keys = list(f.keys())
        assert any("embed_tokens" in k for k in keys)
        assert str(f.get_tensor(keys[0]).dtype) == "torch.float32"
    config = json.loads((files.path / "config.json").read_text())
    assert "quantization_config" not in config
    assert (files.path / "tokenizer.json").exists()
    assert not list(files.path.glob("*.bin"))  # no pickled weights


def test_whisper_base_joined_and_verified(settings):
    spec = registry.get("whisper-base")
    files = registry.prepare("whisper-base", settings)
    assert sha256_of([files.path / "model.bin"]) == spec.provider.sha256
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        assert (files.path / name).exists()


def test_damaged_parts_fail_the_checksum(settings, tmp_path):
    real = registry.get("whisper-base").provider
    damaged = SplitCheckpoint(
        pip_package=real.pip_package,
        part_packages=real.part_packages,
        part_files=real.part_files,
        data_dir=real.data_dir,
        sha256="0" * 64,
        cache_name="whisper-damaged",
    )
    with pytest.raises(ModelLoadError, match="SHA-256"):
        damaged.files(tmp_path)
    assert not (tmp_path / "whisper-damaged").exists()  # nothing half-written is left behind


QWEN = ["qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"]


@pytest.mark.parametrize("name", QWEN)
def test_opt_in_chinese_chat_model_is_registered_but_not_required(settings, name):
    spec = registry.get(name)
    assert spec.optional and "zh" in spec.languages and spec.engine == "llamacpp"
    assert spec.name not in EMBEDDED  # `make setup` skips it unless its packages are installed


@pytest.mark.slow
@pytest.mark.parametrize("name", QWEN)
def test_opt_in_qwen_gguf_joined_verified_and_speaks_chinese(settings, name):
    spec = registry.get(name)
    if not spec.provider.installed():
        pytest.skip(f"opt-in model not installed: `llmeco models install {name}`")
    files = registry.prepare(spec.name, settings)
    assert files.gguf == files.path and files.path.name == "model.gguf"
    assert sha256_of([files.path]) == spec.provider.sha256
    assert not any(p.name.startswith("part") for p in files.path.parent.iterdir())  # parts are not copied

    from core.text import GenerationParams, load_text_engine

    engine = load_text_engine(spec.name, settings)  # registered GGUF model: auto picks llama.cpp
    assert engine.engine_name == "llamacpp"
    reply = engine.chat(
        [{"role": "user", "content": "中国的首都是哪里？请用中文回答。"}], GenerationParams(max_new_tokens=24)
    )
    assert "北京" in reply.text
    engine.close()
