"""Speech studio web UI: record or upload -> transcript with timestamps and TXT/SRT/VTT/JSON downloads; text ->
speech with playback; voice chat (microphone -> speech recognition -> the support bot -> speech, with each
stage's latency). A tab in the portal, or standalone (`llmeco speech ui`, port 7863)."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import gradio as gr

from apps.speech_studio.governance import outputs_dir
from core.config import Settings
from core.errors import LLMEcoError
from core.governance.ui_cache import blocks_options
from core.speech.asr import load_asr_engine, options_from
from core.speech.audio import write_audio
from core.speech.config import SpeechSettings
from core.speech.subtitles import FORMATS, render, timestamp
from core.speech.text import has_cjk
from core.speech.tts import ENGINES, load_tts_engine, speech_options

TITLE = "Speech 语音"
ORDER = 30
ASR_MODELS = ["whisper-tiny.en", "whisper-base"]
LANGUAGES = ["auto", "en", "zh"]
VOICE_CHAT_MODEL = "whisper-base"  # multilingual: the bot answers English and Chinese


class Studio:
    """The engines the UI has loaded (one per name, each used by one request at a time) and the support bot."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.speech = SpeechSettings.from_settings(settings)
        self.out = outputs_dir(settings)  # under LLMECO_HOME, so retention (`llmeco data purge`) deletes it
        self._engines: dict[str, object] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._bot = None

    def _engine(self, key: str, load):
        with self._guard:
            if key not in self._engines:
                self._engines[key] = load()
                self._locks[key] = threading.Lock()
            return self._engines[key], self._locks[key]

    def transcribe(self, audio: str | None, model: str, language: str, task: str):
        if not audio:
            raise LLMEcoError("record or upload audio first")
        engine, lock = self._engine(f"asr:{model}", lambda: load_asr_engine(model, self.settings))
        options = options_from(
            self.settings, language=None if language == "auto" else language, task=task, word_timestamps=True
        )
        with lock:
            t = engine.transcribe(audio, options, max_duration_s=self.speech.max_duration_s)
        folder = Path(tempfile.mkdtemp(dir=self.out))
        files = []
        for fmt in FORMATS:
            files.append(folder / f"transcript.{fmt}")
            files[-1].write_text(render(t, fmt), encoding="utf-8")
        return t, [str(f) for f in files]

    def speak(self, text: str, engine: str, voice: str | None, speed: float) -> tuple[str, str, float]:
        """(wav path, mp3 path, seconds of audio)."""
        if engine == "auto":
            engine = "espeak" if has_cjk(text) else self.speech.tts_engine
        tts, lock = self._engine(f"tts:{engine}", lambda: load_tts_engine(engine, self.settings))
        with lock:
            audio = tts.synthesize(text, speech_options(self.settings, voice=voice or None, speed=speed))
        folder = Path(tempfile.mkdtemp(dir=self.out))
        wav = write_audio(folder / "speech.wav", audio, tts.sample_rate)
        mp3 = write_audio(folder / "speech.mp3", audio, tts.sample_rate)
        return str(wav), str(mp3), audio.size / tts.sample_rate

    def bot(self):
        with self._guard:
            if self._bot is None:
                from apps.support_bot.cli import open_bot

                self._bot = open_bot(self.settings)
            return self._bot


def timed_lines(t) -> str:
    return "\n".join(f"[{timestamp(s.start, '.')} → {timestamp(s.end, '.')}] {s.text}" for s in t.segments)


