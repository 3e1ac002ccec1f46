"""The search index: keeps .mem/ in step with the vault's files, and answers queries.

It knows nothing of the vault's layout: the service hands it a listing of files and a loader.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import re
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np

from memcli.guard.outputs import looks_like_injection
from memcli.index import fusion
from memcli.index.bm25 import SparseBM25
from memcli.index.chunk import chunk_note
from memcli.index.embed import Embedder, EmbeddingUnavailable
from memcli.index.store import FileRow, IndexDamaged, IndexStore
from memcli.models import FileProblem, Hit, MemoryRecord, timestamp
from memcli.text.normalize import fold, tokenize

log = logging.getLogger("memcli")

# A file whose mtime is this close to when it was read may have been written again within the
# same timestamp tick with the same size (git's "racily clean" problem): hash it again. Where
# the filesystem keeps sub-second times the tick is a few ms; where it keeps whole seconds
# (FAT, HFS+, some network mounts) it can be up to 2 s.
RACY_NS_FINE = 50_000_000
RACY_NS_COARSE = 2_000_000_000


def _racy(mtime_ns: int, indexed_ns: int) -> bool:
    window = RACY_NS_COARSE if mtime_ns % 1_000_000_000 == 0 else RACY_NS_FINE
    return mtime_ns >= indexed_ns - window


EMBED_BATCH_COMMIT = 256
CONTEXT_SPAN = 2  # neighbours on each side
CONTEXT_DECAY = 0.7  # the second neighbour counts this much of the first
CONTEXT_GAP_S = 600.0  # memories more than 10 minutes apart are not one conversation

Listing = Callable[[], list[tuple[str, int, int]]]  # (relpath, size, mtime_ns)
Loader = Callable[[str], tuple[str, "MemoryRecord | str"]]  # relpath -> (sha256, record or problem)
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class SearchOptions:
    """How signals are weighed; see fusion.py. Tuned on the LoCoMo dev split (bench/locomo.py)."""

    mode: str = "hybrid"  # hybrid | bm25 | dense
    dense_weight: float = 0.4
    dense_floor: float = 0.1
    half_life_days: float = 180.0
    recency_weight: float = 0.1
    # Conversation context: memories written together (same scope, minutes apart) lend each
    # other a share of their match; LoCoMo dev R@10 .708 -> .770 (bench/locomo.py).
    context_lexical: float = 0.7
    context_dense: float = 0.2


@dataclass
class RefreshStats:
    files: int = 0
    changed: int = 0
    removed: int = 0
    embedded: int = 0
    seconds: float = 0.0


def embed_text(record: MemoryRecord, chunk: str) -> str:
    """What the model reads for a chunk: the text, with the memory's tags as context."""
    if record.kind == "memory" and record.tags:
        return f"{chunk}\n(tags: {', '.join(record.tags)})"
    return chunk


