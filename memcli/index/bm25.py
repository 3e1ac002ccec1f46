"""BM25 scoring. `SparseBM25` is what search uses; `ReferenceBM25` (rank-bm25) is the yardstick.

rank-bm25 scores every document in Python for every query term: 8 ms at 10k memories but
~110 ms at 100k (bench/scale.py). SparseBM25 computes the same Okapi formula from an inverted
index built with numpy, touching only the postings of the query's terms; tests check that both
give the same scores.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from rank_bm25 import BM25Okapi

K1 = 1.2
# Length normalisation, lighter than the textbook 0.75: memories are short, and the longer one
# usually says more about its topic rather than padding it (LoCoMo dev, tuned on conversations
# 1-3: R@10 flat for b in 0.15-0.5, MRR +0.01 over 0.75).
B = 0.3


def lucene_idf(corpus_size: int, doc_freq: np.ndarray) -> np.ndarray:
    """log(1 + (N - n + 0.5) / (n + 0.5)): always positive, unlike classic Okapi IDF.

    Classic IDF is zero or negative for a term in half the documents or more, so in a vault
    of one to three memories a query that matches would score nothing, or less than a miss.
    """
    return np.log1p((corpus_size - doc_freq + 0.5) / (doc_freq + 0.5))


class SparseBM25:
    """Okapi BM25 over documents given as arrays of term ids."""

    def __init__(self, documents: list[np.ndarray], k1: float = K1, b: float = B) -> None:
        lengths = np.fromiter((len(d) for d in documents), dtype=np.int64, count=len(documents))
        terms = (
            np.concatenate([np.asarray(d, dtype=np.int64) for d in documents]) if documents else np.zeros(0, np.int64)
        )
        self._build(terms, lengths, k1, b)

    @classmethod
    def of_flat(cls, terms: np.ndarray, lengths: np.ndarray, k1: float = K1, b: float = B) -> SparseBM25:
        """The documents' term ids one after another, and each document's length."""
        model = cls.__new__(cls)
        model._build(np.asarray(terms, dtype=np.int64), np.asarray(lengths, dtype=np.int64), k1, b)
        return model

    def _build(self, terms: np.ndarray, lengths: np.ndarray, k1: float, b: float) -> None:
        self.size = len(lengths)
        total = int(lengths.sum())
        if total == 0:
            self._indptr = np.zeros(1, dtype=np.int64)
            self._docs = np.zeros(0, dtype=np.int32)
            self._weights = np.zeros(0, dtype=np.float32)
            return
        owners = np.repeat(np.arange(self.size, dtype=np.int64), lengths)
        keys, tf = np.unique(terms * self.size + owners, return_counts=True)  # sorted: term, then doc
        post_terms, docs = np.divmod(keys, self.size)
        del keys
        vocab = int(post_terms[-1]) + 1
        self._indptr = np.searchsorted(post_terms, np.arange(vocab + 1))
        idf = lucene_idf(self.size, np.diff(self._indptr).astype(np.float64))
        avgdl = total / self.size
        norm = k1 * (1.0 - b + b * lengths[docs] / avgdl)
        # Held as int32 documents and float32 weights: half the memory of the postings (12 MB at
        # 100k memories), scores summed in float64 as before.
        self._weights = (idf[post_terms] * tf * (k1 + 1.0) / (tf + norm)).astype(np.float32)
        self._docs = docs.astype(np.int32)

    def scores(self, term_ids: Iterable[int]) -> np.ndarray:
        """One score per document; 0.0 where no query term occurs. Repeated terms count once."""
        out = np.zeros(self.size, dtype=np.float64)
        vocab = len(self._indptr) - 1
        for term in set(term_ids):
            if 0 <= term < vocab:
                start, end = self._indptr[term], self._indptr[term + 1]
                out[self._docs[start:end]] += self._weights[start:end]
        return out


class _PositiveIdfOkapi(BM25Okapi):
    def _calc_idf(self, nd: dict[str, int]) -> None:
        self.idf = {word: math.log1p((self.corpus_size - freq + 0.5) / (freq + 0.5)) for word, freq in nd.items()}


class ReferenceBM25:
    """rank-bm25's Okapi BM25 with the same positive IDF: the baseline for tests and benchmarks."""

    def __init__(self, documents: list[list[str]], k1: float = K1, b: float = B) -> None:
        self._size = len(documents)
        self._model = _PositiveIdfOkapi(documents, k1=k1, b=b) if any(documents) else None

    def scores(self, query: list[str]) -> list[float]:
        if self._model is None or not query:
            return [0.0] * self._size
        return [float(s) for s in self._model.get_scores(list(dict.fromkeys(query)))]
