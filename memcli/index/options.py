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
    context_lexical: float = 0.7
    context_dense: float = 0.2
    # A match that speaks of a former one ("my former mentor") for a query about the current
    # one ("my mentor's company") counts this much (signals.former_factor).
    former_factor: float = 0.6
    # Graph spreading lends only from a keyword match or a cosine at least this high: MiniLM
    # puts unrelated short texts at 0.1-0.3 and a real paraphrase at 0.45-0.65.
    graph_min_cosine: float = 0.4
    # A record with its own match and evidence along links gets this share of the weaker of the two.
    graph_bonus: float = 0.5
