"""Noticing that another process rewrote a file, for processes that keep what they read in memory (the model
registry in a running server, a knowledge base in a running bot)."""

from __future__ import annotations

import os
from pathlib import Path

Stamp = tuple[int, int, int]


def file_stamp(path: Path) -> Stamp | None:
    """(inode, mtime, size) of ``path``, None when it does not exist: a file replaced atomically (a temporary file
    moved into place) gets a new inode with every write, so a changed stamp means a new version, for one stat."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size
