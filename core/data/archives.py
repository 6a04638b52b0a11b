"""Zip containers from users (DOCX, XLSX): refuse a decompression bomb before a parser inflates it.

``zipfile`` never inflates an entry past the size its directory declares (it stops there and fails the CRC), so
summing the declared sizes bounds what any parser built on it can allocate."""

from __future__ import annotations

import io
import zipfile

MAX_UNZIPPED_BYTES = 256 * 2**20  # a text document or FAQ sheet unpacks to far less; images are not read


def unzipped_size_problem(data: bytes, name: str, limit: int | None = None) -> str | None:
    """Why the zip ``data`` must not be opened (a message naming ``name`` and the limit), or None when it may.
    ``limit``: bytes unpacked at most (default ``MAX_UNZIPPED_BYTES``)."""
    limit = limit or MAX_UNZIPPED_BYTES
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None  # not a zip at all: the format's own parser says so in its terms
    if total > limit:
        return f"{name}: unpacks to {total / 2**20:,.0f} MB, more than the {limit / 2**20:g} MB allowed; not opened"
    return None
