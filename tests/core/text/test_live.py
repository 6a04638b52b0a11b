"""A registered name in a running app (the support bot and the writing assistant load their chat model with
``load_text_engine``): its engine follows `llmeco models register | rollback` without a restart, a reply that is
being streamed finishes on the version it started with, and the replaced version is closed after it. Each answer
names the version that wrote it."""

from __future__ import annotations

from core.models import user_models
from core.text import GenerationParams, Request, load_text_engine
from core.text.live import LiveEngine

HI = [{"role": "user", "content": "Write a long story about a dragon."}]


def test_a_running_app_follows_the_registry_and_drains_the_old_version(versions_home):
    settings, (v1, v2, v3) = versions_home
    user_models.register(settings, v1, "writer-lm")
    engine = load_text_engine("writer-lm", settings)
    assert isinstance(engine, LiveEngine)
    try:
        first_answer = engine.chat(HI, GenerationParams(max_new_tokens=4))
        assert first_answer.completion_tokens > 0 and first_answer.model == "writer-lm@v1"
        assert engine.loaded() == ["writer-lm@v1"]
        first = engine._engines["writer-lm@v1"]

        user_models.register(settings, v2, "writer-lm")  # as `llmeco models register` from another shell
        stream = engine.stream(Request(messages=HI, params=GenerationParams(max_new_tokens=40, ignore_eos=True)))
        assert next(stream).text is not None  # a reply in flight on v2
        second = engine._engines["writer-lm@v2"]
        assert first.llm is None  # v1 was idle: closed as soon as the registry moved on
        user_models.register(settings, v3, "writer-lm")
        assert engine.chat(HI, GenerationParams(max_new_tokens=2)).model == "writer-lm@v3"  # the next call: v3
        assert engine.loaded() == ["writer-lm@v3"] and second.llm is not None  # v2 still streams
        rest = list(stream)
        assert rest[-1].finish_reason == "length" and rest[-1].completion_tokens == 40
        assert rest[-1].model == "writer-lm@v2"
        assert second.llm is None  # closed once its reply was done

        user_models.rollback(settings, "writer-lm", 1)
        engine.chat(HI, GenerationParams(max_new_tokens=2))
        assert engine.loaded() == ["writer-lm@v1"]
    finally:
        engine.close()


def test_a_forced_engine_gets_the_active_version_itself(versions_home):
    settings, (v1, *_) = versions_home
    user_models.register(settings, v1, "fixed-lm")
    engine = load_text_engine("fixed-lm", settings, "llamacpp")
    try:
        assert not isinstance(engine, LiveEngine) and engine.model_name == "fixed-lm"
    finally:
        engine.close()