def record_chunks(record: MemoryRecord) -> list[str]:
    return [record.text] if record.kind == "memory" else chunk_note(record.title or "", record.text)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class SearchIndex:
    """Records, BM25 and vectors of a vault, loaded from an IndexStore and kept fresh."""

    def __init__(
        self,
        store: IndexStore,
        embedder: Embedder | None,
        lock: Callable[[], AbstractContextManager[None]],
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.embed_error: str | None = None
        self._lock = lock
        self._generation = -1  # of what is loaded in memory
        self._files_generation = -1  # of the cached file rows
        self._files: dict[str, FileRow] = {}
        self.records: list[MemoryRecord] = []
        self.problems: list[FileProblem] = []
        self.by_id: dict[str, int] = {}
        self.times = np.zeros(0)
        self._current = np.zeros(0, dtype=bool)
        self._neighbours = np.zeros((2 * CONTEXT_SPAN, 0), dtype=np.int64)
        self._scope_codes: dict[str, tuple[dict[str, int], np.ndarray]] = {}
        self._vectors_damaged = False
        self._chunk_starts = np.zeros(0, dtype=np.int64)
        self._chunk_owner = np.zeros(0, dtype=np.int64)
        self._segmented = True
        self._chunk_rows = np.zeros(0, dtype=np.int64)
        self._bm25 = SparseBM25([])
        self._bm25_stale = False  # patched records since it was built: rebuilt on the next query
        self._chunk_tokens: list[np.ndarray] = []
        self._chunk_hashes: list[str] = []
        self._by_path: dict[str, int] = {}
        self._neighbours_stale = False
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._vector_buffer = np.zeros((0, 0), dtype=np.float32)
        self._is_memory = np.zeros(0, dtype=bool)
        self._speaks_of_past = np.zeros(0, dtype=bool)  # a "former"/"old"/"ex-" in the text
        self.has_links = False  # any [[link]] or entity note: whether autolink needs the graph

    # -- keeping fresh ---------------------------------------------------------------------------

    def _stale(
        self, listing: list[tuple[str, int, int]], files: dict[str, FileRow], partial: set[str] | None = None
    ) -> tuple[list[tuple[str, int, int]], list[str]]:
        stale = []
        for path, size, mtime_ns in listing:
            row = files.get(path)
            if row is None or row.size != size or row.mtime_ns != mtime_ns or _racy(mtime_ns, row.indexed_ns):
                stale.append((path, size, mtime_ns))
        present = {path for path, _, _ in listing}
        candidates = files if partial is None else (p for p in partial if p in files)
        return stale, [path for path in candidates if path not in present]

    def refresh(
        self,
        listing: Listing,
        load: Loader,
        progress: Progress | None = None,
        rebuild: bool = False,
        partial: set[str] | None = None,
    ) -> RefreshStats:
        """Bring the stored index up to date with the files: re-read only what changed, embed only
        new text. With `partial`, `listing` covers just those paths (a writer's own files).
        Loading into memory is separate (load_current), so a burst of writes costs one load."""
        started = time.perf_counter()
        if rebuild:
            with self._lock():
                self._recreate()
        try:
            generation = self.store.generation()
        except (sqlite3.DatabaseError, IndexDamaged):
            with self._lock():
                self._recreate()
            generation = self.store.generation()
        if partial is not None:
            known = self.store.files(partial)  # a writer's own files: no need for all the rows
        else:
            if generation != self._files_generation:
                self._files, self._files_generation = self.store.files(), generation
            known = self._files
        files_now = listing()
        stale, removed = self._stale(files_now, known, partial)
        stats = RefreshStats(files=len(files_now))
        wants_vectors = self.embedder is not None and self._missing_vectors()
        if stale or removed or wants_vectors:
            with self._lock():
                before = self.store.generation()
                known = self.store.files(partial)  # another process may have done part of the work
                stale, removed = self._stale(files_now, known, partial)
                self._apply(stale, removed, load, known, stats, progress)
                stats.embedded = self._embed_missing(progress)
                self._files_generation = -1
                # A writer's own files, with nobody else's change in between: patch what is loaded
                # instead of reloading it all at the next search (300 ms at 10k memories).
                if (
                    partial is not None
                    and before == self._generation
                    and not removed
                    and self._patch({p for p, _, _ in stale})
                ):
                    self._generation = self.store.generation()
        stats.seconds = time.perf_counter() - started
        return stats

    def load_current(self) -> None:
        """Make the in-memory records, BM25 and vectors match the stored index (cheap when they do)."""
        try:
            generation = self.store.generation()
        except (sqlite3.DatabaseError, IndexDamaged):
            return  # the next refresh rebuilds it
        if generation != self._generation:
            self._reload(generation)
            if self._vectors_damaged:  # re-embed now, so this search already has every vector
                with self._lock():
                    self._embed_missing(None)
                self._reload(self.store.generation())

    def _recreate(self) -> None:
        self.store.close()
        self.store.delete_files()
        self.store = IndexStore(self.store.folder, self.store.model_key)
        self._generation = -1
        self._files_generation = -1
        self._files = {}

    def _apply(
        self,
        stale: list[tuple[str, int, int]],
        removed: list[str],
        load: Loader,
        known_files: dict[str, FileRow],
        stats: RefreshStats,
        progress: Progress | None,
    ) -> None:
        if not stale and not removed:
            return
        with self.store.transaction():
            for done, (path, size, mtime_ns) in enumerate(stale, 1):
                indexed_ns = time.time_ns()
                sha, loaded = load(path)
                known = known_files.get(path)
                if known is not None and known.sha256 == sha:
                    self.store.touch_file(path, size, mtime_ns, indexed_ns)
                else:
                    stats.changed += 1
                    row = FileRow(size, mtime_ns, sha, indexed_ns)
                    if isinstance(loaded, str):
                        self.store.put_file(path, row, None, None, loaded, [])
                    else:
                        chunks = [(embed_text(loaded, c), c) for c in record_chunks(loaded)]
                        self.store.put_file(
                            path,
                            row,
                            loaded.id,
                            json.dumps(dataclasses.asdict(loaded), ensure_ascii=False),
                            None,
                            [(_hash(model_text), model_text, tokenize(text)) for model_text, text in chunks],
                        )
                if progress and (done % 200 == 0 or done == len(stale)):
                    progress("read", done, len(stale))
            for path in removed:
                self.store.drop_file(path)
            stats.removed = len(removed)
            if stats.changed or removed:  # a re-hash that found the same bytes changes nothing loaded
                self.store.bump()

    def _missing_vectors(self) -> bool:
        return bool(self._chunk_rows.size) and bool((self._chunk_rows < 0).any())

    def _embed_missing(self, progress: Progress | None) -> int:
        if self.embedder is None:
            return 0
        total = self.store.count_unembedded()
        done = 0
        while done < total:
            batch = self.store.unembedded(EMBED_BATCH_COMMIT)
            if not batch:
                break
            try:
                vectors = self.embedder.embed_passages([text for _, text in batch])
            except EmbeddingUnavailable as err:
                self.disable_embeddings(str(err))
                break
            with self.store.transaction():
                self.store.add_vectors([text_hash for text_hash, _ in batch], vectors)
                self.store.bump()
            done += len(batch)
            if progress:
                progress("embed", done, total)
        return done

    def disable_embeddings(self, reason: str) -> None:
        """Go on with BM25 only, and say so once."""
        if self.embed_error is None:
            log.warning("mem: no embedding model (%s); searching with BM25 only", reason)
        self.embed_error = reason
        self.embedder = None

    # -- loading ---------------------------------------------------------------------------------

    def _reload(self, generation: int) -> None:
        records: list[MemoryRecord] = []
        problems: list[FileProblem] = []
        owner_of: dict[str, int] = {}
        by_id: dict[str, int] = {}
        with self.store.snapshot():
            rows, chunk_rows = self.store.records(), self.store.chunks()
        for path, record_json, problem in rows:
            if record_json is None:
                problems.append(FileProblem(path, problem or "unreadable"))
                continue
            record = MemoryRecord(**json.loads(record_json))
            if record.id in by_id:
                first = records[by_id[record.id]].path
                problems.append(FileProblem(path, f"duplicate id {record.id} (also in {first}); skipped"))
                continue
            by_id[record.id] = len(records)
            owner_of[path] = len(records)
            records.append(record)
        chunks = [c for c in chunk_rows if c.path in owner_of]
        owners = np.fromiter((owner_of[c.path] for c in chunks), dtype=np.int64, count=len(chunks))
        # Records and chunks both come sorted by path from one snapshot, so owners ascend; a
        # record without chunks (which put_file never writes) would break the segmented max.
        self._chunk_owner = owners
        self._chunk_starts = np.searchsorted(owners, np.arange(len(records)))
        self._segmented = bool(len(np.unique(owners)) == len(records))
        self._chunk_tokens = [c.tokens for c in chunks]
        self._chunk_hashes = [c.text_hash for c in chunks]
        self._bm25 = SparseBM25(self._chunk_tokens)
        self._bm25_stale = False
        self._by_path = owner_of
        self._neighbours_stale = False
        self.records, self.problems, self.by_id = records, problems, by_id
        self.times = np.fromiter((r.time for r in records), dtype=np.float64, count=len(records))
        self._current = np.fromiter((r.is_current for r in records), dtype=bool, count=len(records))
        self._is_memory = np.fromiter((r.kind == "memory" for r in records), dtype=bool, count=len(records))
        self._speaks_of_past = np.fromiter(
            (bool(PAST_WORD.search(r.text)) for r in records), dtype=bool, count=len(records)
        )
        self.has_links = any(r.links or r.aliases or r.entity_type for r in records)
        self._neighbours = conversation_neighbours(records)
        self._scope_codes = {}
        for key in ("user", "agent", "run"):
            values = [getattr(r, key) for r in records]
            codes = {value: number for number, value in enumerate(dict.fromkeys(v for v in values if v is not None), 1)}
            array = np.fromiter(
                (codes.get(v, 0) if v is not None else 0 for v in values), dtype=np.int64, count=len(records)
            )
            self._scope_codes[key] = (codes, array)
        if self.embedder is not None:
            self._chunk_rows = self._load_vectors(chunks)
        else:
            self._chunk_rows = np.full(len(chunks), -1, dtype=np.int64)
        self._generation = generation

    def _patch(self, paths: set[str]) -> bool:  # noqa: C901 -- replaced by columns.append in the index split
        """Take just-written files into the loaded index: a new file is appended; a rewritten one
        whose text did not change (a status or history change) is swapped in place. Anything
        else (a text edit, a removal, a problem file) returns False: the next load reloads all."""
        if not paths:
            return True
        rows = self.store.records_for(paths)
        chunk_rows = self.store.chunks_for(paths)
        by_path: dict[str, list] = {}
        for chunk in chunk_rows:
            by_path.setdefault(chunk.path, []).append(chunk)
        records: dict[str, MemoryRecord] = {}
        for path in paths:
            record_json = rows.get(path, (None, None))[0]
            if record_json is None or path not in by_path:
                return False
            record = MemoryRecord(**json.loads(record_json))
            position = self._by_path.get(path)
            if position is None:
                if record.id in self.by_id:
                    return False
            else:
                old = self.records[position]
                start = int(self._chunk_starts[position])
                end = (
                    int(self._chunk_starts[position + 1])
                    if position + 1 < len(self.records)
                    else len(self._chunk_hashes)
                )
                if (
                    old.id != record.id
                    or old.scope() != record.scope()
                    or self._chunk_hashes[start:end] != [c.text_hash for c in by_path[path]]
                ):
                    return False
            records[path] = record
        vectors = self.store.vector_rows_for(c.text_hash for c in chunk_rows) if self.embedder is not None else {}
        if vectors and self.embedder is not None:
            newest = max(row for row, _ in vectors.values())
            if newest >= len(self._vectors):
                self._append_vectors(self.store.load_vectors_from(len(self._vectors), self.embedder.dim))
        self.records = list(self.records)  # a new list: caches keyed on the old one (the graph) rebuild
        self.by_id = dict(self.by_id)
        for path in sorted(records):
            record, position = records[path], self._by_path.get(path)
            if position is not None:
                self.records[position] = record
                self.times[position] = record.time
                self._current[position] = record.is_current
                self.has_links = self.has_links or bool(record.links or record.aliases or record.entity_type)
                continue
            position = len(self.records)
            self.records.append(record)
            self.by_id[record.id] = self._by_path[path] = position
            self.times = np.append(self.times, record.time)
            self._current = np.append(self._current, record.is_current)
            self._is_memory = np.append(self._is_memory, record.kind == "memory")
            self._speaks_of_past = np.append(self._speaks_of_past, bool(PAST_WORD.search(record.text)))
            self.has_links = self.has_links or bool(record.links or record.aliases or record.entity_type)
            for key in ("user", "agent", "run"):
                codes, array = self._scope_codes.get(key, ({}, np.zeros(0, dtype=np.int64)))
                value = getattr(record, key)
                code = 0 if value is None else codes.setdefault(value, len(codes) + 1)
                self._scope_codes[key] = (codes, np.append(array, code))
            self._chunk_starts = np.append(self._chunk_starts, len(self._chunk_hashes))
            for chunk in by_path[path]:
                self._chunk_owner = np.append(self._chunk_owner, position)
                self._chunk_tokens.append(chunk.tokens)
                self._chunk_hashes.append(chunk.text_hash)
                row = vectors.get(chunk.text_hash, (-1, 0))[0]
                self._chunk_rows = np.append(self._chunk_rows, row if row < len(self._vectors) else -1)
            self._bm25_stale = True
            self._neighbours_stale = True
        return True

    def _append_vectors(self, rows: np.ndarray) -> None:
        """Grow the loaded vector matrix in place (capacity doubles: no full copy per memory)."""
        count = len(self._vectors)
        if count + len(rows) > len(self._vector_buffer) or self._vector_buffer.shape[1:] != rows.shape[1:]:
            capacity = max(2 * (count + len(rows)), 1024)
            buffer = np.empty((capacity, rows.shape[1]), dtype=np.float32)
            buffer[:count] = self._vectors
            self._vector_buffer = buffer
        self._vector_buffer[count : count + len(rows)] = rows
        self._vectors = self._vector_buffer[: count + len(rows)]

    def exact_scope(self, scope: dict[str, str], include_all: bool = False) -> np.ndarray:
        """Indices of the memories of exactly this scope: each key equal, unset keys unset too."""
        mask = np.ones(len(self.records), dtype=bool) if include_all else self._current.copy()
        for key in ("user", "agent", "run"):
            codes, array = self._scope_codes.get(key, ({}, np.zeros(len(self.records), dtype=np.int64)))
            value = scope.get(key)
            mask &= array == (codes.get(value, -1) if value is not None else 0)
        return np.flatnonzero(mask & self._is_memory)

    def related(self, texts: list[str], vectors: np.ndarray | None, pool: np.ndarray, k: int) -> set[int]:
        """The records of `pool` closest to each text by words (BM25) and by meaning (cosine with
        the given vectors, one per text for the first len(vectors) texts; the rest are looked
        up by words only): how a new fact finds what it may repeat or replace in a big scope."""
        # BM25 as last built (what was written since is "recent" and always included): rebuilding
        # the statistics for every add would cost more than the whole add at 10k memories.
        bm25 = self._bm25
        found: set[int] = {int(i) for i in pool[np.argsort(-self.times[pool], kind="stable")[:k]]}
        for number, text in enumerate(texts):
            terms = list(dict.fromkeys(tokenize(text)))
            if terms and bm25.size:
                chunk_scores = np.zeros(len(self._chunk_hashes), dtype=np.float64)
                chunk_scores[: bm25.size] = bm25.scores(self.store.term_ids(terms).values())
                lexical = self._per_record(chunk_scores, 0.0)[pool]
                order = np.argsort(-lexical)[:k]
                found.update(int(pool[i]) for i in order if lexical[i] > 0)
            if vectors is not None and number < len(vectors) and len(self._vectors) and self._chunk_rows.size:
                rows = self._chunk_rows[self._chunk_starts[pool]]
                sims = np.where(rows >= 0, self._vectors[np.clip(rows, 0, None)] @ vectors[number], -1.0)
                found.update(int(i) for i in pool[np.argsort(-sims)[:k]])
        return found

    def seed_vectors(self, vectors: dict[str, np.ndarray]) -> None:
        """Store vectors already computed for texts about to be indexed (a new memory's fact was
        embedded to compare it), so indexing it does not run the model a second time."""
        if self.embedder is None or not vectors:
            return
        by_hash = {_hash(text): vector for text, vector in vectors.items()}
        with self._lock():
            known = self.store.vector_rows_for(by_hash)
            new = [h for h in by_hash if h not in known]
            if new:
                with self.store.transaction():
                    self.store.add_vectors(new, np.array([by_hash[h] for h in new], dtype=np.float32))

    def _past_tense(self, query: str, candidates: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """0.6 for a match that speaks of a former one ("my former mentor" for "my mentor's
        company"), unless the query asks about former ones itself; 1.0 otherwise."""
        factor = np.ones(len(candidates), dtype=np.float64)
        flagged = np.flatnonzero(keep & self._speaks_of_past[candidates])  # few: flagged at load
        words = re.findall(r"[a-z]{3,}", fold(query))
        if not flagged.size or not words or any(w in PAST_QUALIFIERS for w in words):
            return factor  # the usual case: no pattern to build
        pattern = re.compile(
            rf"\b(?:{'|'.join(PAST_QUALIFIERS)})[\s-]+(?:\w+\s+)?(?:{'|'.join(map(re.escape, words))})", re.IGNORECASE
        )
        for position in flagged:
            if pattern.search(self.records[int(candidates[position])].text):
                factor[position] = 0.6
        return factor

    def _ready(self) -> None:
        """Rebuild what patches left for later: BM25 statistics and conversation neighbours."""
        if self._bm25_stale:
            self._bm25 = SparseBM25(self._chunk_tokens)
            self._bm25_stale = False
        if self._neighbours_stale:
            self._neighbours = conversation_neighbours(self.records)
            self._neighbours_stale = False

    def in_scope(self, scope: dict[str, str], include_all: bool) -> np.ndarray:
        """Indices of the records visible in a scope: each given key equal, or unset on the record."""
        mask = np.ones(len(self.records), dtype=bool) if include_all else self._current.copy()
        for key, value in scope.items():
            codes, array = self._scope_codes[key]
            code = codes.get(value, -1)
            mask &= (array == 0) | (array == code)
        return np.flatnonzero(mask)

    def _load_vectors(self, chunks: list) -> np.ndarray:  # list[ChunkRow]
        """The vector file, checked row by row against its crc32; any damage means re-embedding."""
        assert self.embedder is not None
        rows = self.store.vector_rows()
        self._vectors = self._vector_buffer = self.store.load_vectors(self.embedder.dim)
        wanted = [rows.get(c.text_hash, (-1, 0)) for c in chunks]
        chunk_rows = np.fromiter((row for row, _ in wanted), dtype=np.int64, count=len(chunks))
        damaged = bool(chunk_rows.size) and chunk_rows.max() >= len(self._vectors)
        if not damaged:
            damaged = any(row >= 0 and zlib.crc32(self._vectors[row].tobytes()) != crc for row, crc in wanted)
        if damaged:
            log.warning("mem: the vector file does not match the index; re-embedding")
            self.store.reset_vectors()
            self._vectors_damaged = True
            return np.full(len(chunks), -1, dtype=np.int64)
        self._vectors_damaged = False
        return chunk_rows

    # -- querying --------------------------------------------------------------------------------

    def vector_of(self, position: int) -> np.ndarray | None:
        """The stored (unit) vector of a record's first chunk, or None when it has none."""
        if self.embedder is None or position >= len(self._chunk_starts):
            return None
        row = int(self._chunk_rows[self._chunk_starts[position]]) if self._chunk_rows.size else -1
        return self._vectors[row] if 0 <= row < len(self._vectors) else None

    def embed(self, texts: list[str]) -> np.ndarray | None:
        """Unit vectors for new texts (passages), or None without a working model."""
        if self.embedder is None or not texts:
            return None
        try:
            return np.asarray(self.embedder.embed_passages(texts), dtype=np.float32)
        except EmbeddingUnavailable as err:
            self.disable_embeddings(str(err))
            return None

    def _per_record(self, chunk_scores: np.ndarray, empty: float) -> np.ndarray:
        """A record scores by its best chunk. Chunks are stored in record order, each record
        having at least one, so this is a segmented max (reduceat), or nothing at all when every
        record is a single chunk (a vault of memories)."""
        if not self.records:
            return np.zeros(0, dtype=np.float64)
        if chunk_scores.size == len(self.records):
            return chunk_scores.astype(np.float64, copy=False)
        if chunk_scores.size and self._segmented:
            return np.maximum.reduceat(chunk_scores.astype(np.float64, copy=False), self._chunk_starts)
        out = np.full(len(self.records), empty, dtype=np.float64)
        np.maximum.at(out, self._chunk_owner, chunk_scores)
        return out

    def mode(self, requested: str) -> str:
        """The mode a search will really run in: without vectors, it is BM25."""
        if requested in ("hybrid", "dense") and self.embedder is None:
            return "bm25"
        return requested

    def _context(self, scores: np.ndarray) -> np.ndarray:
        """For each record, the best (decayed) score among its conversation neighbours."""
        best = np.zeros_like(scores)
        for row, offset in zip(self._neighbours, _OFFSETS, strict=True):
            lent = np.where(row >= 0, scores[np.clip(row, 0, None)], 0.0) * CONTEXT_DECAY ** (abs(offset) - 1)
            np.maximum(best, lent, out=best)
        return best

    def query(
        self,
        text: str,
        candidates: np.ndarray,
        options: SearchOptions,
        now: float,
        limit: int,
        threshold: float | None = None,
        expand: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> tuple[list[Hit], str]:
        """The best `limit` candidate records (indices into self.records) for the query text."""
        mode = self.mode(options.mode)
        if not candidates.size:
            return [], mode
        self._ready()
        terms = tokenize(text)
        term_ids = list(self.store.term_ids(list(dict.fromkeys(terms))).values()) if terms else []
        raw_lexical = self._per_record(self._bm25.scores(term_ids), 0.0)  # _ready() rebuilt it if stale
        lexical = fusion.normalise_max(raw_lexical, among=candidates)
        lexical_context = options.context_lexical * self._context(lexical)
        signals: dict[str, np.ndarray] = {"bm25": raw_lexical}
        if mode == "bm25":
            score = fusion.normalise_max((lexical + lexical_context)[candidates])
            keep = lexical[candidates] > 0  # context re-ranks matches; it never makes one
            signals["context"] = lexical_context
        else:
            try:
                query_vector = self.embedder.embed_query(text)  # type: ignore[union-attr]
            except EmbeddingUnavailable as err:
                self.disable_embeddings(str(err))
                return self.query(text, candidates, options, now, limit, threshold, expand)
            sims = self._vectors @ query_vector if len(self._vectors) else np.zeros(0, dtype=np.float32)
            chunk_sims = np.where(
                self._chunk_rows >= 0, sims[np.clip(self._chunk_rows, 0, None)] if sims.size else 0.0, -1.0
            )
            cosine = self._per_record(chunk_sims.astype(np.float64), -1.0)
            dense = fusion.normalise_dense(cosine, options.dense_floor, among=candidates)
            dense_context = options.context_dense * self._context(dense)
            signals.update(cosine=cosine, context=lexical_context + dense_context)
            if mode == "dense":
                score = fusion.normalise_max((dense + dense_context)[candidates])
            else:
                score = fusion.fuse(
                    (lexical + lexical_context)[candidates],
                    fusion.normalise_max((dense + dense_context)[candidates]),
                    options.dense_weight,
                )
            keep = (lexical[candidates] > 0) | (dense[candidates] > 0)
        ages = (now - self.times[candidates]) / 86400.0
        boost = fusion.recency(ages, options.half_life_days, options.recency_weight)
        final = score * boost * self._past_tense(text, candidates, keep)
        if expand is not None:  # evidence along [[links]]: it can bring in a record on its own
            everywhere = np.zeros(len(self.records), dtype=np.float64)
            everywhere[candidates] = final * keep
            linked = expand(everywhere)[candidates]
            signals["graph"] = np.zeros(len(self.records))
            signals["graph"][candidates] = linked
            final = final + linked
            keep = keep | (linked > 0)
        keep &= final >= (threshold if threshold is not None else -np.inf)
        kept = np.flatnonzero(keep)
        if kept.size > limit:  # only the best `limit` (ties at the cut included) need sorting
            cut = np.partition(-final[kept], limit - 1)[limit - 1]
            kept = kept[-final[kept] <= cut]
        order = kept[np.lexsort((-self.times[candidates][kept], -final[kept]))][:limit]
        hits = []
        for position in order:
            record = int(candidates[position])
            explained = {name: float(values[record]) for name, values in signals.items()}
            explained["recency"] = float(boost[position])
            if looks_like_injection(self.records[record].text):
                explained["injection"] = 1.0  # reads like instructions to the model: treat as data
            hits.append(Hit(self.records[record], float(final[position]), explained))
        return hits, mode


PAST_QUALIFIERS = ("former", "ex", "old", "previous", "past", "earlier", "erstwhile")
PAST_WORD = re.compile(rf"\b(?:{'|'.join(PAST_QUALIFIERS)})\b", re.IGNORECASE)
_OFFSETS = [offset for offset in range(-CONTEXT_SPAN, CONTEXT_SPAN + 1) if offset]


def conversation_neighbours(records: list[MemoryRecord]) -> np.ndarray:
    """Rows of neighbour indices (-1 for none), one row per offset in _OFFSETS.

    Neighbours are memories of the same scope (user, agent, run) created one after another
    with no gap longer than CONTEXT_GAP_S: the turns or facts of one conversation. Notes have none.
    """
    count = len(records)
    table = np.full((len(_OFFSETS), count), -1, dtype=np.int64)
    eligible = [i for i, r in enumerate(records) if r.kind == "memory" and timestamp(r.created)]
    if len(eligible) < 2:
        return table
    groups: dict[tuple[str | None, str | None, str | None], int] = {}
    group = np.array(
        [groups.setdefault((records[i].user, records[i].agent, records[i].run), len(groups)) for i in eligible]
    )
    created = np.array([timestamp(records[i].created) for i in eligible])
    order = np.lexsort((created, group))
    members = np.array(eligible)[order]
    group, created = group[order], created[order]
    new_run = np.ones(len(members), dtype=bool)
    new_run[1:] = (group[1:] != group[:-1]) | (np.diff(created) > CONTEXT_GAP_S)
    run = np.cumsum(new_run)
    positions = np.arange(len(members))
    for row, offset in enumerate(_OFFSETS):
        other = positions + offset
        valid = (other >= 0) & (other < len(members))
        valid[valid] &= run[other[valid]] == run[positions[valid]]
        table[row, members[valid]] = members[other[valid]]
    return table


@contextlib.contextmanager
def no_lock() -> Iterator[None]:
    yield
