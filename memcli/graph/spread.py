"""Graph spreading: evidence for a search carried along [[links]] to the records that share an
entity with a strong hit. numpy over the entity graph of model.py."""

from __future__ import annotations

import numpy as np

from memcli.graph.model import Graph


def spread(
    graph: Graph, scores: np.ndarray, hops: int = 2, decay: float = 0.7, width: int = 5, strong: float = 0.6
) -> np.ndarray:
    """Evidence that flows along links: the best `width` records lend `decay` of their score to
    every record linked to the same entities, and those lend on for `hops` steps in all. So
    "what database does Ana's project use?" reaches "[[Falcon]] uses [[PostgreSQL]]" from
    "[[Ana]] works on [[Falcon]]". Only hits within `strong` of the best lend: a weak match
    spreading would pull in whatever shares an entity with it. Evidence never flows back to
    the record it started from: a hub and its neighbours would otherwise lift each other."""
    extra = np.zeros_like(scores)
    carried = scores.copy()
    origin = np.arange(len(scores))  # where the evidence each record carries started
    for _ in range(hops):
        floor = strong * float(carried.max()) if carried.size else 0.0
        frontier = [int(r) for r in np.argsort(-carried)[:width] if carried[r] > 0 and carried[r] >= floor]
        reached = np.zeros_like(scores)
        reached_from = np.full(len(scores), -1)
        for record in frontier:
            lent = carried[record] * decay
            for key in graph.record_entities[record]:
                entity = graph.entities[key]
                for other in entity.mentions + ([entity.note] if entity.note is not None else []):
                    if other not in (record, origin[record]) and lent > reached[other]:
                        reached[other] = lent
                        reached_from[other] = origin[record]
        extra = np.maximum(extra, reached)
        carried, origin = reached, reached_from
        if not carried.any():
            break
    return extra
