"""The bot's intent classifier: one recipe, used by the shipped demo model, ``llmeco bot train-intents``,
``llmeco bot eval-intents`` and ``benchmarks/support_bot_intents.py``.

Recipe: all-MiniLM-L6-v2 fine-tuned as a sequence classifier through ``core.training``, ensembled (mean
log-probability) with logistic regressions over frozen sentence embeddings and over character + word TF-IDF.
Every view also learns each intent's name as one example of it. MiniLM is English-only: its views sit out on
Chinese text, which the multilingual USE embeddings and character n-grams carry. On Banking77 the views together
make fewer errors than any one alone (``benchmarks/support_bot_intents.py``).

A model folder holds ``intents.json`` (recipe, labels, what it was trained on), ``encoder/`` (a core run
folder) and ``heads.npz`` (the regressions as plain arrays: no pickle, so loading a folder never runs code)."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import ValidationError
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from apps.support_bot.config import SHARED_DATA, BotConfig, bot_home
from core.classify import Prediction, TransformersClassifier
from core.config import Settings, validation_problems
from core.data import DataError, load_records
from core.embeddings import load_embedder
from core.errors import ConfigError, InvalidRequestError, ModelLoadError
from core.models import registry
from core.training.config import TrainConfig
from core.training.metrics import classification_scores
from core.training.trainer import train

ENCODER = "all-minilm-l6-v2"
EMBEDDING_VIEWS = ("all-minilm-l6-v2", "use-multilingual-v3")
ENGLISH_ONLY = {"all-minilm-l6-v2"}  # its views sit out on Chinese text (the demo's zh rows: 62% alone)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORDY = re.compile(r"[^\W\d_]")  # a label with letters is a name worth learning from
_SEPARATORS = re.compile(r"[_\-\s]+")
RECIPE = f"{ENCODER} fine-tuned + logistic regression over {' / '.join(EMBEDDING_VIEWS)} embeddings and TF-IDF"
MAX_LENGTH = 64  # intents are short; longer messages are truncated
LR_C = 10.0  # Banking77, frozen MiniLM: C=1 under-fits by 2 points, C=100 is no better
DEMO_DATA = SHARED_DATA / "intents.csv"
INFO = "intents.json"
HEADS = "heads.npz"


def read_intent_csv(path: str | Path) -> list[tuple[str, str]]:
    """``(text, label)`` rows of a CSV with a ``text`` column and a ``label`` (or Banking77's ``category``)
    column. Errors name the file and line, so users fix their data without reading a traceback."""
    path = Path(path).expanduser()
    if path.suffix.lower() != ".csv":
        raise DataError(f"{path}: intent data must be a .csv file with text and label (or category) columns")
    records = load_records(path)  # bad encoding, malformed rows and empty files raise with file and line
    columns = list(records[0].data)
    label_key = "label" if "label" in columns else "category"
    if "text" not in columns or label_key not in columns:
        raise DataError(f"{path} line 1: needs columns text and label (or category); found {', '.join(columns)}")
    rows = []
    for record in records:
        text, label = record.data["text"].strip(), record.data[label_key].strip()
        if not text:
            raise DataError(f"{record.where}: empty text")
        if not label:
            raise DataError(f"{record.where}: empty {label_key}")
        rows.append((text, label))
    return rows


def _vectorizers(vocabularies: Sequence[np.ndarray] | None = None) -> list[TfidfVectorizer]:
    """Character n-grams (within words, so they need no Chinese segmentation) and word uni/bigrams."""
    specs = [{"analyzer": "char_wb", "ngram_range": (2, 5)}, {"analyzer": "word", "ngram_range": (1, 2)}]
    return [
        TfidfVectorizer(sublinear_tf=True, vocabulary=None if vocabularies is None else vocabularies[i].tolist(), **s)
        for i, s in enumerate(specs)
    ]


def _tfidf(vectorizers: list[TfidfVectorizer], texts: Sequence[str]) -> sparse.csr_matrix:
    return sparse.hstack([v.transform(texts) for v in vectorizers]).tocsr()


def _fit_heads(texts: list[str], labels: list[str], settings: Settings) -> dict[str, np.ndarray]:
    """One regression per frozen view; returns the arrays ``heads.npz`` stores."""
    y = np.array(labels)
    arrays: dict[str, np.ndarray] = {}
    vectorizers = [v.fit(texts) for v in _vectorizers()]
    views = {name: load_embedder(name, settings).embed(texts) for name in EMBEDDING_VIEWS}
    views["tfidf"] = _tfidf(vectorizers, texts)
    for name, features in views.items():
        clf = LogisticRegression(C=LR_C, max_iter=3000).fit(features, y)
        arrays[f"{name}.coef"], arrays[f"{name}.intercept"] = clf.coef_.astype(np.float32), clf.intercept_
    for i, v in enumerate(vectorizers):
        arrays[f"tfidf.vocabulary{i}"] = v.get_feature_names_out().astype(str)
        arrays[f"tfidf.idf{i}"] = v.idf_
    arrays["classes"] = np.unique(y).astype(str)  # the order of every regression's rows
    return arrays


def _with_label_names(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each intent's name ("card_arrival" -> "card arrival") as one more example of it: on Banking77 with 10
    examples per intent this lifts the ensemble by 0.7 points; with the full set it changes nothing."""
    names = sorted({label for _, label in rows if _WORDY.search(label)})
    return rows + [(" ".join(_SEPARATORS.split(label)).strip(), label) for label in names]


def _encoder_config(data: Path, output: Path, n_rows: int, overrides: dict) -> TrainConfig:
    """The fine-tune's settings (measured on Banking77: 770 rows need the longer schedule, 10k rows a larger
    batch); ``overrides`` (e.g. epochs=3, learning_rate=5e-5) win."""
    small = n_rows < 2000
    recipe = {
        "model": ENCODER,
        "data": str(data),
        "output": str(output),
        "format": "classification",
        "val_fraction": 0.0,  # every row trains; the schedule is fixed, so no early stopping needs a split
        "early_stopping_patience": None,
        "save_steps": 10**9,  # one checkpoint at the end (deleted after): the schedule is short
        "max_length": MAX_LENGTH,
        "learning_rate": 1e-4,
        "epochs": 15 if small else 5,
        "batch_size": 16 if small else 32,
    }
    try:
        return TrainConfig(**{**recipe, **overrides})
    except ValidationError as exc:
        raise ConfigError(f"invalid training setting: {validation_problems(exc)}") from None


def _swap_in(new: Path, output: Path) -> None:
    """Replace ``output`` by ``new`` with renames only, so a reader sees the old or the new model, never half."""
    old = output.with_name(f".{output.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if output.exists():
        output.rename(old)
    new.rename(output)
    shutil.rmtree(old, ignore_errors=True)


def train_intents(
    data: str | Path, settings: Settings, output: str | Path | None = None, progress: bool = True, **overrides
) -> Path:
    """Train the recipe on a CSV and return the model folder (default ``$LLMECO_HOME/support_bot/intents``).
    Training happens in a sibling temporary folder that replaces ``output`` only once complete, so a failed
    or interrupted retrain keeps the previous model. ``overrides`` go to the encoder's ``TrainConfig``."""
    data = Path(data).expanduser().resolve()
    rows = read_intent_csv(data)  # bad data fails here, before any model loads
    if len({label for _, label in rows}) < 2:
        raise DataError(f"{data}: training needs at least 2 different labels")
    output = Path(output or bot_home(settings) / "intents").expanduser().resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    work.chmod(0o755)  # mkdtemp's 0700 would outlive the rename
    try:
        start = time.perf_counter()
        examples = _with_label_names(rows)
        train_csv = work / "train.csv"
        with train_csv.open("w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows([("text", "label"), *examples])
        cfg = _encoder_config(train_csv, work / "encoder", len(rows), overrides)
        result = train(cfg, settings, progress=progress)
        shutil.rmtree(result.run_dir / "checkpoints", ignore_errors=True)  # optimizer state: not needed to predict
        train_csv.unlink()
        np.savez(work / HEADS, **_fit_heads([t for t, _ in examples], [label for _, label in examples], settings))
        info = {
            "recipe": RECIPE,
            "labels": sorted({label for _, label in rows}),
            "data": str(data),
            "data_sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
            "n_train": len(rows),
            "train_seconds": round(time.perf_counter() - start, 1),
            "encoder": {"base": cfg.model, **result.chosen.to_dict()},
        }
        (work / INFO).write_text(json.dumps(info, indent=2, ensure_ascii=False), encoding="utf-8")
        _swap_in(work, output)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return output


def ensure_intent_model(settings: Settings) -> Path:
    """The model folder the bot uses: ``apps.support_bot.intent_model`` (a folder from ``train_intents``, or
    any core classifier: run folder, registered name, model folder), else the demo model, trained on
    ``shared_data/support_bot/intents.csv`` the first time (and again only if that file changes)."""
    ref = BotConfig.from_settings(settings).intent_model
    if ref:
        folder = Path(ref).expanduser()
        return folder if (folder / INFO).is_file() else registry.resolve(ref, settings, "classification").path
    folder = bot_home(settings) / "intents"
    info_path = folder / INFO
    if info_path.is_file():
        info = json.loads(info_path.read_text(encoding="utf-8"))
        demo = info["data"] == str(DEMO_DATA.resolve())
        if not demo or info["data_sha256"] == hashlib.sha256(DEMO_DATA.read_bytes()).hexdigest():
            return folder
    return train_intents(DEMO_DATA, settings, folder, progress=False)


@dataclass
class _View:
    """One voter of the ensemble: texts -> log-probabilities over the labels."""

    name: str
    log_proba: Callable[[list[str]], np.ndarray]
    english_only: bool


class IntentClassifier:
    """The recipe's ensemble; a plain core classifier folder (no ``intents.json``) is used on its own."""

    def __init__(self, folder: str | Path, settings: Settings):
        folder = Path(folder)
        info_path = folder / INFO
        info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else None
        encoder = TransformersClassifier(
            folder / "encoder" / "model" if info else folder,
            max_length=MAX_LENGTH,
            trust_remote_code=settings.trust_remote_code,
            allow_pickle_weights=settings.allow_pickle_weights,
        )
        self.labels: list[str] = encoder.labels

        def encoder_log_proba(texts: list[str]) -> np.ndarray:
            probs = [[p.scores[label] for label in self.labels] for p in encoder.predict(texts)]
            return np.log(np.maximum(np.array(probs), 1e-12))

        base = info["encoder"]["base"] if info else None
        self.views = [_View("encoder", encoder_log_proba, base in ENGLISH_ONLY)]
        if info:
            self.views += _load_heads(folder, self.labels, settings)

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Each text's intent, its probability and every label's probability: the geometric mean of the views'
        probabilities, leaving the English-only views (MiniLM) out for text with Chinese characters."""
        if isinstance(texts, str):
            raise InvalidRequestError("predict() takes a list of texts, not a single string")
        texts = list(texts)
        if not texts:
            return []
        cjk = _cjk_mask(texts)
        english = np.flatnonzero(~cjk)
        view_log_probas = []
        for view in self.views:
            if not view.english_only or len(english) == len(texts):
                view_log_probas.append(view.log_proba(texts))
                continue
            # The English-only views get no vote on Chinese text (see _combine): skip running them on it, which
            # halves the time a Chinese question takes.
            logp = np.zeros((len(texts), len(self.labels)))
            if len(english):
                logp[english] = view.log_proba([texts[i] for i in english])
            view_log_probas.append(logp)
        return self._combine(cjk, view_log_probas)

    def _combine(self, cjk: np.ndarray, view_log_probas: list[np.ndarray]) -> list[Prediction]:
        logp = np.array(view_log_probas)  # (views, texts, labels)
        english_only = np.array([view.english_only for view in self.views])
        votes = ~(english_only[:, None] & cjk[None, :])  # (views, texts)
        mean = (logp * votes[:, :, None]).sum(axis=0) / votes.sum(axis=0)[:, None]
        probs = np.exp(mean - mean.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        return [
            Prediction(
                self.labels[int(row.argmax())], float(row.max()), dict(zip(self.labels, row.tolist(), strict=True))
            )
            for row in probs
        ]


def _cjk_mask(texts: Sequence[str]) -> np.ndarray:
    """Which texts have Chinese characters (the English-only views sit those out)."""
    return np.array([bool(_CJK.search(t)) for t in texts], dtype=bool)


def _load_heads(folder: Path, labels: list[str], settings: Settings) -> list[_View]:
    """The regression views of a model folder, each with the embedder or vectorizers that feed it."""
    with np.load(folder / HEADS, allow_pickle=False) as stored:
        arrays = dict(stored)
    classes = arrays["classes"]
    if classes.tolist() != labels:
        raise ModelLoadError(f"{folder}: {HEADS} and encoder/ disagree on the labels; retrain the model")

    def head(name: str) -> LogisticRegression:
        clf = LogisticRegression(C=LR_C)
        clf.classes_, clf.coef_, clf.intercept_ = classes, arrays[f"{name}.coef"], arrays[f"{name}.intercept"]
        return clf

    def embedding_view(name: str) -> _View:
        embedder, clf = load_embedder(name, settings), head(name)
        return _View(name, lambda texts: clf.predict_log_proba(embedder.embed(texts)), name in ENGLISH_ONLY)

    vectorizers = _vectorizers([arrays[f"tfidf.vocabulary{i}"] for i in range(2)])
    for i, v in enumerate(vectorizers):
        v.idf_ = arrays[f"tfidf.idf{i}"]
    tfidf = head("tfidf")
    return [embedding_view(name) for name in EMBEDDING_VIEWS] + [
        _View("tfidf", lambda texts: tfidf.predict_log_proba(_tfidf(vectorizers, texts)), False)
    ]


def load_intents(settings: Settings) -> IntentClassifier:
    """The bot's intent classifier (trains the demo model first if it is missing)."""
    return IntentClassifier(ensure_intent_model(settings), settings)


def evaluate_intents(train: str | Path, test: str | Path, settings: Settings, progress: bool = True) -> dict:
    """Train the recipe on ``train`` (in a temporary folder) and score it on ``test``: accuracy, macro-F1,
    per-class scores, the confusion matrix, each view's own accuracy (what the ensemble adds) and the
    misclassified rows (what to fix in the data)."""
    test_rows = read_intent_csv(test)
    unknown = sorted({label for _, label in test_rows} - {label for _, label in read_intent_csv(train)})
    if unknown:
        raise DataError(f"{test}: labels that the training data {train} does not have: {', '.join(unknown[:10])}")
    texts, truth = [text for text, _ in test_rows], [label for _, label in test_rows]
    with tempfile.TemporaryDirectory(prefix="intents-eval-") as tmp:
        start = time.perf_counter()
        folder = train_intents(train, settings, Path(tmp) / "intents", progress=progress)
        seconds = time.perf_counter() - start
        n_train = json.loads((folder / INFO).read_text(encoding="utf-8"))["n_train"]
        clf = IntentClassifier(folder, settings)
        view_log_probas = [view.log_proba(texts) for view in clf.views]
        predicted = [p.label for p in clf._combine(_cjk_mask(texts), view_log_probas)]
    scores = classification_scores(truth, predicted, clf.labels)
    view_accuracy = {
        view.name: float(np.mean(np.array(clf.labels)[logp.argmax(axis=1)] == np.array(truth)))
        for view, logp in zip(clf.views, view_log_probas, strict=True)
    }
    return {
        "method": RECIPE,
        "accuracy": scores["accuracy"],
        "macro_f1": scores["macro_f1"],
        "n_train": n_train,
        "n_test": len(test_rows),
        "n_labels": len(clf.labels),
        "train_seconds": round(seconds, 1),
        "train": str(train),
        "test": str(test),
        "view_accuracy": view_accuracy,
        **{k: scores[k] for k in ("labels", "per_class", "confusion_matrix")},
        "errors": [
            {"text": text, "label": label, "predicted": guess}
            for text, label, guess in zip(texts, truth, predicted, strict=True)
            if guess != label
        ],
    }
