"""Okapi BM25 over a sparse term-document matrix: the per-term weights are computed once at build time, so
scoring a query is a sum of a few sparse rows (milliseconds for 100k documents) instead of a Python loop over
every document."""

from __future__ import annotations

import numpy as np
from scipy import sparse


class BM25:
    """``build`` once from tokenised documents (rebuild after the corpus changes), then score queries.

    IDF is the non-negative Lucene form ``log(1 + (N - df + 0.5) / (df + 0.5))``, so a term found in most
    documents still counts a little instead of subtracting (Okapi's original can go negative)."""

    def __init__(self, k1: float = 1.5, b: float = 0.75):
        self.k1 = k1
        self.b = b
        self.vocab: dict[str, int] = {}
        self.n_docs = 0
        self.idf = np.zeros(0, dtype=np.float32)
        self._weights = sparse.csr_matrix((0, 0), dtype=np.float32)  # terms x documents

    def build(self, docs: list[list[str]]) -> BM25:
        vocab: dict[str, int] = {}
        indices: list[int] = []
        indptr = [0]
        for doc in docs:
            indices.extend(vocab.setdefault(term, len(vocab)) for term in doc)
            indptr.append(len(indices))
        n = len(docs)
        counts = sparse.csr_matrix(
            (np.ones(len(indices), dtype=np.float32), np.asarray(indices, dtype=np.int64), indptr),
            shape=(n, len(vocab)),
        )
        counts.sum_duplicates()  # term frequencies per (document, term)
        lengths = np.diff(np.asarray(indptr)).astype(np.float32)
        avg = float(lengths.mean()) if n and lengths.sum() else 1.0
        df = np.bincount(counts.indices, minlength=len(vocab)).astype(np.float32)
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        tf = counts.data
        rows = np.repeat(np.arange(n), np.diff(counts.indptr))
        norm = self.k1 * (1.0 - self.b + self.b * lengths[rows] / avg)
        counts.data = (idf[counts.indices] * tf * (self.k1 + 1.0) / (tf + norm)).astype(np.float32)
        self._weights = counts.T.tocsr()
        self.vocab = vocab
        self.n_docs = n
        self.idf = idf
        return self

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 score of every document (float32, length ``n_docs``); a repeated query term counts again."""
        return self.match(query_tokens)[0]

    def match(self, query_tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """BM25 scores and query coverage of every document. Coverage is the share of the query's IDF mass the
        document contains (a term unknown to the corpus counts with the highest possible IDF), so a document that
        shares one word of a long question scores low even when that word is rare."""
        known = [self.vocab[t] for t in query_tokens if t in self.vocab]
        zeros = np.zeros(self.n_docs, dtype=np.float32)
        if not known:
            return zeros, zeros
        terms, counts = np.unique(known, return_counts=True)
        mass = self.idf[terms] * counts
        total = mass.sum() + (len(query_tokens) - len(known)) * np.log1p((self.n_docs + 0.5) / 0.5)
        rows = self._weights[terms]
        scores = np.asarray(rows.T @ counts.astype(np.float32), dtype=np.float32).ravel()
        rows.data = np.ones_like(rows.data)  # presence of each query term
        coverage = np.asarray(rows.T @ (mass / total), dtype=np.float32).ravel()
        return scores, coverage

    def top(self, query_tokens: list[str], k: int, min_coverage: float = 0.0) -> list[tuple[int, float]]:
        """The ``k`` best (document index, score) pairs with a positive score and at least ``min_coverage``
        of the query, best first."""
        scores, coverage = self.match(query_tokens)
        return top_k(np.where(coverage >= min_coverage, scores, 0), k, positive=True)


def top_k(scores: np.ndarray, k: int, positive: bool = False) -> list[tuple[int, float]]:
    """Indices of the ``k`` largest scores, best first (argpartition: linear in the corpus, not n log n);
    ``positive`` drops scores <= 0 (documents no query term matched)."""
    if k <= 0 or scores.size == 0:
        return []
    idx = np.argpartition(-scores, k - 1)[:k] if k < scores.size else np.arange(scores.size)
    idx = idx[np.lexsort((idx, -scores[idx]))]  # ties: lower index first, so rankings are reproducible
    if positive:
        idx = idx[scores[idx] > 0]
    return [(int(i), float(scores[i])) for i in idx]
