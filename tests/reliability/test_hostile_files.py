"""Every file ingester under hostile files: knowledge-base uploads (CSV, XLSX, MD, HTML, PDF, DOCX, JSONL) through
the bot API, documents through the writing API, training data files, and audio (directly and through
/v1/audio/transcriptions): zero-byte and truncated files, invalid UTF-8, NUL bytes, zip bombs posing as DOCX/XLSX,
path traversal in upload names, WAVs with absurd headers. Each gets a clear error, never a crash."""

from __future__ import annotations

import io
import json

import httpx
import pytest

from core.errors import LLMEcoError
from tests.reliability.probe import BOMB_MB, HOSTILE_WAVS, assert_alive, assert_clean, zip_bomb

pytestmark = pytest.mark.slow


def _xlsx() -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["question", "answer"])
    book.active.append(["Do you sell maps?", "Yes, paper maps cost 9 euros."])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def _docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph("Opening hours: 9 to 5.")
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def hostile_kb_files() -> dict[str, bytes]:
    xlsx, docx = _xlsx(), _docx()
    return {
        "empty.csv": b"",
        "nul.csv": b"question,answer\nwhat\x00?,a\x00b\n",
        "invalid-utf8.md": b"# Title\n\xff\xfe\xfa broken \xc3\x28\n",
        "deep.html": b"<div>" * 50_000 + b"text" + b"</div>" * 50_000,
        "truncated.xlsx": xlsx[: len(xlsx) // 2],
        "truncated.docx": docx[: len(docx) // 2],
        "fake.pdf": b"%PDF-1.7\n" + b"\x00" * 100,
        "truncated.pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nendobj\n",
        "bomb.docx": zip_bomb("word/document.xml"),
        "bomb.xlsx": zip_bomb("xl/worksheets/sheet1.xml"),
        "deep.jsonl": b'{"question": ' + b"[" * 100_000 + b"\n",
        "wrong-types.jsonl": b'{"question": 1, "answer": [1, 2]}\n[]\n"x"\n',
        "csv-only-header.csv": b"question,answer\n",
        "quotes.csv": b'question,answer\n"unterminated,quote\n',
        "no-suffix": b"hello",
        "image.png": b"\x89PNG\r\n\x1a\n",
    }


@pytest.fixture
def small_unzip_limit(monkeypatch):
    from core.data import archives

    monkeypatch.setattr(archives, "MAX_UNZIPPED_BYTES", BOMB_MB // 3 * 2**20)


def test_hostile_knowledge_base_uploads(bot_api, small_unzip_limit):
    files = [("files", (name, data, "application/octet-stream")) for name, data in hostile_kb_files().items()]
    response = httpx.post(f"{bot_api.url}/api/kb/sources", files=files, timeout=300)
    assert_clean(response, bot_api.url)
    results = {r["name"]: r for r in response.json()}
    assert set(results) == set(hostile_kb_files())
    try:
        for name, result in results.items():
            if name == "nul.csv":  # NUL bytes are dropped from KB text (PostgreSQL refuses them when quoted)
                assert result["status"] == "added", result
                continue
            assert result["status"] == "error", (name, result)
            assert name in result["error"] and "Traceback" not in result["error"], result
        assert "unpacks to" in results["bomb.docx"]["error"] and "unpacks to" in results["bomb.xlsx"]["error"]
        assert "nested too deeply" in results["deep.jsonl"]["error"]
        hits = httpx.get(f"{bot_api.url}/api/kb/search", params={"q": "what?"}).json()
        assert hits and all("\x00" not in h["text"] for h in hits)
    finally:
        httpx.delete(f"{bot_api.url}/api/kb/sources/nul.csv")


@pytest.mark.parametrize(
    "name", ["../../../../tmp/llmeco-evil.csv", "..\\..\\evil.csv", "/etc/cron.d/evil.csv", "a/b/../../c.csv"]
)
def test_path_traversal_in_upload_names_stays_inside(bot_api, tiny_bot, name):
    faq = b"question,answer\nDo you sell gift cards?,Yes, from 10 euros.\n"
    response = httpx.post(f"{bot_api.url}/api/kb/sources", files=[("files", (name, faq, "text/csv"))], timeout=120)
    assert_clean(response, bot_api.url)
    [result] = response.json()
    try:
        assert result["status"] == "added" and result["name"] in ("llmeco-evil.csv", "evil.csv", "c.csv"), result
        ids = {s["id"] for s in httpx.get(f"{bot_api.url}/api/kb/sources").json()}
        assert ids == {"faq.csv", result["name"]}
        home = tiny_bot.settings.home.resolve()
        assert all(p.resolve().is_relative_to(home) for p in tiny_bot.kb.root.rglob("*") if not p.is_symlink())
    finally:
        httpx.delete(f"{bot_api.url}/api/kb/sources/{result['name']}")


def test_hostile_documents_for_the_writer(writer_api, small_unzip_limit):
    cases = {
        "bomb.docx": zip_bomb("word/document.xml"),
        "truncated.docx": _docx()[:300],
        "empty.docx": b"",
        "invalid-utf8.md": b"\xff\xfe\xfa\xc3\x28",
        "nul.txt": b"a\x00b",
        "../../evil.txt": b"fine text",
        "noext": b"text",
        "x" * 5000 + ".txt": b"long name",
    }
    for name, data in cases.items():
        response = httpx.post(f"{writer_api.url}/api/documents/upload", files={"file": (name, data)}, timeout=60)
        assert_clean(response, writer_api.url)
        if response.status_code == 200:
            doc = response.json()
            assert httpx.delete(f"{writer_api.url}/api/documents/{doc['id']}").status_code == 200
    bomb = httpx.post(
        f"{writer_api.url}/api/documents/upload", files={"file": ("bomb.docx", zip_bomb("word/document.xml"))}
    )
    assert bomb.status_code == 400 and "unpacks to" in bomb.json()["error"]


def test_hostile_training_data_files(tmp_path):
    from core.data.loaders import load_records

    cases = {
        "empty.jsonl": b"",
        "invalid-utf8.jsonl": b'{"text": "\xff\xfe"}\n',
        "nul.jsonl": b'{"text": "a"}\x00\n',
        "truncated.jsonl": b'{"messages": [{"role": "user", "content": "hi"}',
        "deep.jsonl": b'{"text": ' + b"[" * 100_000 + b"\n",
        "deep.json": b"[" * 100_000,
        "scalar.json": b"42",
        "wrong-types.jsonl": b"[1, 2]\n",
        "huge-field.csv": b"text\n" + b"x" * 200_000 + b"\n",
        "binary.csv": bytes(range(256)),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(LLMEcoError) as caught:
            load_records(tmp_path / name)
        assert name in str(caught.value), str(caught.value)


def test_hostile_data_gives_a_one_line_cli_error(tmp_path):
    """The CLI prints the message, not a traceback (``llmeco train`` checks its data before loading a model)."""
    import subprocess
    import sys

    bad = tmp_path / "deep.jsonl"
    bad.write_bytes(b'{"text": ' + b"[" * 100_000 + b"\n")
    done = subprocess.run(
        [sys.executable, "-m", "apps.cli", "train", "--data", str(bad), "--output", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr + done.stdout, done.stderr[-2000:]
    assert "deep.jsonl" in done.stderr + done.stdout


@pytest.mark.parametrize("name", sorted(HOSTILE_WAVS))
def test_absurd_audio_is_refused_or_decoded_within_bounds(name):
    """A clear error naming the file, or (where ffmpeg makes sense of the header) bounded, finite samples."""
    import numpy as np

    from core.speech.audio import load_audio

    try:
        samples = load_audio(HOSTILE_WAVS[name], name, max_duration_s=60)
    except LLMEcoError as exc:
        assert name in str(exc)
    else:
        assert samples.dtype == np.float32 and samples.size <= 60 * 16000 and np.isfinite(samples).all()


def test_absurd_audio_through_the_transcription_route(server_api):
    for name in ("rate0.wav", "channels0.wav", "lying-size.wav", "truncated.wav", "empty.wav", "text.wav"):
        data = HOSTILE_WAVS[name]
        response = httpx.post(
            f"{server_api.url}/v1/audio/transcriptions",
            files={"file": (name, data)},
            data={"model": "whisper-1"},
            timeout=120,
        )
        assert_clean(response, server_api.url)
        assert response.status_code == 400, (name, response.text)
        assert name in json.loads(response.text)["error"]["message"]
    assert_alive(server_api.url)


def _llmeco(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """`llmeco ARGS` in this process (the models stay loaded): its exit status and everything it printed."""
    import sys

    from apps.cli import main

    monkeypatch.setattr(sys, "argv", ["llmeco", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    printed = capsys.readouterr()
    return code, printed.out + printed.err


def test_speech_commands_on_hostile_audio_give_one_line_errors(tmp_path, monkeypatch, capsys):
    """transcribe reports each bad file and goes on (status 1); eval with no usable clip and convert of a folder
    that is not a CTranslate2 model are errors (status 2); never a traceback."""
    for name, data in HOSTILE_WAVS.items():
        (tmp_path / name).write_bytes(data)
    code, printed = _llmeco(monkeypatch, capsys, "speech", "transcribe", *map(str, sorted(tmp_path.iterdir())))
    assert code == 1 and "Traceback" not in printed, printed
    for line in ("empty.wav: the file is empty", "text.wav: not a readable audio file", "failed:"):
        assert line in printed, printed
    clips = tmp_path / "clips"
    clips.mkdir()
    for name in ("empty.wav", "text.wav"):
        (clips / name).write_bytes(HOSTILE_WAVS[name])
        (clips / name).with_suffix(".txt").write_text("hello world", encoding="utf-8")
    code, printed = _llmeco(monkeypatch, capsys, "speech", "eval", "--data", str(clips))
    assert code == 2 and "no clip in" in printed and "Traceback" not in printed, printed
    not_a_model = tmp_path / "not-a-model"
    not_a_model.mkdir()
    code, printed = _llmeco(monkeypatch, capsys, "speech", "convert", str(not_a_model), "-o", str(tmp_path / "o"))
    assert code == 2 and "model.bin: no such file" in printed and "Traceback" not in printed, printed
    (not_a_model / "model.bin").write_bytes(b"\x06\x00\x00\x00\x0c\x00WhisperSpec\x00\x01\x00\x00\x00\xff")
    code, printed = _llmeco(monkeypatch, capsys, "speech", "convert", str(not_a_model), "-o", str(tmp_path / "o"))
    assert code == 2 and "truncated or corrupt" in printed and "Traceback" not in printed, printed