def build(settings: Settings) -> None:
    """The portal tab (also the standalone UI's content)."""
    studio = Studio(settings)
    with gr.Tab("Transcribe 转写"), gr.Row():
        with gr.Column():
            audio_in = gr.Audio(
                sources=["microphone", "upload"], type="filepath", label="Audio 音频", elem_id="speech-audio-in"
            )
            model = gr.Dropdown(ASR_MODELS, value=studio.speech.asr_model, label="Model", allow_custom_value=True)
            language = gr.Dropdown(LANGUAGES, value="auto", label="Language 语言", allow_custom_value=True)
            task = gr.Radio(["transcribe", "translate"], value="transcribe", label="Task")
            go = gr.Button("Transcribe 转写", variant="primary", elem_id="speech-transcribe")
        with gr.Column():
            transcript = gr.Textbox(label="Transcript 文本", lines=8, elem_id="speech-transcript")
            files = gr.File(label="Downloads (TXT / SRT / VTT / JSON)", file_count="multiple", elem_id="speech-files")
            status = gr.Markdown(elem_id="speech-status")

    def on_transcribe(audio, model, language, task):
        try:
            t, paths = studio.transcribe(audio, model, language, task)
        except LLMEcoError as exc:
            return "", None, f"**error:** {exc}"
        info = f"{t.language} · {t.duration:.1f} s of audio · RTF {t.rtf:.2f}"
        return timed_lines(t) or "(no speech found)", paths, info

    go.click(on_transcribe, [audio_in, model, language, task], [transcript, files, status])

    with gr.Tab("Speak 朗读"), gr.Row():
        with gr.Column():
            text = gr.Textbox(
                label="Text or SSML 文本",
                lines=5,
                elem_id="tts-text",
                placeholder='Hello! <break time="500ms"/> 你好。',
            )
            engine = gr.Dropdown(["auto", *ENGINES], value="auto", label="Engine (auto: espeak for Chinese)")
            voice = gr.Textbox(label="Voice (empty: the engine's default)")
            speed = gr.Slider(0.5, 2.0, value=1.0, step=0.05, label="Speed 语速")
            say = gr.Button("Speak 朗读", variant="primary", elem_id="tts-say")
        with gr.Column():
            speech_out = gr.Audio(label="Speech", type="filepath", elem_id="tts-audio")
            speech_files = gr.File(label="Downloads (WAV / MP3)", file_count="multiple")
            tts_status = gr.Markdown(elem_id="tts-status")

    def on_say(text, engine, voice, speed):
        try:
            start = time.perf_counter()
            wav, mp3, seconds = studio.speak(text, engine, voice, speed)
        except LLMEcoError as exc:
            return None, None, f"**error:** {exc}"
        return wav, [wav, mp3], f"{seconds:.1f} s of speech in {time.perf_counter() - start:.2f} s"

    say.click(on_say, [text, engine, voice, speed], [speech_out, speech_files, tts_status])

    with gr.Tab("Voice chat 语音客服"):
        with gr.Row():
            with gr.Column():
                mic = gr.Audio(
                    sources=["microphone", "upload"],
                    type="filepath",
                    label="Ask by voice 语音提问",
                    elem_id="chat-audio-in",
                )
                send = gr.Button("Send 发送", variant="primary", elem_id="chat-send")
                latency = gr.Markdown(elem_id="chat-latency")
            with gr.Column():
                log = gr.Chatbot(label="Support bot 客服", elem_id="chat-log")
                reply_audio = gr.Audio(label="Reply 回复", type="filepath", autoplay=True, elem_id="chat-audio-out")
        session = gr.State(None)

    def on_turn(audio, history, session_id):
        history = history or []
        try:
            t0 = time.perf_counter()
            t, _ = studio.transcribe(audio, VOICE_CHAT_MODEL, "auto", "transcribe")
            t1 = time.perf_counter()
            if not t.text:
                return history, None, "**no speech heard** — try again", session_id
            reply = studio.bot().ask(t.text, session_id)
            t2 = time.perf_counter()
            wav, _, _ = studio.speak(reply.answer, "auto", None, 1.0)
            t3 = time.perf_counter()
        except LLMEcoError as exc:
            return history, None, f"**error:** {exc}", session_id
        history = [*history, {"role": "user", "content": t.text}, {"role": "assistant", "content": reply.answer}]
        stages = f"ASR {1000 * (t1 - t0):.0f} ms · bot {1000 * (t2 - t1):.0f} ms · TTS {1000 * (t3 - t2):.0f} ms"
        return history, wav, f"{stages} · total {1000 * (t3 - t0):.0f} ms ({reply.action})", reply.session_id

    send.click(on_turn, [mic, log, session], [log, reply_audio, latency, session])


def build_ui(settings: Settings) -> gr.Blocks:
    with gr.Blocks(title="Speech studio", **blocks_options(settings)) as blocks:
        gr.Markdown("## Speech studio 语音工作室")
        build(settings)
    return blocks
