"""The issue's "done when", in a real headless browser: a new user opens the portal, asks the demo bot in
English and in Chinese, gets cited answers, asks for a human and finds the ticket in the handoff queue."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import portal_running

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def portal_url(bot_settings, demo_bot):
    with portal_running(bot_settings) as url:
        yield url


def test_demo_bot_in_browser(portal_url, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(portal_url)
        page.get_by_role("tab", name="Support bot 客服").click()
        box = page.locator("#bot-input textarea")
        chat = page.locator("#bot-chat")

        def ask(text: str, expected: str) -> None:
            box.fill(text)
            page.locator("#bot-send").click()
            expect(chat).to_contain_text(expected, timeout=120_000)

        ask("Can I pay with Apple Pay?", "Sources")
        expect(chat.locator(".bot").last).to_contain_text("Apple Pay", timeout=10_000)
        ask("买多少钱可以包邮？", "299")
        expect(page.locator("#bot-status")).to_contain_text("answer")
        ask("I want to talk to a human", "ticket #")
        page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)

        page.get_by_role("tab", name="Handoff queue 人工队列").click()
        page.locator("#queue-refresh").click()
        expect(page.locator("#queue-table")).to_contain_text("I want to talk to a human", timeout=30_000)
        page.screenshot(path=str(tmp_path / "queue.png"), full_page=True)
        browser.close()
