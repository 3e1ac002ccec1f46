"""The loaded, columnar view of the index that search reads: one entry per record (scope codes,
status, times, flags), one per chunk (owner, term ids, vector row), the vector matrix, BM25 and
conversation neighbours. Built by one `append` used both by a full load and by patching in a
writer's own files, so the two can never disagree about what a column holds."""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from memcli.config import ENTITIES_DIR
from memcli.errors import IndexDamaged
from memcli.index.bm25 import SparseBM25
from memcli.index.signals import CONTEXT_SPAN, asks, conversation_neighbours, speaks_of_past
from memcli.index.store import ChunkRow
from memcli.index.stored import StoredRecords, fields_of
from memcli.index.vectors import Vectors
from memcli.models import CURRENT, SCOPE_KEYS, FileProblem, expiry, last_changed, timestamp

HASH_BYTES = 16  # sync.text_hash: 32 hex digits


def _hash_bytes(text_hash: str) -> bytes:
    try:
        packed = bytes.fromhex(text_hash)
    except ValueError:
        packed = b""
    if len(packed) != HASH_BYTES:
        raise IndexDamaged("a chunk's text hash is not 32 hex digits")
    return packed


def _ints(size: int = 0) -> np.ndarray:
    return np.zeros(size, dtype=np.int64)


class _Facts(NamedTuple):
    """What the columns hold of one stored record, read from its fields (defaults left out)."""

    id: str
    time: float
    created: float
    current: bool
    is_memory: bool
    past: bool
    asks: bool
    expires: float
    blank: bool
    linked: bool
    scope: tuple[str | None, ...]

    @classmethod
    def of(cls, fields: dict[str, Any]) -> _Facts:
        text, kind = fields.get("text", ""), fields.get("kind", "memory")
        return cls(
            fields["id"],
            last_changed(fields.get("updated"), fields.get("created")),
            timestamp(fields.get("created")),
            fields.get("status", CURRENT) == CURRENT,
            kind == "memory",
            speaks_of_past(text),
            asks(text),
            expiry(fields.get("expires")),
            kind == "memory" and not text.strip(),  # a note's chunks carry its title
            bool(fields.get("links") or fields.get("aliases") or fields.get("entity_type"))
            or str(fields.get("path", "")).startswith(f"{ENTITIES_DIR}/"),
            tuple(fields.get(key) for key in SCOPE_KEYS),
        )


def _column(values: list[Any], dtype: Any) -> np.ndarray:
    return np.fromiter(values, dtype, len(values))


