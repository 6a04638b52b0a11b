"""Near-duplicate detection over character n-grams, which need no word segmentation: 3-grams for mostly
Chinese/Japanese/Korean text (a character carries about a word), 5-grams otherwise.

MinHash signatures with LSH banding find candidate pairs in near-linear time; each candidate is then checked
with the exact Jaccard similarity of the n-gram sets, so nothing below the threshold is ever removed."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

NUM_PERM = 128
_PRIME = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64((1 << 32) - 1)
_rng = np.random.default_rng(1)  # fixed: signatures must not change between runs
_A = _rng.integers(1, int(_PRIME), size=NUM_PERM, dtype=np.uint64)
_B = _rng.integers(0, int(_PRIME), size=NUM_PERM, dtype=np.uint64)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


def shingles(text: str) -> set[str]:
    """Character n-grams of the lower-cased, whitespace-collapsed text."""
    text = " ".join(text.lower().split())
    n = 3 if 2 * len(_CJK.findall(text)) >= len(text.replace(" ", "")) > 0 else 5
    if len(text) <= n:
        return {text}
    return {text[i : i + n] for i in range(len(text) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b)


def _signature(grams: set[str]) -> np.ndarray:
    hashes = np.fromiter(
        (int.from_bytes(hashlib.blake2b(g.encode(), digest_size=4).digest(), "little") for g in grams),
        dtype=np.uint64,
        count=len(grams),
    )
    # Universal hashing (a*h + b) mod p; uint64 products wrap, which keeps them pseudo-random and deterministic.
    return (((np.outer(_A, hashes) + _B[:, None]) % _PRIME) & _MAX32).min(axis=1)


def _banding(threshold: float) -> tuple[int, int]:
    """(bands, rows): the most selective split that still makes a pair at the threshold a candidate 99% of
    the time."""
    for rows in (64, 32, 16, 8, 4, 2):
        bands = NUM_PERM // rows
        if 1 - (1 - threshold**rows) ** bands >= 0.99:
            return bands, rows
    return NUM_PERM, 1


def near_duplicates(texts: Sequence[str], threshold: float = 0.8) -> set[int]:
    """Indices of texts whose n-gram Jaccard similarity to an earlier kept text is at least ``threshold``
    (the first of a group is kept)."""
    bands, rows = _banding(threshold)
    buckets: dict[tuple[int, bytes], list[int]] = {}
    kept: dict[int, set[str]] = {}
    dropped: set[int] = set()
    for i, text in enumerate(texts):
        grams = shingles(text)
        signature = _signature(grams)
        keys = [(b, signature[b * rows : (b + 1) * rows].tobytes()) for b in range(bands)]
        candidates = sorted({j for key in keys for j in buckets.get(key, ())})
        if any(jaccard(grams, kept[j]) >= threshold for j in candidates):
            dropped.add(i)
            continue
        kept[i] = grams
        for key in keys:
            buckets.setdefault(key, []).append(i)
    return dropped
