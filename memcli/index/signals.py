"""Ranking signals beyond the words and the meaning of a match, each a pure function with its
weight in SearchOptions (search.py): conversation context (of a match, and of each query word),
recency (fusion.recency), a memory that asks, and the "former" qualifier."""

from __future__ import annotations

import re

import numpy as np

from memcli.text import lexicon
from memcli.text.normalize import fold

CONTEXT_SPAN = 2  # neighbours on each side
CONTEXT_DECAY = 0.7  # the second neighbour counts this much of the first
CONTEXT_GAP_S = 600.0  # memories more than 10 minutes apart are not one conversation
OFFSETS = [offset for offset in range(-CONTEXT_SPAN, CONTEXT_SPAN + 1) if offset]

PAST_QUALIFIERS = tuple(lexicon.word_list("past_qualifiers"))
PAST_WORD = re.compile(rf"\b(?:{'|'.join(PAST_QUALIFIERS)})\b", re.IGNORECASE)


def speaks_of_past(text: str) -> bool:
    """Whether a text says "former", "old", "ex-"…: the few records the qualifier signal reads."""
    return bool(PAST_WORD.search(text))


def conversation_neighbours(eligible: np.ndarray, group: np.ndarray, created: np.ndarray) -> np.ndarray:
    """Rows of neighbour indices (-1 for none), one row per offset in OFFSETS.

    Neighbours are memories (`eligible`: a memory with a creation time) of the same scope
    (`group`: one code per user, agent and run together) created one after another with no gap
    longer than CONTEXT_GAP_S: the turns or facts of one conversation. Notes have none.
    """
    count = len(eligible)
    table = np.full((len(OFFSETS), count), -1, dtype=np.int64)
    chosen = np.flatnonzero(eligible)
    if len(chosen) < 2:
        return table
    order = np.lexsort((created[chosen], group[chosen]))
    members = chosen[order]
    groups, times = group[members], created[members]
    new_run = np.ones(len(members), dtype=bool)
    new_run[1:] = (groups[1:] != groups[:-1]) | (np.diff(times) > CONTEXT_GAP_S)
    run = np.cumsum(new_run)
    positions = np.arange(len(members))
    for row, offset in enumerate(OFFSETS):
        other = positions + offset
        valid = (other >= 0) & (other < len(members))
        valid[valid] &= run[other[valid]] == run[positions[valid]]
        table[row, members[valid]] = members[other[valid]]
    return table


def context(neighbours: np.ndarray, scores: np.ndarray, lenders: np.ndarray | None = None) -> np.ndarray:
    """For each record, the best (decayed) score among its conversation neighbours; with
    `lenders` (a mask over records), only those neighbours lend."""
    best = np.zeros_like(scores)
    if lenders is not None:
        scores = np.where(lenders, scores, 0.0)
    for row, offset in zip(neighbours, OFFSETS, strict=True):
        lent = np.where(row >= 0, scores[np.clip(row, 0, None)], 0.0) * CONTEXT_DECAY ** (abs(offset) - 1)
        np.maximum(best, lent, out=best)
    return best


def word_context(neighbours: np.ndarray, per_word: list[np.ndarray], lenders: np.ndarray, share: float) -> np.ndarray:
    """Each query word's evidence (one score array per word) taken from the record itself or,
    at `share`, from its best conversation neighbour, whichever is more, summed over the words.
    So a turn and the one that answers it match a question together: "what did Caroline paint
    after the LGBTQ center?" finds "I painted this after my visit" next to "the center was great"."""
    total = np.zeros(neighbours.shape[1], dtype=np.float64)
    for scores in per_word:
        np.add(total, np.maximum(scores, share * context(neighbours, scores, lenders)), out=total)
    return total


ASKS = re.compile(r"\?\s*(?:\[[^\]]*\])?\s*$")  # ends with a question mark (a trailing [shares …] aside)


def asks(text: str) -> bool:
    """Whether a memory ends with a question: a turn that asks rarely holds the answer (its
    reply does, and context lends the reply the question's words)."""
    return bool(ASKS.search(text))


def former_factor(query: str, texts: dict[int, str], count: int, factor: float) -> np.ndarray:
    """`factor` for the candidates (position -> text, only those that speak of the past) whose text
    qualifies the query's words with "former"/"old"/"ex" ("my former mentor" for "my mentor's
    company"), unless the query asks about former ones itself; 1.0 for the other `count` - 1."""
    out = np.ones(count, dtype=np.float64)
    words = re.findall(r"[a-z]{3,}", fold(query))
    if not texts or not words or any(w in PAST_QUALIFIERS for w in words):
        return out  # the usual case: no pattern to build
    pattern = re.compile(
        rf"\b(?:{'|'.join(PAST_QUALIFIERS)})[\s-]+(?:\w+\s+)?(?:{'|'.join(map(re.escape, words))})", re.IGNORECASE
    )
    for position, text in texts.items():
        if pattern.search(text):
            out[position] = factor
    return out
