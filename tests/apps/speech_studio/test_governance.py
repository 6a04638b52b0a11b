"""The speech studio keeps its audio under LLMECO_HOME, where retention deletes it by age."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

from apps.speech_studio.governance import SpeechOutputs, outputs_dir
from tests.conftest import settings_in


def test_purge_deletes_old_output_folders(tmp_path):
    folder = outputs_dir(settings_in(tmp_path))
    assert folder == tmp_path / "speech_studio" / "outputs"
    for name, age_days in (("old", 10), ("new", 0)):
        (folder / name).mkdir()
        (folder / name / "speech.wav").write_bytes(b"RIFF")
        (folder / name / "speech.mp3").write_bytes(b"ID3")
        stamp = time.time() - age_days * 86400
        os.utime(folder / name, (stamp, stamp))
    report = SpeechOutputs(folder).purge(datetime.now(timezone.utc) - timedelta(days=7), anonymise=True)
    assert report.counts == {"outputs": 1, "files": 2}
    assert sorted(p.name for p in folder.iterdir()) == ["new"]
