"""``llmeco speech ...``: transcribe files to TXT/SRT/VTT/JSON, speak text to WAV/MP3, score a model on data.

Contracts (scripts call these exactly):
``llmeco speech transcribe FILE... [--model NAME] [--format txt|srt|vtt|json] [--language xx]
[--task transcribe|translate] [--output-dir DIR]``, ``llmeco speech say "text" -o out.wav [--voice NAME]
[--speed X] [--engine piper|coqui|espeak]``, ``llmeco speech eval --model M --data DIR_OR_TSV [--json]``;
also ``train`` (fine-tune on your clips), ``convert`` (CTranslate2 -> Hugging Face), ``serve`` (REST API and UI)
and ``ui``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.progress import Progress
from rich.table import Table

from core.cli import console, err_console, settings_from
from core.errors import InvalidRequestError
from core.serving.guard import ui_options
from core.speech.asr import load_asr_engine, options_from
from core.speech.audio import write_audio
from core.speech.config import SpeechSettings
from core.speech.subtitles import FORMATS, render
from core.speech.tts import load_tts_engine, speech_options

COMMAND = "speech"
app = typer.Typer(help="Speech: transcribe and subtitle audio, speak text, evaluate recognition, the speech UI.")
SET_OPTION = typer.Option(None, "--set", help="Setting as key=value (repeatable), e.g. apps.speech.beam_size=1")


@app.command()
def transcribe(
    files: list[Path] = typer.Argument(..., help="Audio or video files (anything ffmpeg reads)."),
    model: str | None = typer.Option(None, "--model", "-m", help="ASR model (default apps.speech.asr_model)."),
    fmt: str = typer.Option("txt", "--format", "-f", help="txt | srt | vtt | json"),
    language: str | None = typer.Option(None, "--language", "-l", help="Language code, e.g. en, zh (default: detect)."),
    task: str = typer.Option("transcribe", "--task", help="transcribe | translate (to English)"),
    output_dir: Path | None = typer.Option(None, "--output-dir", "-o", help="Write DIR/<name>.<format> per file."),
    word_timestamps: bool = typer.Option(False, "--word-timestamps", help="Word timings in JSON output."),
    prompt: str | None = typer.Option(None, "--prompt", help="Initial prompt: context and spellings."),
    hotwords: str | None = typer.Option(None, "--hotwords", help="Words to favour (names, jargon)."),
    denoise: bool | None = typer.Option(None, "--denoise/--no-denoise", help="Spectral-gating noise reduction."),
    vad: bool | None = typer.Option(None, "--vad/--no-vad", help="Skip silence with Silero VAD (default on)."),
    overrides: list[str] = SET_OPTION,
) -> None:
    """Transcribe files; a bad file is reported and the batch goes on (exit status 1 if any failed)."""
    if fmt not in FORMATS:
        raise InvalidRequestError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    settings = settings_from(overrides)
    options = options_from(
        settings,
        language=language,
        task=task,
        word_timestamps=word_timestamps or None,
        initial_prompt=prompt,
        hotwords=hotwords,
        denoise=denoise,
        vad=vad,
    )
    limit = SpeechSettings.from_settings(settings).max_duration_s
    engine = load_asr_engine(model, settings)
    failed = []
    with Progress(console=err_console, transient=True, disable=len(files) < 2) as progress:
        bar = progress.add_task("transcribing", total=len(files))
        for path in files:
            try:
                text = render(engine.transcribe(path, options, max_duration_s=limit), fmt)
            except InvalidRequestError as exc:
                failed.append(path)
                err_console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
            else:
                if output_dir is None:
                    sys.stdout.write(text)
                else:
                    output_dir.mkdir(parents=True, exist_ok=True)
                    (output_dir / f"{path.stem}.{fmt}").write_text(text, encoding="utf-8")
            progress.advance(bar)
    if output_dir is not None:
        err_console.print(f"{len(files) - len(failed)} of {len(files)} files written to {output_dir}")
    if failed:
        err_console.print(f"[red]{len(failed)} failed:[/red] {', '.join(str(p) for p in failed)}", soft_wrap=True)
        sys.exit(1)


@app.command()
def say(
    text: str = typer.Argument(..., help="Text or SSML (<speak>, <break time>, <prosody rate>)."),
    output: Path = typer.Option(..., "--output", "-o", help="out.wav or out.mp3"),
    voice: str | None = typer.Option(
        None, "--voice", help="Voice (piper: a registered voice; espeak: e.g. cmn; coqui: the server's voices)."
    ),
    speed: float = typer.Option(1.0, "--speed", help="1.0 normal, 2.0 twice as fast."),
    engine: str | None = typer.Option(None, "--engine", help="piper | coqui | espeak (default apps.speech.tts_engine)"),
    overrides: list[str] = SET_OPTION,
) -> None:
    """Speak text into a WAV or MP3 file."""
    if output.suffix.lower() not in (".wav", ".mp3"):
        raise InvalidRequestError(f"{output}: the output must end in .wav or .mp3")
    settings = settings_from(overrides)
    tts = load_tts_engine(engine, settings, voice)
    audio = tts.synthesize(text, speech_options(settings, speed=speed))
    write_audio(output, audio, tts.sample_rate)
    err_console.print(f"wrote {output} ({audio.size / tts.sample_rate:.1f} s, {tts.name})")


@app.command("eval")
def eval_command(
    model: str | None = typer.Option(None, "--model", "-m", help="ASR model (default apps.speech.asr_model)."),
    data: Path = typer.Option(..., "--data", help="A folder or a .tsv/.csv/.psv of audio + transcripts."),
    language: str | None = typer.Option(None, "--language", "-l", help="en (WER) or zh (CER); default: guessed."),
    limit: int | None = typer.Option(None, "--limit", help="Score only the first N clips."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output (with per-clip details)."),
    overrides: list[str] = SET_OPTION,
) -> None:
    """Word error rate (English) or character error rate (Chinese), with the normalisation used, and the RTF."""
    from core.speech.evaluate import clips_language, evaluate, load_clips

    settings = settings_from(overrides)
    clips = load_clips(data)[:limit]
    language = language or clips_language(clips)
    engine = load_asr_engine(model, settings)
    result = evaluate(engine, clips, language, options_from(settings, language=language))
    if result.clips == 0:  # every clip failed: an error rate of 0% over nothing would read as perfect
        reasons = "; ".join(d.error for d in result.details if d.error)
        raise InvalidRequestError(f"no clip in {data} could be scored: {reasons}")
    if as_json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{result.model} ({result.engine}) on {data}")
    for col in ("clips", "audio", result.metric, "RTF", "failed"):
        table.add_column(col)
    table.add_row(
        str(result.clips),
        f"{result.audio_s:.1f} s",
        f"{result.error_rate:.2%}",
        f"{result.rtf:.3f}",
        str(result.failed),
    )
    console.print(table)
    console.print(f"normalisation: {result.normalisation}")
    for d in result.details:
        if d.error:
            err_console.print(f"[red]error:[/red] {d.error}", soft_wrap=True)


@app.command()
def train(
    data: Path = typer.Option(..., "--data", help="A folder or a .tsv/.csv/.psv of audio + transcripts."),
    output: Path = typer.Option(..., "--output", "-o", help="Run folder: hf/ (PyTorch) and ct2/ (faster-whisper)."),
    model: str | None = typer.Option(None, "--model", "-m", help="Base model (default apps.speech.asr_model)."),
    steps: int = typer.Option(20, "--steps"),
    lr: float = typer.Option(1e-4, "--lr"),
    language: str | None = typer.Option(None, "--language", "-l", help="The clips' language (multilingual models)."),
    overrides: list[str] = SET_OPTION,
) -> None:
    """Fine-tune Whisper's decoder on your clips; serve the result with `--model OUTPUT/ct2`."""
    from core.speech.asr.finetune import FinetuneConfig, finetune
    from core.speech.evaluate import load_clips

    settings = settings_from(overrides)
    base = model or SpeechSettings.from_settings(settings).asr_model
    config = FinetuneConfig(steps=steps, learning_rate=lr, language=language)
    with console.status(f"fine-tuning {base} ..."):
        folder = finetune(base, load_clips(data), output, settings, config)
    console.print(f"[green]done[/green]: llmeco speech transcribe FILE --model {folder}")


