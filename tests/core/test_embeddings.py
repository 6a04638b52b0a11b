import numpy as np
import pytest

from core.errors import InvalidRequestError

pytestmark = pytest.mark.slow


def test_batched_normalised_embeddings(embedder):
    texts = [f"sentence number {i}" for i in range(70)]  # more than one batch of 32
    vecs = embedder.embed(texts)
    assert vecs.shape == (70, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    one = embedder.embed(["sentence number 5"])[0]
    assert np.allclose(one, vecs[5], atol=1e-4)  # batching does not change results


def test_similarity_ranks_paraphrases_first(embedder):
    q, same, other = embedder.embed(["Where is my parcel?", "Track my package delivery", "Best pizza recipe"])
    assert q @ same > q @ other + 0.2


def test_empty_and_wrong_input(embedder):
    assert embedder.embed([]).shape == (0, 384)
    with pytest.raises(InvalidRequestError):
        embedder.embed("not a list")


def test_multilingual_encoder_ranks_chinese_and_cross_lingual_paraphrases(settings):
    from core.embeddings import load_embedder

    use = load_embedder("use-multilingual-v3", settings)
    assert use.dimension == 512
    q, same_zh, same_en, other = use.embed(
        ["我想退款", "怎么申请退货退款？", "I want a refund", "运费多少钱？"], kind="query"
    )
    assert np.allclose(np.linalg.norm([q, other], axis=1), 1.0, atol=1e-4)
    assert q @ same_zh > q @ other + 0.2
    assert q @ same_en > q @ other + 0.2  # one space for Chinese and English
    assert use.embed([]).shape == (0, 512)
