"""SearchOptions: every weight of the ranking in one place (no numpy here: the CLI imports it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SearchOptions:
    """How signals are weighed. Tuned on the LoCoMo dev split (bench/locomo.py)."""

    mode: str = "hybrid"  # hybrid | bm25 | dense
    dense_weight: float = 0.4
    dense_floor: float = 0.1
    half_life_days: float = 180.0
    recency_weight: float = 0.1
    # Conversation context: memories written together (same scope, minutes apart) lend each
    # other a share of their match; LoCoMo dev R@10 .708 -> .770 (bench/locomo.py).
    context_lexical: float = 0.5
    context_dense: float = 0.2
    # ...and a share of each query word they hold (signals.word_context): a question's words
    # split over a turn and its reply count for both. Tuned on LoCoMo conversations 1-3 (flat
    # for 0.45-0.8), held-out 4-5 R@10 .749 -> .78.
    context_words: float = 0.6
    # A memory that ends with a question: its own match counts this much (its reply usually
    # holds the answer). Flat for 0.8-0.95; MRR +0.02, R@10 unchanged.
    asks_factor: float = 0.9
    # A match that speaks of a former one ("my former mentor") for a query about the current
    # one ("my mentor's company") counts this much (signals.former_factor).
    former_factor: float = 0.6
    # Graph spreading lends only from a keyword match or a cosine at least this high: MiniLM
    # puts unrelated short texts at 0.1-0.3 and a real paraphrase at 0.45-0.65.
    graph_min_cosine: float = 0.4
    # A record with its own match and evidence along links gets this share of the weaker of the two.
    graph_bonus: float = 0.5
    # No match at all (no query word, no cosine above the floor): the nearest memories by meaning
    # answer instead of nothing, as Mem0's vector search returns its nearest however weak.
    # A threshold turns it off.
    nearest_fill: bool = True
