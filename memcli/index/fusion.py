"""Combining the signals of a search into one score. Pure functions over numpy arrays."""

from __future__ import annotations

import numpy as np


def normalise_max(scores: np.ndarray, among: np.ndarray | None = None) -> np.ndarray:
    """Scale non-negative scores by the best one (of those at the indices `among`, if given):
    the best becomes 1, all zeros stay zeros."""
    pool = scores if among is None else scores[among]
    top = float(pool.max()) if pool.size else 0.0
    return scores / top if top > 0 else np.zeros_like(scores, dtype=np.float64)


def normalise_dense(similarities: np.ndarray, floor: float, among: np.ndarray | None = None) -> np.ndarray:
    """Cosine similarities scaled like normalise_max, after `floor` and below count as no evidence."""
    return normalise_max(np.clip(similarities - floor, 0.0, None), among)


def fuse(bm25: np.ndarray, dense: np.ndarray | None, dense_weight: float) -> np.ndarray:
    """Weighted score fusion of max-normalised BM25 and dense evidence.

    When the query matches no word of any candidate, dense alone decides (weight 1), so a
    paraphrase still finds its memory; when there is no dense signal, BM25 alone decides.
    """
    lexical = normalise_max(bm25)
    if dense is None:
        return lexical
    if not lexical.any():
        return dense.astype(np.float64)
    return (1.0 - dense_weight) * lexical + dense_weight * dense


def recency(age_days: np.ndarray, half_life_days: float, weight: float) -> np.ndarray:
    """A gentle multiplier in [1 - weight, 1]: 1 for a new memory, halving its bonus every half-life."""
    if half_life_days <= 0 or weight <= 0:
        return np.ones_like(age_days, dtype=np.float64)
    decay = np.power(0.5, np.clip(age_days, 0.0, None) / half_life_days)
    return (1.0 - weight) + weight * decay
