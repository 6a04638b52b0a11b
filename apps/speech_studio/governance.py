"""The speech studio's stored audio for ``llmeco data``: the speech it synthesised and the transcripts it wrote,
kept under ``$LLMECO_HOME/speech_studio/outputs`` (one folder per request) for the UI's downloads. Nothing in it
names a session or a user, so ``forget`` finds nothing here; retention deletes by age."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

from core.config import Settings
from core.governance import StoreReport


def outputs_dir(settings: Settings) -> Path:
    folder = settings.home / "speech_studio" / "outputs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class SpeechOutputs:
    name = "speech_studio"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def purge(self, before: datetime, anonymise: bool) -> StoreReport:
        """Delete request folders last written before ``before``: audio cannot be anonymised, so it is deleted
        either way."""
        removed = files = 0
        for entry in sorted(self.folder.iterdir()) if self.folder.is_dir() else []:
            if entry.stat().st_mtime >= before.timestamp():
                continue
            if entry.is_dir():
                files += sum(1 for p in entry.rglob("*") if p.is_file())
                shutil.rmtree(entry)
            else:
                files += 1
                entry.unlink()
            removed += 1
        return StoreReport(self.name, {"outputs": removed, "files": files})

    def forget(self, session_id: str | None, user_id: str | None) -> StoreReport:
        return StoreReport(self.name, {"outputs": 0, "files": 0})

    def database_url(self) -> str | None:
        return None


def data_stores(settings: Settings) -> list[SpeechOutputs]:
    return [SpeechOutputs(outputs_dir(settings))]
