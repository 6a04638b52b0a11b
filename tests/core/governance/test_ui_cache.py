"""The web UIs' temporary files (Gradio's cache of uploads and downloads) live under LLMECO_HOME and expire: files a
killed UI left behind are deleted when a UI starts, never anything outside the folder, and backups leave it out."""

from __future__ import annotations

import os
import time
from pathlib import Path

from core.governance.backup import _home_files
from core.governance.ui_cache import MAX_AGE_S, blocks_options, cache_dir
from tests.conftest import settings_in


def _write(path: Path, data: bytes, age_s: float = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (time.time() - age_s,) * 2)
    return path


def test_blocks_options_move_the_cache_home_and_remove_what_expired(tmp_path, monkeypatch):
    (tmp_path / "home").mkdir()
    settings = settings_in(tmp_path / "home")
    monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)
    folder = cache_dir(settings)
    expired = MAX_AGE_S + 60
    old = _write(folder / "h1" / "customer.wav", b"voice", expired)
    fresh = _write(folder / "h2" / "download.txt", b"today")
    outside = _write(tmp_path / "elsewhere.wav", b"not ours", expired)
    link = folder / "h2" / "link.wav"
    link.symlink_to(outside)
    os.utime(link, (time.time() - expired,) * 2, follow_symlinks=False)
    (folder / "empty").mkdir()
    os.utime(folder / "empty", (time.time() - expired,) * 2)
    _write(settings.home / "bot.db", b"a store")

    assert blocks_options(settings) == {"delete_cache": (3600, MAX_AGE_S)}  # Gradio's own deletion, a day on
    assert os.environ["GRADIO_TEMP_DIR"] == str(folder)
    assert not old.exists() and not link.is_symlink() and not (folder / "empty").exists()
    assert fresh.read_bytes() == b"today" and outside.read_bytes() == b"not ours"  # a link's target is not touched
    assert _home_files(settings.home) == [Path("bot.db")]  # backups skip the cache (and the model cache)
