"""Seeded train/validation split; stratified by label for classification when every label can spare one
validation example, so small classes are not left out of validation by chance."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from core.data.examples import ClassificationExample, DataError, Example


def _val_size(n: int, val_fraction: float) -> int:
    if n < 2 or val_fraction == 0:
        return 0
    return min(max(round(n * val_fraction), 1), n - 1)


def _stratified_quotas(counts: Counter, n_val: int) -> dict[str, int]:
    """Validation examples per label, proportional to its size (largest remainders get the rounding), and
    always leaving each label at least one training example."""
    n = sum(counts.values())
    exact = {label: count * n_val / n for label, count in counts.items()}
    quotas = {label: int(share) for label, share in exact.items()}
    by_remainder = sorted(counts, key=lambda label: (quotas[label] - exact[label], label))
    for label in by_remainder[: n_val - sum(quotas.values())]:
        quotas[label] += 1
    return {label: min(q, counts[label] - 1) for label, q in quotas.items()}


def train_val_split(
    examples: Sequence[Example], val_fraction: float = 0.1, seed: int = 42
) -> tuple[list[Example], list[Example]]:
    """Shuffle with ``seed`` and hold out ``val_fraction`` (at least one example once there are two).
    Both parts come back in shuffled order, so files sorted by label do not reach training sorted."""
    if not 0 <= val_fraction < 1:
        raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}")
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_val = _val_size(len(order), val_fraction)
    labels = [e.label if isinstance(e, ClassificationExample) else None for e in examples]
    counts = Counter(labels)
    if n_val and None not in counts and min(counts.values()) >= 2:
        quotas = _stratified_quotas(counts, n_val)
        val_idx = set()
        for i in order:
            if quotas[labels[i]] > 0:
                quotas[labels[i]] -= 1
                val_idx.add(i)
    else:
        val_idx = set(order[:n_val])
    return [examples[i] for i in order if i not in val_idx], [examples[i] for i in order if i in val_idx]
