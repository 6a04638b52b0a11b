"""The web UIs' temporary files. Gradio copies every upload (a customer's recording, a knowledge-base file) and
every file it offers for download (a transcript, synthesised speech, an exported document) into its cache, by
default ``/tmp/gradio``, where nothing deletes them. Every app's ``gr.Blocks`` is made with :func:`blocks_options`:
the cache moves to ``$LLMECO_HOME/gradio``, Gradio deletes each file it made a day after (and all of them when the
UI stops), and files a killed UI left behind are deleted when a UI next starts. Backups leave the folder out."""

from __future__ import annotations

import os
import time
from pathlib import Path

from core.config import Settings

FOLDER = "gradio"  # under LLMECO_HOME
MAX_AGE_S = 24 * 3600  # long enough for a download link on an open page; short next to any retention period
CHECK_EVERY_S = 3600


def cache_dir(settings: Settings) -> Path:
    return settings.home / FOLDER


def blocks_options(settings: Settings) -> dict:
    """Keyword arguments for an app's ``gr.Blocks``. Call it before any component is made: Gradio reads
    ``GRADIO_TEMP_DIR`` when it makes a component or the server."""
    folder = cache_dir(settings)
    os.environ["GRADIO_TEMP_DIR"] = str(folder)
    remove_older(folder, MAX_AGE_S)
    return {"delete_cache": (CHECK_EVERY_S, MAX_AGE_S)}


def remove_older(folder: Path, age_s: float) -> int:
    """Delete the files under ``folder`` changed more than ``age_s`` seconds ago, and empty folders as old (one that
    Gradio just made for an upload is new); returns how many files. Symbolic links are removed, never followed."""
    if not folder.is_dir():
        return 0
    cutoff = time.time() - age_s
    removed = 0
    for root, dirs, files in os.walk(folder, topdown=False):
        for name in files:
            path = Path(root) / name
            try:
                if path.lstat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:  # another UI removed it first
                continue
        for name in dirs:
            path = Path(root) / name
            try:
                if path.lstat().st_mtime < cutoff:
                    path.rmdir()
            except OSError:  # not empty, not a folder, or gone
                continue
    return removed
