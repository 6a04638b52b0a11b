"""The speech studio's REST API: OpenAI's ``POST /v1/audio/transcriptions`` and ``POST /v1/audio/speech`` (the
same routes as ``llmeco serve``, from ``core.serving.audio``) and ``GET /health``, so the studio runs as its own
service (container) next to the model server."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from core.config import Settings
from core.errors import LLMEcoError
from core.serving.audio import audio_router
from core.serving.guard import error_status
from core.serving.health import ModelHealth
from core.serving.metrics import instrument
from core.speech.config import SpeechSettings


def create_api(settings: Settings) -> FastAPI:
    """The API over the configured speech engines (loaded on first use)."""
    speech = SpeechSettings.from_settings(settings)
    api = FastAPI(title="Speech studio", description="Transcription and speech synthesis (OpenAI-compatible).")
    metrics = instrument(api)

    @api.exception_handler(LLMEcoError)
    def _user_error(_: Request, exc: LLMEcoError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=error_status(exc))

    models = ModelHealth()

    @api.get("/health")
    def health() -> dict:
        """``status`` "degraded" (still 200: the other engine still serves) while a model has failed to load, with
        why in ``failed``; the same shape as the model server's (``core/serving/health.py``)."""
        return models.health(asr_model=speech.asr_model, tts_engine=speech.tts_engine)

    api.include_router(audio_router(settings, metrics, models))
    return api
