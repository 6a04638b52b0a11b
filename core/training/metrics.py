"""Evaluation metrics in plain Python: classification scores, and exact match / contains / ROUGE-L for
generation (ROUGE-L on characters for Chinese, on words otherwise)."""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def classification_scores(true: list, pred: list, labels: list | None = None) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix (rows = true)."""
    labels = labels if labels is not None else sorted(set(true) | set(pred), key=str)
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for t, p in zip(true, pred, strict=True):
        matrix[index[t]][index[p]] += 1
    per_class = {}
    for i, label in enumerate(labels):
        tp = matrix[i][i]
        predicted = sum(row[i] for row in matrix)
        support = sum(matrix[i])
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[str(label)] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    present = [c for c in per_class.values() if c["support"] > 0]
    return {
        "accuracy": sum(matrix[i][i] for i in range(len(labels))) / max(len(true), 1),
        "macro_f1": sum(c["f1"] for c in present) / max(len(present), 1),
        "per_class": per_class,
        "labels": [str(label) for label in labels],
        "confusion_matrix": matrix,
    }


def _units(text: str) -> list[str]:
    """Characters for CJK text (no word boundaries), lower-cased words otherwise."""
    if _CJK.search(text):
        return [c for c in text if not c.isspace()]
    return re.findall(r"\w+", text.lower())


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 from the longest common subsequence."""
    a, b = _units(prediction), _units(reference)
    if not a or not b:
        return 0.0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    p, r = lcs / len(a), lcs / len(b)
    return 2 * p * r / (p + r)


def _norm(text: str) -> str:
    return " ".join(_units(text)) if not _CJK.search(text) else "".join(_units(text))


def generation_scores(predictions: list[str], references: list[str]) -> dict:
    exact = [_norm(p) == _norm(r) for p, r in zip(predictions, references, strict=True)]
    contains = [_norm(r) in _norm(p) for p, r in zip(predictions, references, strict=True)]
    rouge = [rouge_l(p, r) for p, r in zip(predictions, references, strict=True)]
    n = max(len(predictions), 1)
    return {
        "exact_match": sum(exact) / n,
        "contains": sum(contains) / n,
        "rouge_l": sum(rouge) / n,
        "n": len(predictions),
    }
