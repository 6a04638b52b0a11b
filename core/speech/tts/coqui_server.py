"""Coqui TTS behind an OpenAI-style ``POST /v1/audio/speech``, run from its own environment (``.venv-coqui``, built by
``make coqui``): coqui-tts imports torchaudio, whose wheels stop at torch 2.11, so it cannot share the main
environment's torch. This file imports only the standard library and what coqui-tts brings (TTS, torch, numpy,
soundfile; never ``core``), so it runs as a script; ``core/speech/tts/coqui_engine.py`` is its client.

    .venv-coqui/bin/python core/speech/tts/coqui_server.py [--port 5002] [--model-dir DIR]

``--model-dir``: a Coqui model folder (``config.json`` + ``model.pth``). Without it, a small VITS is initialised
from its own config with a fixed seed: untrained, so it speaks noise shaped like speech. It proves the wiring (text
in, WAV out, speed and voices honoured); no pretrained Coqui weights can be downloaded here.

Routes: ``GET /health`` -> ``{"model", "sample_rate", "voices"}``; ``POST /v1/audio/speech`` with JSON ``input``,
``voice``, ``speed`` (0.25-4.0), ``response_format`` (wav only) -> ``audio/wav``; errors are OpenAI-style JSON."""

from __future__ import annotations

import argparse
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import soundfile
import torch

DEFAULT_VOICE = "default"  # the only voice of a single-speaker model


def untrained_vits():
    """A small VITS (about 8 M parameters instead of 83 M) from Coqui's own config; seed 0, so always the same."""
    from TTS.tts.configs.vits_config import VitsArgs, VitsConfig
    from TTS.tts.models.vits import Vits

    args = VitsArgs(
        hidden_channels=96,
        hidden_channels_ffn_text_encoder=384,
        num_layers_text_encoder=3,
        upsample_initial_channel_decoder=128,
    )
    torch.manual_seed(0)
    return Vits(VitsConfig(model_args=args)), "vits-untrained"


def pretrained(folder: Path):
    """A trained Coqui model folder (``config.json`` + ``model.pth``)."""
    from TTS.config import load_config
    from TTS.tts.models import setup_model

    config = load_config(str(folder / "config.json"))
    model = setup_model(config)
    model.load_checkpoint(config, str(folder / "model.pth"), eval=True)
    return model, folder.name


class Synthesiser:
    """One model; a lock serialises calls, since speed is set on the model (VITS's length scale) per call."""

    def __init__(self, model, name: str):
        self.model, self.name = model.eval(), name
        self.sample_rate = int(model.config.audio.sample_rate)
        manager = getattr(model, "speaker_manager", None)
        self.voices = list(manager.speaker_names) if manager is not None and manager.num_speakers > 1 else []
        self.lock = threading.Lock()

    def wav(self, text: str, voice: str | None, speed: float) -> bytes:
        if voice not in (None, DEFAULT_VOICE, *self.voices):
            raise ValueError(f"unknown voice {voice!r}: this model has {', '.join(self.voices) or DEFAULT_VOICE}")
        if not 0.25 <= speed <= 4.0:
            raise ValueError(f"speed must be between 0.25 and 4.0, not {speed}")
        if not text.strip():
            raise ValueError("input is empty")
        speaker = voice if voice in self.voices else (self.voices[0] if self.voices else None)
        with self.lock, torch.inference_mode():
            self.model.length_scale = 1.0 / speed
            audio = np.asarray(self.model.synthesize(text, speaker=speaker)["wav"], dtype=np.float32)
        out = io.BytesIO()
        soundfile.write(out, np.clip(audio, -1.0, 1.0), self.sample_rate, format="WAV", subtype="PCM_16")
        return out.getvalue()


def handler(synth: Synthesiser) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def reply(self, status: int, body: bytes, media: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", media)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def error(self, status: int, message: str) -> None:
            body = {"error": {"message": message, "type": "invalid_request_error"}}
            self.reply(status, json.dumps(body).encode(), "application/json")

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path != "/health":
                return self.error(404, f"no route {self.path}")
            info = {"model": synth.name, "sample_rate": synth.sample_rate, "voices": synth.voices or [DEFAULT_VOICE]}
            self.reply(200, json.dumps(info).encode(), "application/json")

        def do_POST(self) -> None:  # noqa: N802
            if self.path != "/v1/audio/speech":
                return self.error(404, f"no route {self.path}")
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if body.get("response_format", "wav") != "wav":
                    raise ValueError("response_format must be wav (the client encodes other formats)")
                data = synth.wav(str(body.get("input", "")), body.get("voice"), float(body.get("speed", 1.0)))
            except (ValueError, TypeError) as exc:  # bad JSON, bad values
                return self.error(400, str(exc))
            self.reply(200, data, "audio/wav")

        def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
            pass  # quiet: the client reports errors

    return Handler


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5002)
    ap.add_argument("--model-dir", type=Path, help="a trained Coqui model folder (default: an untrained VITS)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    synth = Synthesiser(*(pretrained(args.model_dir) if args.model_dir else untrained_vits()))
    server = ThreadingHTTPServer((args.host, args.port), handler(synth))
    print(f"Coqui TTS ({synth.name}, {synth.sample_rate} Hz) at http://{args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
