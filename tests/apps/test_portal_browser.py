"""End to end in a real headless browser: the portal's playground streams an answer from the real model."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import portal_running

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def portal_url(settings):
    with portal_running(settings) as url:
        yield url


def test_playground_chat_in_browser(portal_url, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        page = browser.new_page()
        page.goto(portal_url)
        expect(page.get_by_role("tab", name="Chat playground")).to_be_visible(timeout=30_000)
        box = page.get_by_placeholder("Type a message...")
        box.fill("What is the capital of France?")
        box.press("Enter")
        bot = page.locator(".bot").last
        expect(bot).to_contain_text("Paris", timeout=120_000)
        page.screenshot(path=str(tmp_path / "playground.png"), full_page=True)
        browser.close()
