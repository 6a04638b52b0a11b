"""Scoring a speech-recognition model on a folder or a transcript table: WER for English, CER for Chinese (after
the normalisation stated in ``core.speech.text``), and the real-time factor.

Data layouts accepted: a TSV / CSV / PSV (``|``) file whose rows name an audio file (relative to the table or its
``wavs``/``wav``/``audio``/``clips`` sub-folder) and its transcript, with or without a header (a header names the
columns ``wav``/``audio``/``file``/``path`` and ``text``/``transcript``/``sentence``); or a folder holding such a
table, or audio files each with a ``.txt`` transcript beside it."""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.errors import InvalidRequestError
from core.speech.asr.base import ASREngine, TranscribeOptions
from core.speech.text import EN_NORMALISATION, ZH_NORMALISATION, edit_distance, error_tokens, has_cjk

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".m4a", ".opus", ".webm", ".aac", ".mp4")
TABLE_SUFFIXES = {".tsv": "\t", ".psv": "|", ".csv": ","}
_AUDIO_COLUMNS = ("wav", "audio", "file", "path", "filename", "audio_path")
_TEXT_COLUMNS = ("text", "transcript", "transcription", "sentence", "reference")


@dataclass(frozen=True)
class Clip:
    audio: Path
    text: str


def read_table(path: Path) -> list[Clip]:
    delimiter = TABLE_SUFFIXES.get(path.suffix.lower())
    if delimiter is None:
        raise InvalidRequestError(f"{path}: transcript tables must be .tsv, .csv or .psv")
    with path.open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.reader(f, delimiter=delimiter, quoting=csv.QUOTE_NONE if delimiter != "," else 0) if r]
    if not rows:
        raise InvalidRequestError(f"{path}: the table is empty")
    header = [c.strip().lower() for c in rows[0]]
    audio_col = next((header.index(c) for c in _AUDIO_COLUMNS if c in header), None)
    text_col = next((header.index(c) for c in _TEXT_COLUMNS if c in header), None)
    has_header = audio_col is not None and text_col is not None
    if has_header:
        rows = rows[1:]
    else:
        audio_col, text_col = 0, -1
    clips = []
    for line, row in enumerate(rows, 2 if has_header else 1):
        if len(row) < 2:
            raise InvalidRequestError(f"{path}:{line}: expected an audio file and its transcript, got {row!r}")
        clips.append(Clip(_audio_path(path.parent, row[audio_col].strip()), row[text_col].strip()))
    return clips


def _audio_path(folder: Path, name: str) -> Path:
    """The table's folder, or its usual audio sub-folder (LJSpeech lists ``LJ001-0001.wav`` for ``wavs/...``)."""
    for candidate in (folder / name, *(folder / sub / name for sub in ("wavs", "wav", "audio", "clips"))):
        if candidate.exists():
            return candidate
    return folder / name


def load_clips(data: str | Path) -> list[Clip]:
    """Clips from a table file or a folder (its one table, else audio files with .txt transcripts beside them)."""
    path = Path(data)
    if path.is_file():
        return read_table(path)
    if not path.is_dir():
        raise InvalidRequestError(f"{path}: no such file or folder")
    tables = sorted(p for p in path.iterdir() if p.suffix.lower() in TABLE_SUFFIXES and "transcript" in p.stem)
    tables = tables or sorted(p for p in path.iterdir() if p.suffix.lower() in (".tsv", ".psv"))
    if tables:
        return read_table(tables[0])
    clips = [
        Clip(a, a.with_suffix(".txt").read_text(encoding="utf-8").strip())
        for a in sorted(path.rglob("*"))
        if a.suffix.lower() in AUDIO_SUFFIXES and a.with_suffix(".txt").is_file()
    ]
    if not clips:
        raise InvalidRequestError(f"{path}: no transcript table (.tsv/.psv/.csv) and no audio files with .txt beside")
    return clips


@dataclass
class ClipScore:
    audio: str
    reference: str
    hypothesis: str
    errors: int
    tokens: int
    duration_s: float
    processing_s: float
    error: str | None = None


@dataclass
class EvalResult:
    model: str
    engine: str
    language: str
    metric: str  # WER | CER
    error_rate: float
    rtf: float
    clips: int
    audio_s: float
    normalisation: str
    failed: int = 0
    details: list[ClipScore] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def clips_language(clips: list[Clip]) -> str:
    """zh when the references are mostly Chinese characters, else en."""
    text = "".join(c.text for c in clips)
    return "zh" if sum(has_cjk(ch) for ch in text) > len(text) / 3 else "en"


def evaluate(
    engine: ASREngine, clips: list[Clip], language: str, options: TranscribeOptions | None = None
) -> EvalResult:
    """Corpus-level error rate (total errors / total reference tokens) and RTF; bad clips are reported, skipped."""
    options = options or TranscribeOptions(language=language)
    scores = []
    for clip in clips:
        try:
            t = engine.transcribe(clip.audio, options)
        except InvalidRequestError as exc:
            scores.append(ClipScore(clip.audio.name, clip.text, "", 0, 0, 0.0, 0.0, error=str(exc)))
            continue
        ref, hyp = error_tokens(clip.text, t.text, language)
        scores.append(
            ClipScore(clip.audio.name, clip.text, t.text, edit_distance(ref, hyp), len(ref), t.duration, t.processing_s)
        )
    ok = [s for s in scores if s.error is None]
    tokens = sum(s.tokens for s in ok)
    audio_s = sum(s.duration_s for s in ok)
    return EvalResult(
        model=engine.model,
        engine=engine.name,
        language=language,
        metric="CER" if language == "zh" else "WER",
        error_rate=sum(s.errors for s in ok) / tokens if tokens else 0.0,
        rtf=sum(s.processing_s for s in ok) / audio_s if audio_s else 0.0,
        clips=len(ok),
        audio_s=audio_s,
        normalisation=ZH_NORMALISATION if language == "zh" else EN_NORMALISATION,
        failed=len(scores) - len(ok),
        details=scores,
    )
