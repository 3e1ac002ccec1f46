"""BM25 over tokenized documents (rank-bm25), with an IDF that stays positive on tiny corpora."""

from __future__ import annotations

import math

from rank_bm25 import BM25Okapi


class _PositiveIdfBM25(BM25Okapi):
    """Okapi BM25 with Lucene's IDF, log(1 + (N - n + 0.5) / (n + 0.5)).

    rank-bm25's classic IDF is zero or negative for a term in half the documents or more,
    so in a vault of one to three memories a query that matches scores nothing (or less
    than a miss). Lucene's form is always positive and ranks the same way otherwise.
    """

    def _calc_idf(self, nd: dict[str, int]) -> None:
        self.idf = {
            word: math.log(1.0 + (self.corpus_size - freq + 0.5) / (freq + 0.5)) for word, freq in nd.items()
        }


class BM25:
    """Scores for a query against a fixed list of tokenized documents."""

    def __init__(self, documents: list[list[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self._size = len(documents)
        # rank-bm25 divides by the average length; an all-empty corpus would divide by zero.
        self._model = _PositiveIdfBM25(documents, k1=k1, b=b) if any(documents) else None

    def scores(self, query: list[str]) -> list[float]:
        """One score per document; 0.0 where no query term occurs."""
        if self._model is None or not query:
            return [0.0] * self._size
        terms = list(dict.fromkeys(query))  # a repeated query word should not count twice
        return [float(s) for s in self._model.get_scores(terms)]
