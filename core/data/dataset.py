"""One call from a data path to cleaned, split examples with a fingerprint that identifies the result."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from core.data.cleaning import CleaningConfig, CleaningReport, clean
from core.data.examples import ClassificationExample, DataError, Example
from core.data.formats import FORMATS, SUPPORTED, detect_format, to_examples
from core.data.loaders import load_records
from core.data.split import train_val_split


@dataclass
class PreparedData:
    train: list[Example]
    val: list[Example]
    format: str
    report: CleaningReport
    fingerprint: str  # sha256 of the data bytes and every setting that shapes the result
    labels: list[str] = field(default_factory=list)  # classification: every label in train or val, sorted


def _fingerprint(paths: list[Path], settings: dict) -> str:
    h = hashlib.sha256()
    for path in paths:
        for f in sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]:
            h.update(f.relative_to(path).as_posix().encode() + b"\0")
            with f.open("rb") as stream:
                while chunk := stream.read(1 << 20):
                    h.update(chunk)
    h.update(json.dumps(settings, sort_keys=True).encode())
    return h.hexdigest()


def prepare_data(
    path: str | Path,
    fmt: str = "auto",
    cleaning: CleaningConfig | None = None,
    val_fraction: float = 0.1,
    seed: int = 42,
    val_path: str | Path | None = None,
) -> PreparedData:
    """Load, convert, clean and split. With ``val_path`` that file is the validation set (same format, cleaned
    together with the training data, so validation examples duplicating training ones are dropped)."""
    if fmt != "auto" and fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}; use auto or one of {', '.join(FORMATS)}; {SUPPORTED}")
    # Any settings object with the same fields (e.g. a training config's cleaning section) is accepted.
    config = CleaningConfig.model_validate(cleaning or CleaningConfig(), from_attributes=True)
    records = load_records(path)
    val_records = load_records(val_path) if val_path is not None else []
    if {Path(r.source).resolve() for r in records} & {Path(r.source).resolve() for r in val_records}:
        raise DataError(f"the validation data {val_path} is part of the training data {path}")
    fmt = detect_format(records) if fmt == "auto" else fmt
    examples = to_examples(records + val_records, fmt)
    cleaned, report = clean(examples, config)

    if val_path is None:
        train, val = train_val_split(cleaned, val_fraction, seed)
    else:
        val_sources = {r.source for r in val_records}
        train = [e for e in cleaned if e.source not in val_sources]
        val = [e for e in cleaned if e.source in val_sources]
    if not train:
        raise DataError(f"{path}: no training examples left after cleaning\n{report.summary()}")

    paths = [Path(p).expanduser() for p in (path, val_path) if p is not None]
    settings = {"format": fmt, "cleaning": config.model_dump(), "val_fraction": val_fraction, "seed": seed}
    labels = sorted({e.label for e in train + val if isinstance(e, ClassificationExample)})
    return PreparedData(train, val, fmt, report, _fingerprint(paths, settings), labels)
