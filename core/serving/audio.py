"""OpenAI-compatible audio routes: ``POST /v1/audio/transcriptions`` (multipart ``file``, ``model``,
``response_format`` json|text|srt|vtt|verbose_json, ``language``, ``prompt``) and ``POST /v1/audio/speech``
(``input``, ``voice``, ``response_format`` wav|mp3, ``speed``). OpenAI's model and voice names (``whisper-1``,
``tts-1``, ``alloy``...) map to the configured defaults, so the official client works unchanged."""

from __future__ import annotations

import threading
import time
from typing import Literal

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from core.config import Settings
from core.errors import InvalidRequestError
from core.models import registry
from core.serving.health import ModelHealth
from core.serving.metrics import ServiceMetrics
from core.speech.asr import ASREngine, load_asr_engine, options_from
from core.speech.audio import encode
from core.speech.config import SpeechSettings
from core.speech.subtitles import render
from core.speech.tts import ENGINES, TTSEngine, load_tts_engine, speech_options

ROUTES = {"/v1/audio/transcriptions", "/v1/audio/speech"}
OPENAI_ASR_MODELS = {"whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"}
OPENAI_TTS_MODELS = {"tts-1", "tts-1-hd", "gpt-4o-mini-tts"}
OPENAI_VOICES = {"alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse"}
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
MAX_SPEECH_CHARS = 4096


class SpeechRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: str = Field(min_length=1, max_length=MAX_SPEECH_CHARS)  # OpenAI's limit: bounds synthesis time
    model: str = "tts-1"
    voice: str = "alloy"
    response_format: Literal["wav", "mp3"] = "mp3"
    speed: float = 1.0
    instructions: str | None = None  # accepted for compatibility; our engines have no style prompts


class SpeechModels:
    """Loaded ASR and TTS engines, one of each per name; a lock per engine serialises use of it. Failed loads are
    counted in ``metrics`` and, by model name (the ASR model, the TTS engine), kept in ``health`` until they load."""

    def __init__(self, settings: Settings, metrics: ServiceMetrics, health: ModelHealth | None = None):
        self.settings, self.metrics = settings, metrics
        self.health = health or ModelHealth()
        self._engines: dict[str, tuple[ASREngine | TTSEngine, threading.Lock]] = {}
        self._lock = threading.Lock()

    def _get(self, key: str, model: str, load) -> tuple:
        with self._lock:
            if key not in self._engines:
                try:
                    self._engines[key] = (self.health.load(model, load), threading.Lock())
                except Exception as exc:
                    self.metrics.load_failed(key, exc)
                    raise
            return self._engines[key]

    def asr(self, model: str | None) -> tuple[ASREngine, threading.Lock]:
        name = None if model in (None, "", *OPENAI_ASR_MODELS) else model
        shown = name or SpeechSettings.from_settings(self.settings).asr_model
        return self._get(f"asr:{name}", shown, lambda: load_asr_engine(name, self.settings))

    def tts(self, model: str, voice: str) -> tuple[TTSEngine, str | None]:
        """(engine, voice): ``model`` names an engine (piper, espeak, coqui) or a registered voice; OpenAI names mean
        the configured default."""
        spec = registry.find(model)
        if model in ENGINES:
            engine = model
        elif spec is not None and spec.task == "tts":
            engine, voice = "piper", model if voice in OPENAI_VOICES else voice
        elif model in OPENAI_TTS_MODELS:
            engine = SpeechSettings.from_settings(self.settings).tts_engine
        else:
            raise InvalidRequestError(
                f"unknown speech model {model!r}: use tts-1, {', '.join(ENGINES)} or a registered voice"
            )
        loaded, _ = self._get(f"tts:{engine}", engine, lambda: load_tts_engine(engine, self.settings))
        return loaded, None if voice in OPENAI_VOICES else voice


def audio_router(settings: Settings, metrics: ServiceMetrics, health: ModelHealth | None = None) -> APIRouter:
    """The audio routes; real-time factors and failed model loads go to ``metrics``, loads and why they failed to
    ``health`` (for the service's /health)."""
    router = APIRouter()
    models = SpeechModels(settings, metrics, health)
    limit = SpeechSettings.from_settings(settings).max_duration_s

    @router.post("/v1/audio/transcriptions")
    async def transcriptions(
        file: UploadFile = File(...),
        model: str = Form("whisper-1"),
        response_format: Literal["json", "text", "srt", "vtt", "verbose_json"] = Form("json"),
        language: str | None = Form(None),
        prompt: str | None = Form(None),
        temperature: float = Form(0.0),  # accepted; decoding is beam search
    ):
        data = await file.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise InvalidRequestError(f"{file.filename}: larger than the {MAX_UPLOAD_BYTES >> 20} MB upload limit")
        engine, lock = await run_in_threadpool(models.asr, model)
        options = options_from(
            settings,
            language=language or None,
            initial_prompt=prompt or None,
            word_timestamps=response_format == "verbose_json" or None,
        )

        def run():
            with lock:
                return engine.transcribe(data, options, name=file.filename or "upload", max_duration_s=limit)

        t = await run_in_threadpool(run)
        metrics.observe_rtf("asr", engine.model, t.processing_s, t.duration)
        if response_format == "json":
            return {"text": t.text}
        if response_format == "verbose_json":
            words = [w.__dict__ | {"word": w.word.strip()} for s in t.segments for w in s.words]
            segments = [
                {
                    "id": s.id,
                    "start": s.start,
                    "end": s.end,
                    "text": s.text,
                    "avg_logprob": s.avg_logprob,
                    "no_speech_prob": s.no_speech_prob,
                    "temperature": 0.0,
                }
                for s in t.segments
            ]
            return JSONResponse(
                {
                    "task": t.task,
                    "language": t.language,
                    "duration": t.duration,
                    "text": t.text,
                    "segments": segments,
                    "words": words,
                }
            )
        media = {"text": "text/plain", "srt": "application/x-subrip", "vtt": "text/vtt"}[response_format]
        return PlainTextResponse(render(t, "txt" if response_format == "text" else response_format), media_type=media)

    @router.post("/v1/audio/speech")
    async def speech(body: SpeechRequest) -> Response:
        engine, voice = await run_in_threadpool(models.tts, body.model, body.voice)
        options = speech_options(settings, voice=voice, speed=body.speed)
        started = time.perf_counter()
        audio = await run_in_threadpool(engine.synthesize, body.input, options)
        metrics.observe_rtf("tts", engine.name, time.perf_counter() - started, audio.size / engine.sample_rate)
        data = await run_in_threadpool(encode, audio, engine.sample_rate, body.response_format)
        return Response(data, media_type="audio/wav" if body.response_format == "wav" else "audio/mpeg")

    return router
