"""The loaded, columnar view of the index that search reads: one entry per record (scope codes,
status, times, flags), one per chunk (owner, term ids, vector row), the vector matrix, BM25 and
conversation neighbours. Built by one `append` used both by a full load and by patching in a
writer's own files, so the two can never disagree about what a column holds."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from memcli.index.bm25 import SparseBM25
from memcli.index.signals import CONTEXT_SPAN, asks, conversation_neighbours, speaks_of_past
from memcli.index.store import ChunkRow
from memcli.models import SCOPE_KEYS, FileProblem, MemoryRecord, expiry


def _ints(size: int = 0) -> np.ndarray:
    return np.zeros(size, dtype=np.int64)


@dataclass
class Columns:
    records: list[MemoryRecord] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)
    by_id: dict[str, int] = field(default_factory=dict)
    by_path: dict[str, int] = field(default_factory=dict)
    times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    current: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    is_memory: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    past: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # says "former"/"old"/"ex-"
    asks: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # ends with a question
    expires: np.ndarray = field(default_factory=lambda: np.zeros(0))  # Unix time it expires, 0: never
    blank: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # a memory with no text
    scope_codes: dict[str, dict[str, int]] = field(default_factory=lambda: {k: {} for k in SCOPE_KEYS})
    scope_arrays: dict[str, np.ndarray] = field(default_factory=lambda: {k: _ints() for k in SCOPE_KEYS})
    chunk_starts: np.ndarray = field(default_factory=_ints)
    chunk_owner: np.ndarray = field(default_factory=_ints)
    chunk_rows: np.ndarray = field(default_factory=_ints)  # row in `vectors`, -1 for none
    chunk_tokens: list[np.ndarray] = field(default_factory=list)
    chunk_hashes: list[str] = field(default_factory=list)
    segmented: bool = True  # every record has at least one chunk (true for all put_file writes)
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    vector_buffer: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    has_links: bool = False  # any [[link]] or entity note: whether autolink needs the graph
    bm25: SparseBM25 = field(default_factory=lambda: SparseBM25([]))
    neighbours: np.ndarray = field(default_factory=lambda: np.zeros((2 * CONTEXT_SPAN, 0), dtype=np.int64))
    stale: bool = False  # BM25 statistics and neighbours lag behind appended records

    def append(self, entries: list[tuple[str, MemoryRecord, list[ChunkRow]]], vector_rows: list[int]) -> None:
        """Add records (path, record, its chunks) at the end; `vector_rows` gives each new chunk's
        row in the vector matrix (-1: not embedded yet). BM25 and neighbours go stale."""
        first = len(self.records)
        new = [record for _, record, _ in entries]
        for number, (path, record, _) in enumerate(entries):
            self.by_id[record.id] = self.by_path[path] = first + number
        self.records = [*self.records, *new]  # a new list: caches keyed on the old one (the graph) rebuild
        self.times = np.concatenate([self.times, np.fromiter((r.time for r in new), np.float64, len(new))])
        self.current = np.concatenate([self.current, np.fromiter((r.is_current for r in new), bool, len(new))])
        self.is_memory = np.concatenate(
            [self.is_memory, np.fromiter((r.kind == "memory" for r in new), bool, len(new))]
        )
        self.past = np.concatenate([self.past, np.fromiter((speaks_of_past(r.text) for r in new), bool, len(new))])
        self.asks = np.concatenate([self.asks, np.fromiter((asks(r.text) for r in new), bool, len(new))])
        self.expires = np.concatenate(
            [self.expires, np.fromiter((expiry(r.expires) for r in new), np.float64, len(new))]
        )
        # A note's chunks carry its title; a memory's only chunk is its text, which may be empty.
        self.blank = np.concatenate(
            [self.blank, np.fromiter((r.kind == "memory" and not r.text.strip() for r in new), bool, len(new))]
        )
        self.has_links = self.has_links or any(r.links or r.aliases or r.entity_type for r in new)
        for key in SCOPE_KEYS:
            codes = self.scope_codes[key]
            values = [getattr(r, key) for r in new]
            added = np.fromiter(
                (0 if v is None else codes.setdefault(v, len(codes) + 1) for v in values), np.int64, len(new)
            )
            self.scope_arrays[key] = np.concatenate([self.scope_arrays[key], added])
        counts = [len(chunks) for _, _, chunks in entries]
        starts = len(self.chunk_hashes) + np.concatenate([[0], np.cumsum(counts)[:-1]]) if counts else _ints()
        self.chunk_starts = np.concatenate([self.chunk_starts, np.asarray(starts, dtype=np.int64)])
        owners = np.repeat(np.arange(first, first + len(new), dtype=np.int64), counts)
        self.chunk_owner = np.concatenate([self.chunk_owner, owners])
        self.segmented = self.segmented and all(counts)
        for _, _, chunks in entries:
            self.chunk_tokens.extend(c.tokens for c in chunks)
            self.chunk_hashes.extend(c.text_hash for c in chunks)
        self.chunk_rows = np.concatenate([self.chunk_rows, np.asarray(vector_rows, dtype=np.int64)])
        self.stale = True

    def swap(self, position: int, record: MemoryRecord) -> None:
        """Take a rewrite of a record whose text and scope did not change (status, history) in place."""
        self.records = list(self.records)
        self.records[position] = record
        self.times[position] = record.time
        self.current[position] = record.is_current
        self.has_links = self.has_links or bool(record.links or record.aliases or record.entity_type)

    def chunk_hashes_of(self, position: int) -> list[str]:
        start = int(self.chunk_starts[position])
        end = int(self.chunk_starts[position + 1]) if position + 1 < len(self.records) else len(self.chunk_hashes)
        return self.chunk_hashes[start:end]

    def append_vectors(self, rows: np.ndarray) -> None:
        """Grow the loaded vector matrix in place (capacity doubles: no full copy per memory)."""
        count = len(self.vectors)
        if count + len(rows) > len(self.vector_buffer) or self.vector_buffer.shape[1:] != rows.shape[1:]:
            capacity = max(2 * (count + len(rows)), 1024)
            buffer = np.empty((capacity, rows.shape[1]), dtype=np.float32)
            buffer[:count] = self.vectors
            self.vector_buffer = buffer
        self.vector_buffer[count : count + len(rows)] = rows
        self.vectors = self.vector_buffer[: count + len(rows)]

    def ready(self) -> None:
        """Rebuild what appends left for later: BM25 statistics and conversation neighbours."""
        if self.stale:
            self.bm25 = SparseBM25(self.chunk_tokens)
            self.neighbours = conversation_neighbours(self.records)
            self.stale = False

    # -- reading ---------------------------------------------------------------------------------

    def in_scope(self, scope: dict[str, str], include_all: bool, now: float | None = None) -> np.ndarray:
        """Indices of the records visible in a scope: each given key equal, or unset on the record
        (and, given `now`, not expired by then unless include_all)."""
        mask = np.ones(len(self.records), dtype=bool) if include_all else self.current.copy()
        if now is not None and not include_all:
            mask &= (self.expires == 0) | (self.expires > now)
        for key, value in scope.items():
            array = self.scope_arrays[key]
            mask &= (array == 0) | (array == self.scope_codes[key].get(value, -1))
        return np.flatnonzero(mask)

    def exact_scope(self, scope: dict[str, str]) -> np.ndarray:
        """Indices of the current memories of exactly this scope: each key equal, unset keys unset too."""
        mask = self.current & self.is_memory
        for key in SCOPE_KEYS:
            value = scope.get(key)
            mask = mask & (self.scope_arrays[key] == (self.scope_codes[key].get(value, -1) if value is not None else 0))
        return np.flatnonzero(mask)

    def per_record(self, chunk_scores: np.ndarray, empty: float) -> np.ndarray:
        """A record scores by its best chunk. Chunks are stored in record order, each record
        having at least one, so this is a segmented max (reduceat), or nothing at all when every
        record is a single chunk (a vault of memories)."""
        if not self.records:
            return np.zeros(0, dtype=np.float64)
        if chunk_scores.size == len(self.records):
            return chunk_scores.astype(np.float64, copy=False)
        if chunk_scores.size and self.segmented:
            return np.maximum.reduceat(chunk_scores.astype(np.float64, copy=False), self.chunk_starts)
        out = np.full(len(self.records), empty, dtype=np.float64)
        np.maximum.at(out, self.chunk_owner, chunk_scores)
        return out

    def vector_of(self, position: int) -> np.ndarray | None:
        """The stored (unit) vector of a record's first chunk, or None when it has none."""
        if position >= len(self.chunk_starts) or not self.chunk_rows.size:
            return None
        row = int(self.chunk_rows[self.chunk_starts[position]])
        return self.vectors[row] if 0 <= row < len(self.vectors) else None

    def missing_vectors(self) -> bool:
        return bool(self.chunk_rows.size) and bool((self.chunk_rows < 0).any())
