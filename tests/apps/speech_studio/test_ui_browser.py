"""The issue's "done when", in a real headless browser with a fake microphone fed from a WAV file: a new user
records a sentence and gets its transcript and SRT, types a reply and hears it, and runs one voice-chat turn with
the support bot."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from core.speech.audio import write_audio
from tests.conftest import settings_in, ui_running

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SENTENCE = "Do you ship to Canada?"


@pytest.fixture(scope="module")
def studio_url(settings, tmp_path_factory):
    """The standalone speech UI over a fresh home (its own support-bot store) with the demo intent model."""
    from apps.speech_studio.ui import build_ui
    from apps.support_bot.intents import ensure_intent_model

    home = settings_in(
        tmp_path_factory.mktemp("speech-home"), **{"apps.support_bot.intent_model": str(ensure_intent_model(settings))}
    )
    with ui_running(lambda: build_ui(home)) as url:
        yield url


@pytest.fixture(scope="module")
def microphone_wav(piper, tmp_path_factory):
    """What the fake microphone hears (in a loop): the sentence spoken by Piper, then silence, 3 s in all."""
    rate = piper.sample_rate
    speech = piper.synthesize(SENTENCE)
    audio = np.concatenate([speech, np.zeros(3 * rate - speech.size, np.float32)])
    return write_audio(tmp_path_factory.mktemp("mic") / "mic.wav", audio, rate)


def hear(page, component: str) -> None:
    """The player holds the synthesised audio (a blob loaded from the server) and plays it."""
    from playwright.sync_api import expect

    box = page.locator(component)
    expect(box.locator("[data-testid^='waveform'] audio")).to_have_attribute(
        "src", re.compile(r"^blob:"), timeout=30_000
    )
    box.get_by_role("button", name="Play", exact=True).click()
    expect(box.get_by_role("button", name="Pause", exact=True)).to_be_visible(timeout=10_000)


def test_record_transcribe_speak_and_voice_chat(studio_url, microphone_wav, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone_wav}",
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        context = browser.new_context(permissions=["microphone"], viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.goto(studio_url)

        def record(component: str) -> None:
            """Record 6 s from the fake microphone (which loops the 3 s file, so one whole sentence is in it)."""
            box = page.locator(component)
            box.locator("button.record-button").click()
            page.wait_for_timeout(6000)
            box.locator("button.stop-button").click()
            expect(box.get_by_role("button", name="Play", exact=True)).to_be_visible(timeout=20_000)
            page.wait_for_timeout(1000)  # the recording uploads

        # 1. Record a sentence -> transcript with timestamps and an SRT download.
        record("#speech-audio-in")
        page.locator("#speech-transcribe").click()
        expect(page.locator("#speech-transcript textarea")).to_have_value(
            re.compile(r"\[00:00:0\d\.\d{3} → .*Canada"), timeout=120_000
        )
        srt_link = page.locator("#speech-files a[href$='transcript.srt']")
        expect(srt_link).to_be_attached()
        srt = page.request.get(srt_link.get_attribute("href")).text()
        assert srt.startswith("1\n00:00:0") and " --> " in srt and "Canada" in srt
        page.screenshot(path=str(tmp_path / "transcribe.png"), full_page=True)

        # 2. Type a reply and hear it.
        page.get_by_role("tab", name="Speak 朗读").click()
        page.locator("#tts-text textarea").fill("Yes, we ship to Canada. Delivery takes about a week.")
        page.locator("#tts-say").click()
        expect(page.locator("#tts-status")).to_contain_text("s of speech", timeout=60_000)
        hear(page, "#tts-audio")

        # 3. One voice-chat turn with the support bot, each stage's latency shown.
        page.get_by_role("tab", name="Voice chat 语音客服").click()
        record("#chat-audio-in")
        page.locator("#chat-send").click()
        expect(page.locator("#chat-latency")).to_contain_text("TTS", timeout=240_000)
        expect(page.locator("#chat-latency")).to_contain_text("ASR")
        expect(page.locator("#chat-log")).to_contain_text("Canada")
        expect(page.locator("#chat-log .bot, #chat-log [data-testid='bot']").first).to_be_visible()
        hear(page, "#chat-audio-out")
        page.screenshot(path=str(tmp_path / "voice_chat.png"), full_page=True)
        browser.close()
