"""Speech benchmarks, each with its baseline in the same run: recognition accuracy on data we did not build for,
our pipeline's overhead against calling faster-whisper / Piper directly, noisy audio with and without noise
reduction, synthesis speed per engine, and a TTS -> ASR round trip.

Parts (all by default):
- ``wer``: WER (English) / CER (Chinese) and RTF per model on ../shared/datasets/asr_en_ljspeech_subset,
  asr_en_whisper_jfk, asr_zh_aishell1 and the clips that pytest-audioeval ships; normalisation as in
  ``core/speech/text.py`` (numbers spelled out the way the LJSpeech references are written, punctuation dropped).
- ``overhead``: our ``ASREngine.transcribe(path)`` vs ``faster_whisper.WhisperModel.transcribe(path)`` (same model
  object, same options) and our ``TTSEngine.synthesize`` vs ``PiperVoice.synthesize_wav``, interleaved file by file.
- ``engines``: faster-whisper vs transformers vs openai-whisper (both on the converted weights) on the same
  LJSpeech clips, greedy.
- ``finetune``: tiny.en fine-tuned on the first half of the LJSpeech subset, WER on the held-out second half.
- ``noise``: white noise mixed into LJSpeech clips at 10 dB and 0 dB SNR (seeded), WER with and without spectral
  gating (noisereduce), clean audio as the baseline.
- ``tts``: RTF per engine on 30 sentences, and their Piper audio transcribed by Whisper (round-trip WER).

    python benchmarks/speech.py [--parts wer overhead engines finetune noise tts] [--threads 2] [--out FILE.json]

Parts not run keep their earlier results in the JSON; each part records the command and machine load of its run.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import wave
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine_info import machine, write_result  # noqa: E402

from core.config import load_settings  # noqa: E402
from core.models import registry  # noqa: E402
from core.models.embedded import package_dir  # noqa: E402
from core.speech.asr import TranscribeOptions, load_asr_engine  # noqa: E402
from core.speech.audio import SAMPLE_RATE, load_audio, wav_bytes  # noqa: E402
from core.speech.evaluate import evaluate, load_clips  # noqa: E402
from core.speech.text import edit_distance, error_tokens  # noqa: E402
from core.speech.tts import load_tts_engine  # noqa: E402

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SENTENCES = [
    "The library opens at nine in the morning on weekdays.",
    "Please remember to water the plants while I am away.",
    "Our train was delayed because of heavy snow in the mountains.",
    "She finished reading the novel in a single afternoon.",
    "The children built a small boat out of old wooden boxes.",
    "Could you send me the report before the meeting tomorrow?",
    "A warm breeze carried the smell of fresh bread down the street.",
    "The museum has a new exhibition about ancient maps.",
    "He forgot his umbrella and got soaked on the way home.",
    "We need three more chairs for the guests in the garden.",
    "The old bridge was closed for repairs last summer.",
    "My sister is learning to play the violin this year.",
    "The price of coffee has gone up again this month.",
    "Turn left at the bakery and walk until you see the park.",
    "The pilot announced that we would land twenty minutes early.",
    "Most of the apples in the basket were still green.",
    "The teacher asked everyone to write a short poem about the sea.",
    "I usually take the bus when it is raining outside.",
    "The team celebrated their victory with a big dinner.",
    "Fresh snow covered the hills after the storm passed.",
    "Please close the window before you leave the room.",
    "The doctor said I should drink more water every day.",
    "Our neighbours adopted a friendly dog from the shelter.",
    "The concert was cancelled because the singer was ill.",
    "He repaired the bicycle with tools he borrowed from a friend.",
    "The river flows quietly through the centre of the town.",
    "We watched the sunset from the top of the hill.",
    "The store will be closed on Sunday for the holiday.",
    "She wrote a long letter to her grandmother in Canada.",
    "The kitchen smelled of onions, garlic and fresh herbs.",
]


def audioeval(language: str) -> Path | None:
    found = package_dir("pytest_audioeval")
    return found / "samples" / "audio" / language if found else None


def datasets() -> list[tuple[str, Path | None, str]]:
    """(name, path, language) for every evaluation set; absent ones are reported as skipped."""
    return [
        ("ljspeech_subset", DATASETS / "asr_en_ljspeech_subset" / "transcripts.psv", "en"),
        ("whisper_jfk", DATASETS / "asr_en_whisper_jfk" / "transcript.tsv", "en"),
        ("audioeval_en", audioeval("en"), "en"),
        ("aishell1", DATASETS / "asr_zh_aishell1" / "transcripts.tsv", "zh"),
        ("audioeval_zh", audioeval("zh"), "zh"),
    ]


def part_wer(settings, console: Console, models: dict) -> dict:
    rows = []
    for model, engine in models.items():
        for name, path, language in datasets():
            if language == "zh" and not engine.multilingual:
                continue
            if path is None or not path.exists():
                rows.append({"model": model, "data": name, "skipped": f"{path} is absent"})
                continue
            with console.status(f"{model} on {name} ..."):
                r = evaluate(engine, load_clips(path), language, TranscribeOptions(language=language))
            rows.append({"model": model, "data": name, **{k: v for k, v in r.to_dict().items() if k != "model"}})
    table = Table(title="Recognition: faster-whisper int8, beam 5, VAD on")
    for col in ("model", "data", "clips", "failed", "metric", "error rate", "RTF"):
        table.add_column(col)
    for r in rows:
        if "skipped" in r:
            table.add_row(r["model"], r["data"], "-", "-", "-", r["skipped"], "-")
        else:
            table.add_row(
                r["model"],
                r["data"],
                str(r["clips"]),
                str(r["failed"]),
                r["metric"],
                f"{r['error_rate']:.2%}",
                f"{r['rtf']:.3f}",
            )
    console.print(table)
    return {"rows": rows, "beam_size": 5, "compute_type": "int8", "vad": True}


def part_overhead(settings, console: Console, tiny) -> dict:
    clips = load_clips(DATASETS / "asr_en_ljspeech_subset" / "transcripts.psv")
    options = TranscribeOptions(language="en")
    ours = direct = 0.0
    tiny.transcribe(clips[0].audio, options)  # warm-up
    for clip in clips:  # interleaved so that load changes hit both alike
        start = time.perf_counter()
        tiny.transcribe(clip.audio, options)
        ours += time.perf_counter() - start
        start = time.perf_counter()
        segments, _ = tiny.whisper.transcribe(str(clip.audio), language="en", beam_size=5, vad_filter=True)
        " ".join(s.text for s in segments)
        direct += time.perf_counter() - start
    audio_s = sum(load_audio(c.audio).size for c in clips) / SAMPLE_RATE

    from piper import PiperVoice

    piper = load_tts_engine("piper", settings)
    files = registry.resolve(piper.default_voice, settings, "tts")
    voice = PiperVoice.load(str(files.path), config_path=files.config)
    tts_ours = tts_direct = tts_audio = 0.0
    for sentence in SENTENCES:
        start = time.perf_counter()
        tts_audio += piper.synthesize(sentence).size / piper.sample_rate
        tts_ours += time.perf_counter() - start
        start = time.perf_counter()
        with wave.open(io.BytesIO(), "wb") as w:
            voice.synthesize_wav(sentence, w)
        tts_direct += time.perf_counter() - start
    result = {
        "asr": {
            "files": len(clips),
            "audio_s": audio_s,
            "ours_s": ours,
            "direct_s": direct,
            "ours_rtf": ours / audio_s,
            "direct_rtf": direct / audio_s,
            "overhead": ours / direct - 1,
        },
        "tts": {
            "sentences": len(SENTENCES),
            "audio_s": tts_audio,
            "ours_s": tts_ours,
            "direct_s": tts_direct,
            "ours_rtf": tts_ours / tts_audio,
            "direct_rtf": tts_direct / tts_audio,
            "overhead": tts_ours / tts_direct - 1,
        },
    }
    table = Table(title="Pipeline overhead (same model objects, interleaved; goal <= 5%)")
    for col in ("what", "ours RTF", "direct RTF", "overhead"):
        table.add_column(col)
    table.add_row(
        "ASR whisper-tiny.en (ours vs WhisperModel.transcribe)",
        f"{result['asr']['ours_rtf']:.3f}",
        f"{result['asr']['direct_rtf']:.3f}",
        f"{result['asr']['overhead']:+.1%}",
    )
    table.add_row(
        "TTS piper (ours vs PiperVoice.synthesize_wav)",
        f"{result['tts']['ours_rtf']:.3f}",
        f"{result['tts']['direct_rtf']:.3f}",
        f"{result['tts']['overhead']:+.1%}",
    )
    console.print(table)
    return result


def part_engines(settings, console: Console, tiny, limit: int) -> dict:
    """faster-whisper (int8), transformers and openai-whisper (float32, the converted weights) on the same clips,
    greedy."""
    clips = load_clips(DATASETS / "asr_en_ljspeech_subset" / "transcripts.psv")[:limit]
    options = TranscribeOptions(language="en", beam_size=1)
    engines = {"faster-whisper": tiny} | {
        name: load_asr_engine("whisper-tiny.en", settings, name) for name in ("transformers", "openai-whisper")
    }
    rows = []
    for name, engine in engines.items():
        engine.transcribe(clips[0].audio, options)  # warm-up
        r = evaluate(engine, clips, "en", options)
        rows.append({"engine": name, "model": "whisper-tiny.en", "clips": r.clips, "wer": r.error_rate, "rtf": r.rtf})
    table = Table(title=f"Engines side by side: whisper-tiny.en, greedy, {len(clips)} LJSpeech clips")
    for col in ("engine", "WER", "RTF"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["engine"], f"{r['wer']:.2%}", f"{r['rtf']:.3f}")
    console.print(table)
    return {"rows": rows, "beam_size": 1}


def part_finetune(settings, console: Console, tiny, steps: int, lr: float) -> dict:
    """Fine-tune tiny.en on the first half of the LJSpeech subset, score the second half (same speaker, held out)."""
    import tempfile

    from core.speech.asr.finetune import FinetuneConfig, finetune

    clips = load_clips(DATASETS / "asr_en_ljspeech_subset" / "transcripts.psv")
    train, held_out = clips[: len(clips) // 2], clips[len(clips) // 2 :]
    options = TranscribeOptions(language="en")
    before = evaluate(tiny, held_out, "en", options)
    with tempfile.TemporaryDirectory() as tmp, console.status(f"fine-tuning on {len(train)} clips ..."):
        start = time.perf_counter()
        tuned = finetune("whisper-tiny.en", train, Path(tmp), settings, FinetuneConfig(steps=steps, learning_rate=lr))
        seconds = time.perf_counter() - start
        losses = json.loads((Path(tmp) / "finetune.json").read_text())["losses"]
        after = evaluate(load_asr_engine(str(tuned), settings), held_out, "en", options)
    result = {
        "model": "whisper-tiny.en",
        "train_clips": len(train),
        "held_out_clips": len(held_out),
        "steps": steps,
        "learning_rate": lr,
        "train_seconds": seconds,
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "wer_before": before.error_rate,
        "wer_after": after.error_rate,
    }
    table = Table(
        title=f"Fine-tuning whisper-tiny.en: {len(train)} clips, {steps} steps; WER on {len(held_out)} held out"
    )
    for col in ("before", "after", "train loss", "seconds"):
        table.add_column(col)
    table.add_row(
        f"{before.error_rate:.2%}", f"{after.error_rate:.2%}", f"{losses[0]:.3f} -> {losses[-1]:.3f}", f"{seconds:.0f}"
    )
    console.print(table)
    return result


def mix_noise(samples: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    noise = rng.normal(0, 1, samples.size).astype(np.float32)
    scale = np.sqrt(np.mean(samples**2) / (np.mean(noise**2) * 10 ** (snr_db / 10)))
    return (samples + scale * noise).astype(np.float32)


def part_noise(settings, console: Console, tiny, limit: int) -> dict:
    clips = load_clips(DATASETS / "asr_en_ljspeech_subset" / "transcripts.psv")[:limit]
    clean = [load_audio(c.audio) for c in clips]
    rows = []
    for snr in (None, 10.0, 0.0):
        rng = np.random.default_rng(0)
        audio = clean if snr is None else [mix_noise(a, snr, rng) for a in clean]
        for denoise in (False, True):
            errors = tokens = 0
            start = time.perf_counter()
            for clip, samples in zip(clips, audio, strict=True):
                t = tiny.transcribe(samples, TranscribeOptions(language="en", denoise=denoise))
                ref, hyp = error_tokens(clip.text, t.text, "en")
                errors, tokens = errors + edit_distance(ref, hyp), tokens + len(ref)
            rows.append(
                {"snr_db": snr, "denoise": denoise, "wer": errors / tokens, "seconds": time.perf_counter() - start}
            )
    table = Table(title=f"Noisy audio: whisper-tiny.en on {len(clips)} LJSpeech clips + white noise")
    for col in ("SNR", "noise reduction", "WER"):
        table.add_column(col)
    for r in rows:
        table.add_row("clean" if r["snr_db"] is None else f"{r['snr_db']:.0f} dB", str(r["denoise"]), f"{r['wer']:.2%}")
    console.print(table)
    return {"clips": len(clips), "noise": "white Gaussian, seed 0", "rows": rows}


def part_tts(settings, console: Console, asr_models: dict) -> dict:
    engines = {"piper": load_tts_engine("piper", settings), "espeak": load_tts_engine("espeak", settings)}
    rows, piper_audio = [], []
    for name, engine in engines.items():
        engine.synthesize(SENTENCES[0])  # warm-up
        spent = audio_s = 0.0
        for sentence in SENTENCES:
            start = time.perf_counter()
            audio = engine.synthesize(sentence)
            spent += time.perf_counter() - start
            audio_s += audio.size / engine.sample_rate
            if name == "piper":
                piper_audio.append(audio)
        rows.append({"engine": name, "sentences": len(SENTENCES), "audio_s": audio_s, "rtf": spent / audio_s})
    round_trip = []
    rate = engines["piper"].sample_rate
    for model, asr in asr_models.items():
        errors = tokens = 0
        misheard = []
        for sentence, audio in zip(SENTENCES, piper_audio, strict=True):
            samples = load_audio(wav_bytes(audio, rate), name="tts.wav")  # resampled by ffmpeg, as in the product
            heard = asr.transcribe(samples, TranscribeOptions(language="en")).text
            ref, hyp = error_tokens(sentence, heard, "en")
            e = edit_distance(ref, hyp)
            errors, tokens = errors + e, tokens + len(ref)
            if e:
                misheard.append({"said": sentence, "heard": heard})
        round_trip.append({"tts": "piper", "asr": model, "wer": errors / tokens, "misheard": misheard})
    table = Table(title=f"Synthesis on {len(SENTENCES)} sentences (goal: Piper RTF <= 0.08, round trip WER <= 3%)")
    for col in ("what", "result"):
        table.add_column(col)
    for r in rows:
        table.add_row(f"{r['engine']} RTF", f"{r['rtf']:.3f}")
    for r in round_trip:
        table.add_row(f"round trip {r['tts']} -> {r['asr']} WER", f"{r['wer']:.2%}")
    console.print(table)
    return {"engines": rows, "round_trip": round_trip}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", nargs="*", default=["wer", "overhead", "engines", "finetune", "noise", "tts"])
    ap.add_argument("--threads", type=int, default=2, help="CTranslate2 CPU threads")
    ap.add_argument("--noise-clips", type=int, default=16, help="clips for the noise and engines parts")
    ap.add_argument("--ft-steps", type=int, default=16)
    ap.add_argument("--ft-lr", type=float, default=1e-5)
    ap.add_argument("--out", default="benchmarks/results/speech.json")
    args = ap.parse_args()
    console = Console(width=160)
    settings = load_settings(values={"apps.speech.threads": args.threads})
    with console.status("loading whisper-tiny.en and whisper-base ..."):
        models = {name: load_asr_engine(name, settings) for name in ("whisper-tiny.en", "whisper-base")}
    out = Path(args.out)
    report = json.loads(out.read_text()) if out.exists() else {}
    parts = report.setdefault("parts", {})
    command = "python benchmarks/speech.py " + " ".join(sys.argv[1:])
    runners = {
        "wer": lambda: part_wer(settings, console, models),
        "overhead": lambda: part_overhead(settings, console, models["whisper-tiny.en"]),
        "engines": lambda: part_engines(settings, console, models["whisper-tiny.en"], args.noise_clips),
        "finetune": lambda: part_finetune(settings, console, models["whisper-tiny.en"], args.ft_steps, args.ft_lr),
        "noise": lambda: part_noise(settings, console, models["whisper-tiny.en"], args.noise_clips),
        "tts": lambda: part_tts(settings, console, models),
    }
    for name in args.parts:
        before = machine()
        parts[name] = runners[name]() | {
            "command": command,
            "threads": args.threads,
            "machine_at_start": before,
            "machine_at_end": machine(),
        }
    report["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    write_result(out, report)
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
