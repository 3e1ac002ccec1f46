"""Ranking: BM25 and cosine per record, conversation context, fusion, recency, a memory that
asks, the "former" qualifier and graph spreading, with every factor of the final score in the
explain trace:

    own = fused * recency * former * asks
    final = max(own, graph) + graph_bonus * min(own, graph)

Pure over a Columns view: the caller hands in the query's term ids and vector."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from memcli.index import fusion, signals
from memcli.index.columns import Columns
from memcli.index.options import SearchOptions
from memcli.models import Hit

Expand = Callable[[np.ndarray], np.ndarray]


def rank(
    columns: Columns,
    query: str,
    term_ids: list[int],
    query_vector: np.ndarray | None,
    candidates: np.ndarray,
    options: SearchOptions,
    now: float,
    limit: int,
    threshold: float | None = None,
    expand: Expand | None = None,
) -> list[Hit]:
    """The best `limit` candidate records (indices into columns.records); `query_vector` None
    means BM25 only. Each hit carries its signals (`explain`)."""
    if not candidates.size:
        return []
    columns.ready()
    # Only what this search can see lends context: the neighbours were found over every record
    # loaded, forgotten and superseded ones too, and those must not speak through the living.
    seen = np.zeros(len(columns.records), dtype=bool)
    seen[candidates] = True
    per_word = [columns.per_record(columns.bm25.scores([term]), 0.0) for term in dict.fromkeys(term_ids)]
    raw_lexical = np.sum(per_word, axis=0) if per_word else np.zeros(len(columns.records))
    words = raw_lexical[candidates] > 0  # a match is what matches the query itself
    if len(per_word) > 1:  # each word from the record or its neighbours: a turn and its reply match together
        lexical = signals.word_context(columns.neighbours, per_word, seen, options.context_words)
    else:
        lexical = raw_lexical
    lexical = fusion.normalise_max(lexical, among=candidates)
    lexical_context = options.context_lexical * signals.context(columns.neighbours, lexical, seen)
    trace: dict[str, np.ndarray] = {"bm25": raw_lexical}
    if query_vector is None:
        fused = fusion.normalise_max((lexical + lexical_context)[candidates])
        keep = words  # context re-ranks matches; it never makes one
        trace["context"] = lexical_context
    else:
        cosine = _cosine(columns, query_vector)
        dense = fusion.normalise_dense(cosine, options.dense_floor, among=candidates)
        dense_context = options.context_dense * signals.context(columns.neighbours, dense, seen)
        trace.update(cosine=cosine, context=lexical_context + dense_context)
        if options.mode == "dense":
            fused = fusion.normalise_max((dense + dense_context)[candidates])
        else:
            fused = fusion.fuse(
                (lexical + lexical_context)[candidates],
                fusion.normalise_max((dense + dense_context)[candidates]),
                options.dense_weight,
            )
        keep = words | (dense[candidates] > 0)
    ages = (now - columns.times[candidates]) / 86400.0
    boost = fusion.recency(ages, options.half_life_days, options.recency_weight)
    flagged = np.flatnonzero(keep & columns.past[candidates])  # few: flagged at load
    former = signals.former_factor(
        query,
        {int(p): columns.records[int(candidates[p])].text for p in flagged},
        len(candidates),
        options.former_factor,
    )
    asking = np.where(columns.asks[candidates], options.asks_factor, 1.0)
    final = fused * boost * former * asking
    per_candidate = {"fused": fused, "recency": boost, "former": former, "asks": asking}
    if expand is not None:  # evidence along [[links]]: it can bring in a record on its own
        # Only a real match lends: a keyword, or a meaning above the noise of weak cosines (when
        # nothing matches, max-normalising makes the best of the noise look like a hit).
        direct = words.copy()
        if query_vector is not None:
            direct |= trace["cosine"][candidates] >= options.graph_min_cosine
        everywhere = np.zeros(len(columns.records), dtype=np.float64)
        everywhere[candidates] = final * (keep & direct)
        linked = expand(everywhere)[candidates]
        per_candidate["graph"] = linked
        # A record scores by the stronger of its own match and what reaches it along links, plus
        # a share of the weaker when it has both: links bring in what words miss (never above
        # the match that lent) and lift a record that also matches itself.
        final = np.maximum(final, linked) + options.graph_bonus * np.minimum(final, linked)
        keep = keep | (linked > 0)
    keep &= final >= (threshold if threshold is not None else -np.inf)
    if query_vector is not None and threshold is None and options.nearest_fill and not keep.any():
        final, keep, per_candidate["nearest"] = _nearest(trace["cosine"][candidates], limit)
    kept = np.flatnonzero(keep)
    if kept.size > limit:  # only the best `limit` (ties at the cut included) need sorting
        cut = np.partition(-final[kept], limit - 1)[limit - 1]
        kept = kept[-final[kept] <= cut]
    order = kept[np.lexsort((-columns.times[candidates][kept], -final[kept]))][:limit]
    hits = []
    for position in order:
        record = int(candidates[position])
        explained = {name: float(values[record]) for name, values in trace.items()}
        explained.update({name: float(values[position]) for name, values in per_candidate.items()})
        hits.append(Hit(columns.records[record], float(final[position]), explained))
    return hits


def _nearest(cosine: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """No match at all, by words or by meaning above the dense floor: the nearest `limit` by
    meaning answer instead, in cosine order, as a vector store would ("what does the user do for
    work" finds "Is a florist" at cosine 0.07, under the floor), rather than nothing; each scores
    under 0.001, below any match. An empty memory (cosine -1) never does. Returns (final, keep,
    the "nearest" explain column)."""
    rest = np.flatnonzero(cosine > -1.0)
    fill = rest[np.argsort(-cosine[rest], kind="stable")[:limit]]
    keep = np.zeros(len(cosine), dtype=bool)
    keep[fill] = True
    final = np.where(keep, 1e-3 * (1.0 + np.clip(cosine, 0.0, None)) / 2.0, 0.0)
    return final, keep, keep.astype(np.float64)


def _cosine(columns: Columns, query_vector: np.ndarray) -> np.ndarray:
    sims = columns.vectors.dot(query_vector) if len(columns.vectors) else np.zeros(0, dtype=np.float32)
    rows = columns.chunk_rows
    chunk_sims = np.where(rows >= 0, sims[np.clip(rows, 0, None)] if sims.size else 0.0, -1.0)
    cosine = columns.per_record(chunk_sims.astype(np.float64), -1.0)
    # An empty memory's vector is the model's idea of "nothing", which sits close to every
    # query: above the dense floor it matched them all. No text, no evidence.
    cosine[columns.blank] = -1.0
    return cosine


def related(
    columns: Columns,
    term_ids: list[list[int]],
    vectors: np.ndarray | None,
    pool: np.ndarray,
    k: int,
) -> set[int]:
    """The records of `pool` closest to each text by words (its BM25 term ids) and by meaning
    (cosine with the given vectors, one per text for the first len(vectors) texts; the rest are
    looked up by words only), plus the `k` newest: how a new fact finds what it may repeat or
    replace in a big scope."""
    # BM25 as last built (what was written since is "recent" and always included): rebuilding
    # the statistics for every add would cost more than the whole add at 10k memories.
    bm25 = columns.bm25
    found: set[int] = {int(i) for i in pool[np.argsort(-columns.times[pool], kind="stable")[:k]]}
    for ids in term_ids:
        if ids and bm25.size:
            chunk_scores = np.zeros(columns.chunk_count, dtype=np.float64)
            chunk_scores[: bm25.size] = bm25.scores(ids)
            lexical = columns.per_record(chunk_scores, 0.0)[pool]
            found.update(int(pool[i]) for i in _best(lexical, k) if lexical[i] > 0)
    if vectors is not None and len(vectors) and len(columns.vectors) and columns.chunk_rows.size:
        rows = columns.chunk_rows[columns.chunk_starts[pool]]
        usable = (rows >= 0) & ~columns.blank[pool]
        sims = columns.vectors.dot(vectors[: len(term_ids)], np.clip(rows, 0, None))  # every text in one pass
        for column in sims.T:
            found.update(int(i) for i in pool[_best(np.where(usable, column, -1.0), k)])
    return found


def _best(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the `k` highest scores, best first (a partition, then a sort of those k)."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if len(scores) > k:
        top = np.argpartition(-scores, k - 1)[:k]
        return top[np.argsort(-scores[top], kind="stable")]
    return np.argsort(-scores, kind="stable")
