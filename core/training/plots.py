"""Plots saved as PNG in run folders: loss/metric curves and confusion matrices."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402


def read_metrics(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # the trainer may be half-way through appending the last line
            continue
    return rows


def plot_curves(run_dir: Path) -> Path | None:
    """Training loss, validation loss and (classifiers) validation macro-F1 against the step."""
    rows = read_metrics(run_dir)
    series = {
        "train loss": [(r["step"], r["loss"]) for r in rows if "loss" in r],
        "validation loss": [(r["step"], r["eval_loss"]) for r in rows if "eval_loss" in r],
    }
    f1 = [(r["step"], r["eval_macro_f1"]) for r in rows if "eval_macro_f1" in r]
    if not any(series.values()):
        return None
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for label, points in series.items():
        if points:
            ax.plot(*zip(*points, strict=True), label=label, marker="o" if len(points) < 30 else None)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    if f1:
        ax2 = ax.twinx()
        ax2.plot(*zip(*f1, strict=True), color="tab:green", label="validation macro-F1", marker="s")
        ax2.set_ylabel("macro-F1")
        ax2.legend(loc="center right")
    ax.legend(loc="upper right")
    ax.set_title(Path(run_dir).name)
    fig.tight_layout()
    out = Path(run_dir) / "loss.png"
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_confusion(matrix: list[list[int]], labels: list[str], path: Path, title: str = "Confusion matrix") -> Path:
    n = len(labels)
    size = min(4 + 0.35 * n, 30)
    fig, ax = plt.subplots(figsize=(size, size), dpi=100)
    im = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), labels, rotation=90, fontsize=8 if n > 20 else 10)
    ax.set_yticks(range(n), labels, fontsize=8 if n > 20 else 10)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 20:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(matrix[i][j]), ha="center", va="center", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
