"""The classification interface over a real encoder folder (MiniLM with a fresh 3-label head saved as
safetensors, the shape a fine-tuned intent model has)."""

import pytest
import torch

from core.classify import TransformersClassifier
from core.errors import InvalidRequestError, ModelLoadError
from core.models import registry

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def classifier_dir(settings, tmp_path_factory):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    base = registry.prepare("all-minilm-l6-v2", settings).path
    labels = ["refund", "shipping", "greeting"]
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        str(base),
        num_labels=3,
        id2label=dict(enumerate(labels)),
        label2id={x: i for i, x in enumerate(labels)},
    )
    out = tmp_path_factory.mktemp("clf")
    model.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(base)).save_pretrained(out)
    return out


def test_batched_predictions_are_distributions(classifier_dir):
    clf = TransformersClassifier(classifier_dir, batch_size=4)
    assert clf.labels == ["refund", "shipping", "greeting"]
    texts = [f"message {i}" for i in range(10)]
    preds = clf.predict(texts)
    assert len(preds) == 10
    for p in preds:
        assert p.label in clf.labels
        assert abs(sum(p.scores.values()) - 1) < 1e-4
        assert p.confidence == max(p.scores.values())
    assert clf.predict(texts[3:4])[0].scores == pytest.approx(preds[3].scores, abs=1e-5)


def test_bad_inputs(classifier_dir, tmp_path):
    with pytest.raises(InvalidRequestError):
        TransformersClassifier(classifier_dir).predict("one string")
    with pytest.raises(ModelLoadError):
        TransformersClassifier(tmp_path)
