"""SearchIndex: the index of a vault as the memory layer sees it, keeping its stored rows in step
with the files (sync.py), its loaded columns in step with the rows, and answering queries (search.py)."""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import numpy as np

from memcli.errors import IndexDamaged
from memcli.index import search
from memcli.index.columns import Columns
from memcli.index.embed import Embedder, EmbeddingUnavailable
from memcli.index.options import SearchOptions
from memcli.index.search import Expand
from memcli.index.store import IndexStore, is_damage, unavailable
from memcli.index.sync import (
    EMBED_BATCH_COMMIT,
    Listing,
    Loader,
    Progress,
    RefreshStats,
    keep_columns,
    load_columns,
    log,
    patch_columns,
    stale_files,
    store_files,
    text_hash,
)
from memcli.models import FileProblem, Hit, MemoryRecord
from memcli.text.normalize import tokenize

__all__ = ["Candidates", "Progress", "RefreshStats", "SearchIndex", "SearchOptions", "no_lock"]

Candidates = np.ndarray  # indices of loaded records, from visible() / exact_scope(); opaque to callers
F = TypeVar("F", bound=Callable[..., Any])
KEEP_EVERY_S = 2.0  # a writer keeps its patched columns as the snapshot at most this often


@contextlib.contextmanager
def no_lock() -> Iterator[None]:
    yield