@app.command()
def convert(
    model: str = typer.Argument(..., help="A registered Whisper model or a CTranslate2 folder."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder to write."),
    to: str = typer.Option("hf", "--to", help="hf (transformers, training) | openai-whisper (its model file)"),
    overrides: list[str] = SET_OPTION,
) -> None:
    """CTranslate2 Whisper -> a Hugging Face `WhisperForConditionalGeneration` folder, or openai-whisper's form
    (`ModelDimensions` + state dict as safetensors, loaded by `core.speech.asr.convert.load_openai_whisper`)."""
    from core.models import registry
    from core.speech.asr.convert import ct2_to_hf, ct2_to_openai

    converters = {"hf": ct2_to_hf, "openai-whisper": ct2_to_openai}
    if to not in converters:
        raise InvalidRequestError(f"--to {to!r}: use hf or openai-whisper")
    written = converters[to](registry.resolve(model, settings_from(overrides), "asr").path, output)
    console.print(f"wrote {written}")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8300, "--port", "-p"),
    overrides: list[str] = SET_OPTION,
) -> None:
    """REST API (/v1/audio/transcriptions, /v1/audio/speech, /health; docs at /docs) with the web UI at /ui."""
    import gradio as gr

    from apps.speech_studio.api import create_api
    from apps.speech_studio.ui import build_ui
    from core.serving.audio import MAX_UPLOAD_BYTES
    from core.serving.metrics import serve as run_server

    settings = settings_from(overrides)
    uploads = ui_options(settings, MAX_UPLOAD_BYTES / 2**20)
    api = gr.mount_gradio_app(create_api(settings), build_ui(settings), path="/ui", **uploads)
    console.print(f"speech studio API at http://{host}:{port}/docs, UI at http://{host}:{port}/ui")
    run_server(api, host, port, settings.log_format, "warning")


@app.command()
def ui(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(7863, "--port", "-p"),
    open_browser: bool = typer.Option(True, "--open/--no-open"),
    overrides: list[str] = SET_OPTION,
) -> None:
    """The speech studio web UI alone: transcribe, speak, voice chat with the support bot."""
    from apps.speech_studio.ui import build_ui
    from core.serving.audio import MAX_UPLOAD_BYTES

    settings = settings_from(overrides)
    console.print(f"speech studio at http://{host}:{port}")
    build_ui(settings).queue(default_concurrency_limit=4).launch(
        server_name=host, server_port=port, inbrowser=open_browser, **ui_options(settings, MAX_UPLOAD_BYTES / 2**20)
    )
