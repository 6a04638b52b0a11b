"""BM25 on the sparse matrix gives the textbook Okapi scores, ranks best first and skips non-matching documents."""

from __future__ import annotations

import math

import numpy as np
import pytest

from apps.support_bot.kb.bm25 import BM25, top_k

DOCS = [
    ["return", "boot", "refund"],
    ["ship", "canada", "ship", "duty"],
    ["refund", "time", "card"],
    ["tent", "warranty"],
    [],
]


def okapi(docs: list[list[str]], query: list[str], k1: float = 1.5, b: float = 0.75) -> list[float]:
    """The formula written out per document, term by term."""
    n, avg = len(docs), sum(map(len, docs)) / len(docs)
    out = []
    for doc in docs:
        score = 0.0
        for term in query:
            df = sum(term in d for d in docs)
            tf = doc.count(term)
            if tf:
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(doc) / avg))
        out.append(score)
    return out


@pytest.mark.parametrize("query", [["refund"], ["ship", "canada"], ["refund", "refund", "card"], ["tent", "nothing"]])
def test_scores_match_the_okapi_formula(query):
    np.testing.assert_allclose(BM25().build(DOCS).scores(query), okapi(DOCS, query), rtol=1e-5)


def test_top_is_best_first_and_drops_documents_without_a_match():
    bm25 = BM25().build(DOCS)
    top = bm25.top(["refund", "card"], k=10)
    assert [i for i, _ in top] == [2, 0]
    assert top[0][1] > top[1][1] > 0
    assert bm25.top(["unknown"], k=3) == []


def test_parameters_change_the_length_normalisation():
    short, long = ["tent"], ["tent"] + ["word"] * 20
    flat = BM25(b=0.0).build([short, long]).scores(["tent"])
    normed = BM25(b=1.0).build([short, long]).scores(["tent"])
    assert flat[0] == pytest.approx(flat[1])
    assert normed[0] > normed[1]


def test_empty_corpus_and_rebuild():
    bm25 = BM25().build([])
    assert bm25.scores(["x"]).shape == (0,) and bm25.top(["x"], 3) == []
    bm25.build([["x"], ["y"]])
    assert [i for i, _ in bm25.top(["y"], 3)] == [1]


def test_top_k_orders_and_bounds():
    scores = np.array([0.1, 0.9, -0.5, 0.4, 0.9], dtype=np.float32)
    assert [i for i, _ in top_k(scores, 3)] == [1, 4, 3]
    assert [i for i, _ in top_k(scores, 10)] == [1, 4, 3, 0, 2]
    assert [i for i, _ in top_k(scores, 10, positive=True)] == [1, 4, 3, 0]
    assert top_k(scores, 0) == []


def test_coverage_is_the_share_of_query_idf_a_document_holds():
    bm25 = BM25().build(DOCS)
    scores, coverage = bm25.match(["refund", "card"])
    np.testing.assert_allclose(scores, okapi(DOCS, ["refund", "card"]), rtol=1e-5)
    idf = {t: math.log(1 + (5 - df + 0.5) / (df + 0.5)) for t, df in (("refund", 2), ("card", 1))}
    np.testing.assert_allclose(coverage, [idf["refund"] / sum(idf.values()), 0, 1, 0, 0], rtol=1e-5)
    unknown = math.log(1 + 5.5 / 0.5)  # a word the corpus lacks counts with the highest IDF
    _, partial = bm25.match(["tent", "zzz"])
    assert partial[3] == pytest.approx(math.log(1 + 4.5 / 1.5) / (math.log(1 + 4.5 / 1.5) + unknown), rel=1e-5)
    assert [i for i, _ in bm25.top(["refund", "card"], k=5, min_coverage=0.5)] == [2]
    np.testing.assert_allclose(bm25.scores(["refund", "card"]), scores)  # matching leaves the index unchanged
