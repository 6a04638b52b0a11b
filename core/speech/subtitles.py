"""Transcript output formats: TXT, SRT, VTT, JSON (segments and words), as openai-whisper writes them."""

from __future__ import annotations

import json

from core.errors import InvalidRequestError
from core.speech.asr.base import Transcript

FORMATS = ("txt", "srt", "vtt", "json")


def timestamp(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_txt(t: Transcript) -> str:
    return t.text + "\n" if t.text else ""


def to_srt(t: Transcript) -> str:
    blocks = [
        f"{i}\n{timestamp(s.start, ',')} --> {timestamp(s.end, ',')}\n{s.text.strip()}\n"
        for i, s in enumerate(t.segments, 1)
    ]
    return "\n".join(blocks)


def to_vtt(t: Transcript) -> str:
    cues = [f"{timestamp(s.start, '.')} --> {timestamp(s.end, '.')}\n{s.text.strip()}\n" for s in t.segments]
    return "WEBVTT\n\n" + "\n".join(cues)


def to_json(t: Transcript) -> str:
    return json.dumps(t.to_dict(), ensure_ascii=False, indent=2) + "\n"


def render(t: Transcript, fmt: str) -> str:
    writers = {"txt": to_txt, "srt": to_srt, "vtt": to_vtt, "json": to_json}
    if fmt not in writers:
        raise InvalidRequestError(f"format {fmt!r} is not supported: use one of {', '.join(FORMATS)}")
    return writers[fmt](t)