def _self_repairing(method: F) -> F:
    """Any stored row that cannot be decoded, or SQLite saying the file is damaged, is damage of
    derived state: the index is rebuilt from the files (one warning line) and the call made once
    more. Only damage does that; the disk being in the way never deletes the index."""

    @functools.wraps(method)
    def wrapper(self: SearchIndex, *args: Any, **kwargs: Any) -> Any:
        try:
            return _decoded(method, self, *args, **kwargs)
        except IndexDamaged as err:
            if self._repairing:
                raise
            self.repair(err)
            return _decoded(method, self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _decoded(method: Callable[..., Any], self: SearchIndex, *args: Any, **kwargs: Any) -> Any:
    try:
        return method(self, *args, **kwargs)
    except sqlite3.DatabaseError as err:
        if is_damage(err):
            raise IndexDamaged(str(err)) from err
        if isinstance(err, sqlite3.OperationalError):  # full, read-only, I/O, locked: kept as it is
            raise unavailable(self.store.folder, err) from err
        raise


class SearchIndex:
    """Records, BM25 and vectors of a vault, loaded from an IndexStore and kept fresh."""

    def __init__(
        self,
        store: IndexStore,
        embedder: Embedder | None,
        lock: Callable[[], AbstractContextManager[None]],
        files: tuple[Listing, Loader] | None = None,
    ) -> None:
        """`files`: every file of the vault and how to read one, to rebuild a damaged index from."""
        self.store = store
        self.embedder = embedder
        self.embed_error: str | None = None
        self._lock = lock
        self._source = files
        self._repairing = False
        self._generation = -1  # of what is loaded in memory
        self._columns = Columns()
        self._warmed: Embedder | None = None  # the embedder warm() has loaded
        self._kept_at = -KEEP_EVERY_S  # when patched columns were last kept as the snapshot

    # -- keeping fresh ---------------------------------------------------------------------------

    @property
    def on_disk(self) -> bool:
        return self.store.folder is not None

    @property
    def generation(self) -> int:
        """Of what is loaded: it changes when any writer's change reaches the stored index."""
        return self._generation

    def _dim(self) -> int | None:
        return self.embedder.dim if self.embedder is not None else None

    @_self_repairing
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
        files_now = listing()
        stale, removed = stale_files(self.store, files_now, partial)
        stats = RefreshStats(files=len(files_now))
        wants_vectors = self.embedder is not None and (
            self._columns.missing_vectors()
            if self._generation >= 0
            # Nothing loaded yet: ask the store, or rows whose embedding was killed stay without
            # vectors for good while the mode says hybrid (one query; ~10 ms at 10k memories).
            else partial is None and self.store.count_unembedded() > 0
        )
        if stale or removed or wants_vectors:
            with self._lock():
                before = self.store.generation()
                # Another process may have done part of the work, or written files since the listing
                # (a stale listing would drop its new file from the index): both looked at again.
                files_now = listing()
                stats.files = len(files_now)
                stale, removed = stale_files(self.store, files_now, partial)
                store_files(self.store, stale, removed, load, stats, progress)
                stats.embedded = self._embed_missing(progress, partial)
                # A writer's own files, with nobody else's change in between: patch what is loaded
                # instead of reloading it all at the next search (300 ms at 10k memories).
                if (
                    partial is not None
                    and before == self._generation
                    and not removed
                    and patch_columns(self._columns, self.store, {p for p, _, _ in stale}, self._dim())
                ):
                    self._generation = self.store.generation()
                    if time.monotonic() - self._kept_at >= KEEP_EVERY_S:  # a burst of adds: not each
                        keep_columns(self.store, self._columns, self._dim())
                        self._kept_at = time.monotonic()
        stats.seconds = time.perf_counter() - started
        return stats

    @_self_repairing
    def load_current(self) -> None:
        """Make the loaded columns match the stored index (cheap when they do)."""
        generation = self.store.generation()
        if generation != self._generation:
            self._columns, damaged = load_columns(self.store, self._dim())
            self._generation = generation
            # A damaged vector file, or rows whose embedding was cut short (a kill, Ctrl-C):
            # embedded now, so this search already has every vector.
            if damaged or (self.embedder is not None and self._columns.missing_vectors()):
                with self._lock():
                    self._embed_missing(None)
                self._columns, _ = load_columns(self.store, self._dim())
                self._generation = self.store.generation()

    def repair(self, err: IndexDamaged) -> None:
        """Start the stored index over and read every file again (it is derived: nothing is lost)."""
        log.warning("mem: the search index is damaged (%s); rebuilding it from the files", err)
        self._repairing = True
        try:
            with self._lock():
                self._recreate()
            self._columns = Columns()
            if self._source is not None:
                self.refresh(*self._source)
        finally:
            self._repairing = False

    def _recreate(self) -> None:
        self.store.close()
        self.store.delete_files()
        self.store = IndexStore(self.store.folder, self.store.model_key)
        self._generation = -1

    def _embed_missing(self, progress: Progress | None, paths: set[str] | None = None) -> int:
        """Embed the chunks that have no vector: any, or those of `paths` (a writer's own files)."""
        if self.embedder is None:
            return 0
        total = self.store.count_unembedded() if progress else 0  # only to say how far it is
        done, tried = 0, set[str]()
        while True:
            batch = [(h, text) for h, text in self.store.unembedded(EMBED_BATCH_COMMIT, paths) if h not in tried]
            if not batch:  # all embedded (or what is left was tried once already: never loop on it)
                break
            tried.update(h for h, _ in batch)
            try:
                vectors = self.embedder.embed_passages([text for _, text in batch])
            except EmbeddingUnavailable as err:
                self.disable_embeddings(str(err))
                break
            with self.store.transaction():
                self.store.add_vectors([hash_ for hash_, _ in batch], vectors)
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

    def warm(self, lasting: bool = False) -> None:
        """Load the embedding model now (search calls it before loading the index); once: later
        calls cost nothing. `lasting`: for a process that goes on embedding (the watcher, MCP),
        which builds the model's optimised session up front (BundledEmbedder.optimise)."""
        if self.embedder is not None and (self.embedder is not self._warmed or lasting):
            try:
                load = getattr(self.embedder, "optimise" if lasting else "load", None)
                load() if load is not None else self.embedder.embed_query("warm up")
                self._warmed = self.embedder
            except EmbeddingUnavailable as err:
                self.disable_embeddings(str(err))

    # -- what is loaded --------------------------------------------------------------------------

    @property
    def has_links(self) -> bool:
        """Any [[link]] or entity note: whether autolink needs the graph."""
        return self._columns.has_links

    def linked(self) -> list[int]:
        """Positions of the records the entity graph is made of: those with a link, an alias or
        an entity type, and the notes under entities/ (graph.model.build reads only these)."""
        return np.flatnonzero(self._columns.linked).tolist()

    def records(self) -> Sequence[MemoryRecord]:
        """Every loaded record (decoded as read); the same sequence object until the index
        changes (a cache key)."""
        return self._columns.records

    def vectors(self) -> np.ndarray:
        """The loaded vector matrix as float32, one row per embedded chunk (benchmarks compare
        against it; search reads the int8 codes, see vectors.py)."""
        return self._columns.vectors.dense()

    def problems(self) -> list[FileProblem]:
        return self._columns.problems

    def record(self, memory_id: str) -> MemoryRecord | None:
        position = self._columns.by_id.get(memory_id)
        return self._columns.records[position] if position is not None else None

    def position(self, memory_id: str) -> int | None:
        """Where a record stands in records() (the entity graph is built over that list)."""
        return self._columns.by_id.get(memory_id)

    def visible(
        self,
        scope: dict[str, str],
        *,
        include_all: bool = False,
        as_of: float | None = None,
        where: Callable[[MemoryRecord], bool] | None = None,
        now: float | None = None,
    ) -> Candidates:
        """The records visible in a scope (each given key equal, or unset on the record): current
        ones (not expired by `now`, when given), or with `include_all` every status, or those
        valid at `as_of` (Unix seconds)."""
        columns = self._columns
        found = columns.in_scope(scope, include_all or as_of is not None, now)
        if as_of is not None:
            found = np.array([i for i in found if columns.records[i].valid_at(as_of)], dtype=np.int64)
        if where is not None:
            found = np.array([i for i in found if where(columns.records[i])], dtype=np.int64)
        return found

    def exact_scope(self, scope: dict[str, str]) -> Candidates:
        """The current memories of exactly this scope: each key equal, unset keys unset too."""
        return self._columns.exact_scope(scope)

    def select(self, candidates: Candidates, *, newest_first: bool = False) -> list[MemoryRecord]:
        """The records of a candidate set, in its order (or newest first, ties by id)."""
        chosen = [self._columns.records[int(i)] for i in candidates]
        if newest_first:
            chosen.sort(key=lambda r: (-r.time, r.id))
        return chosen

    def unembedded(self) -> int:
        """Chunks the model has not embedded (yet, or at all since it failed); 0 when embeddings
        are off by choice (every chunk is then BM25's alone)."""
        off_by_choice = self.embedder is None and self.embed_error is None
        return 0 if off_by_choice else self.store.count_unembedded()

    def mode(self, requested: str) -> str:
        """The mode a search will really run in: without vectors, it is BM25."""
        if requested in ("hybrid", "dense") and self.embedder is None:
            return "bm25"
        return requested

    # -- queries ---------------------------------------------------------------------------------

    def _term_ids(self, text: str) -> list[int]:
        terms = list(dict.fromkeys(tokenize(text)))
        return list(self.store.term_ids(terms).values()) if terms else []

    @_self_repairing
    def rank(
        self,
        query: str,
        candidates: Candidates,
        options: SearchOptions,
        now: float,
        limit: int,
        threshold: float | None = None,
        expand: Expand | None = None,
    ) -> tuple[list[Hit], str]:
        """The best `limit` candidates for the query, and the mode that ran (see search.rank)."""
        mode = self.mode(options.mode)
        if not candidates.size:
            return [], mode
        query_vector = None
        if mode != "bm25":
            try:
                query_vector = self.embedder.embed_query(query)  # type: ignore[union-attr]
            except EmbeddingUnavailable as err:
                self.disable_embeddings(str(err))
                return self.rank(query, candidates, options, now, limit, threshold, expand)
        hits = search.rank(
            self._columns,
            query,
            self._term_ids(query),
            query_vector,
            candidates,
            options,
            now,
            limit,
            threshold,
            expand,
        )
        return hits, mode

    @_self_repairing
    def related(self, texts: list[str], vectors: np.ndarray | None, pool: Candidates, k: int) -> list[MemoryRecord]:
        """The memories of `pool` closest to each text by words and by meaning (a vector per text
        for the first len(vectors) texts), plus the `k` newest, oldest first."""
        found = search.related(self._columns, [self._term_ids(t) for t in texts], vectors, pool, k)
        return sorted((self._columns.records[i] for i in sorted(found)), key=lambda r: r.time)

    def vector_of(self, memory_id: str) -> np.ndarray | None:
        """The stored (unit) vector of a record's first chunk, or None when it has none."""
        position = self._columns.by_id.get(memory_id)
        if self.embedder is None or position is None:
            return None
        return self._columns.vector_of(position)

    def embed(self, texts: list[str]) -> np.ndarray | None:
        """Unit vectors for new texts (passages), or None without a working model."""
        if self.embedder is None or not texts:
            return None
        try:
            return np.asarray(self.embedder.embed_passages(texts), dtype=np.float32)
        except EmbeddingUnavailable as err:
            self.disable_embeddings(str(err))
            return None

    @_self_repairing
    def seed_vectors(self, vectors: dict[str, np.ndarray]) -> None:
        """Store vectors already computed for texts about to be indexed (a new memory's fact was
        embedded to compare it), so indexing it does not run the model a second time."""
        if self.embedder is None or not vectors:
            return
        by_hash = {text_hash(text): vector for text, vector in vectors.items()}
        with self._lock():
            known = self.store.vector_rows_for(by_hash)
            new = [h for h in by_hash if h not in known]
            if new:
                with self.store.transaction():
                    self.store.add_vectors(new, np.array([by_hash[h] for h in new], dtype=np.float32))