@dataclass
class Columns:
    records: StoredRecords = field(default_factory=StoredRecords)
    problems: list[FileProblem] = field(default_factory=list)
    by_id: dict[str, int] = field(default_factory=dict)
    by_path: dict[str, int] = field(default_factory=dict)
    times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    created: np.ndarray = field(default_factory=lambda: np.zeros(0))
    current: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    is_memory: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    past: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # says "former"/"old"/"ex-"
    asks: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # ends with a question
    expires: np.ndarray = field(default_factory=lambda: np.zeros(0))  # Unix time it expires, 0: never
    blank: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # a memory with no text
    linked: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # links, aliases, a type; entity notes
    scope_codes: dict[str, dict[str, int]] = field(default_factory=lambda: {k: {} for k in SCOPE_KEYS})
    scope_arrays: dict[str, np.ndarray] = field(default_factory=lambda: {k: _ints() for k in SCOPE_KEYS})
    chunk_starts: np.ndarray = field(default_factory=_ints)
    chunk_owner: np.ndarray = field(default_factory=_ints)
    chunk_rows: np.ndarray = field(default_factory=_ints)  # row in `vectors`, -1 for none
    # every chunk's term ids one after another, in pieces (one per append) joined by ready()
    token_pieces: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (int32 ids, lengths)
    hashes: bytearray = field(default_factory=bytearray)  # each chunk's text hash, 16 bytes (not a str each)
    segmented: bool = True  # every record has at least one chunk (true for all put_file writes)
    vectors: Vectors = field(default_factory=Vectors)
    has_links: bool = False  # any [[link]] or entity note: whether autolink needs the graph
    bm25: SparseBM25 = field(default_factory=lambda: SparseBM25([]))
    neighbours: np.ndarray = field(default_factory=lambda: np.zeros((2 * CONTEXT_SPAN, 0), dtype=np.int64))
    stale: bool = False  # BM25 statistics and neighbours lag behind appended records

    def append(self, entries: Iterable[tuple[str, str, dict[str, Any], list[ChunkRow]]]) -> None:
        """Add records (path, stored record JSON, its fields as read from that JSON, its chunks
        with their vector rows) at the end, reading `entries` once, as it goes (a full load
        streams them from the store) into compact buffers (no object per record besides its
        JSON). A chunk's vector row beyond the loaded vectors counts as none yet. BM25 and
        neighbours go stale."""
        first, loaded = len(self.records), len(self.vectors)
        encoded: list[str] = []
        floats = {name: array("d") for name in ("times", "created", "expires")}
        flags = {name: bytearray() for name in ("current", "is_memory", "past", "asks", "blank", "linked")}
        scopes = {key: array("q") for key in SCOPE_KEYS}
        counts, lengths, rows, tokens = array("q"), array("q"), array("q"), bytearray()
        for path, record_json, fields, chunks in entries:
            fact = _Facts.of(fields)
            self.by_id[fact.id] = self.by_path[path] = first + len(encoded)
            encoded.append(record_json)
            for name in floats:
                floats[name].append(getattr(fact, "time" if name == "times" else name))
            for name in flags:
                flags[name].append(getattr(fact, name))
            for key, value in zip(SCOPE_KEYS, fact.scope, strict=True):
                codes = self.scope_codes[key]
                scopes[key].append(0 if value is None else codes.setdefault(value, len(codes) + 1))
            self.has_links = self.has_links or fact.linked
            counts.append(len(chunks))
            for chunk in chunks:
                tokens += chunk.tokens
                lengths.append(len(chunk.tokens) // 4)
                rows.append(chunk.vector if chunk.vector < loaded else -1)
                self.hashes += _hash_bytes(chunk.text_hash)
        # a new sequence: caches keyed on the old one (the graph) rebuild
        self.records = self.records.extended(encoded)
        grow = np.concatenate
        for name, values in floats.items():
            setattr(self, name, grow([getattr(self, name), np.frombuffer(values, dtype=np.float64)]))
        for name, flag in flags.items():
            setattr(self, name, grow([getattr(self, name), np.frombuffer(flag, dtype=np.uint8).astype(bool)]))
        for key, coded in scopes.items():
            self.scope_arrays[key] = grow([self.scope_arrays[key], np.frombuffer(coded, dtype=np.int64)])
        per_record = np.frombuffer(counts, dtype=np.int64)
        before = self.chunk_count - len(rows)
        starts = before + np.concatenate([[0], np.cumsum(per_record)[:-1]]) if len(counts) else _ints()
        self.chunk_starts = grow([self.chunk_starts, np.asarray(starts, dtype=np.int64)])
        owners = np.repeat(np.arange(first, first + len(encoded), dtype=np.int64), per_record)
        self.chunk_owner = grow([self.chunk_owner, owners])
        self.segmented = self.segmented and bool(per_record.all())
        self.token_pieces.append((np.frombuffer(bytes(tokens), dtype=np.int32), np.frombuffer(lengths, dtype=np.int64)))
        self.chunk_rows = grow([self.chunk_rows, np.frombuffer(rows, dtype=np.int64)])
        self.stale = True

    def joined_terms(self) -> tuple[np.ndarray, np.ndarray]:
        """Every chunk's term ids one after another (int32) and each chunk's count of them."""
        if not self.token_pieces:
            return np.zeros(0, np.int32), np.zeros(0, np.int64)
        ids, lengths = (np.concatenate(part) for part in zip(*self.token_pieces, strict=True))
        return ids, lengths

    def term_ids(self) -> np.ndarray:
        """Every chunk's term ids, one after another (to check them against the stored terms)."""
        return np.concatenate([ids for ids, _ in self.token_pieces]) if self.token_pieces else np.zeros(0, np.int32)

    def swap(self, position: int, record_json: str) -> None:
        """Take a rewrite of a record whose text and scope did not change (status, history) in place."""
        self.records = self.records.replaced(position, record_json)
        fact = _Facts.of(fields_of(record_json))
        self.times[position] = fact.time
        self.current[position] = fact.current
        self.expires[position] = fact.expires
        self.linked[position] = fact.linked
        self.has_links = self.has_links or fact.linked

    @property
    def chunk_count(self) -> int:
        return len(self.hashes) // HASH_BYTES

    def chunk_hashes_of(self, position: int) -> list[str]:
        """The text hashes of a record's chunks (hex, as the store has them)."""
        start = int(self.chunk_starts[position])
        end = int(self.chunk_starts[position + 1]) if position + 1 < len(self.records) else self.chunk_count
        return [self.hashes[i * HASH_BYTES : (i + 1) * HASH_BYTES].hex() for i in range(start, end)]

    def ready(self) -> None:
        """Rebuild what appends left for later: BM25 statistics and conversation neighbours."""
        if self.stale:
            if len(self.token_pieces) > 1:
                self.token_pieces = [self.joined_terms()]
            self.bm25 = SparseBM25.of_flat(*self.token_pieces[0]) if self.token_pieces else SparseBM25([])
            scope = np.stack([self.scope_arrays[key] for key in ("user", "agent", "run")], axis=1)
            group = np.unique(scope, axis=0, return_inverse=True)[1].reshape(-1) if len(scope) else _ints()
            self.neighbours = conversation_neighbours(self.is_memory & (self.created > 0), group, self.created)
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
        return self.vectors.row(row) if 0 <= row < len(self.vectors) else None

    def missing_vectors(self) -> bool:
        return bool(self.chunk_rows.size) and bool((self.chunk_rows < 0).any())
