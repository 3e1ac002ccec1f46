"""Keeping the stored index in step with the files: files -> rows -> vectors, and the stored
rows -> the loaded Columns (a full load, or a patch for a writer's own files)."""

from __future__ import annotations

import hashlib
import logging
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from memcli.errors import IndexDamaged
from memcli.index import snapshot
from memcli.index.chunk import chunk_note
from memcli.index.columns import Columns
from memcli.index.heap import give_back
from memcli.index.store import ChunkRow, FileRow, IndexStore, record_crc
from memcli.index.stored import encode, fields_of, record_of
from memcli.index.vectors import Vectors
from memcli.models import FileProblem, MemoryRecord
from memcli.text.normalize import tokenize

log = logging.getLogger("memcli")

# A file whose mtime is this close to when it was read may have been written again within the
# same timestamp tick with the same size (git's "racily clean" problem): hash it again. Where
# the filesystem keeps sub-second times the tick is a few ms; where it keeps whole seconds
# (FAT, HFS+, some network mounts) it can be up to 2 s.
RACY_NS_FINE = 50_000_000
RACY_NS_COARSE = 2_000_000_000
EMBED_BATCH_COMMIT = 256

Listing = Callable[[], list[tuple[str, int, int]]]  # (relpath, size, mtime_ns)
Loader = Callable[[str], tuple[str, "MemoryRecord | str"]]  # relpath -> (sha256, record or problem)
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class RefreshStats:
    files: int = 0
    changed: int = 0
    removed: int = 0
    embedded: int = 0
    seconds: float = 0.0


def _racy(mtime_ns: int, indexed_ns: int) -> bool:
    window = RACY_NS_COARSE if mtime_ns % 1_000_000_000 == 0 else RACY_NS_FINE
    return mtime_ns >= indexed_ns - window


def embed_text(record: MemoryRecord, chunk: str) -> str:
    """What the model reads for a chunk: the text, with the memory's tags as context."""
    if record.kind == "memory" and record.tags:
        return f"{chunk}\n(tags: {', '.join(record.tags)})"
    return chunk


def search_terms(record: MemoryRecord, chunk: str) -> list[str]:
    """What BM25 finds a chunk by: its words, and for a memory kept for a user, that user's name.
    A memory is about the user it is kept for ("Painted a sunrise" of user Melanie says Melanie
    painted it), so "when did Melanie paint a sunrise?" asked across users finds it by her name
    as it would find "Melanie painted a sunrise"; within her scope every memory has the word alike."""
    terms = tokenize(chunk)
    if record.kind == "memory" and record.user:
        terms += tokenize(record.user)
    return terms


def record_chunks(record: MemoryRecord) -> list[str]:
    return [record.text] if record.kind == "memory" else chunk_note(record.title or "", record.text)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def stale_files(
    store: IndexStore, listing: list[tuple[str, int, int]], partial: set[str] | None = None
) -> tuple[list[tuple[str, int, int]], list[str]]:
    """The listed files whose stored row is missing or out of date, and the stored ones now gone
    (with `partial`, only among those paths: a writer's own files)."""
    if partial is None:
        return store.stale_rows(listing, RACY_NS_FINE, RACY_NS_COARSE)
    files = store.files(partial)
    stale = []
    for path, size, mtime_ns in listing:
        row = files.get(path)
        if row is None or row.size != size or row.mtime_ns != mtime_ns or _racy(mtime_ns, row.indexed_ns):
            stale.append((path, size, mtime_ns))
    present = {path for path, _, _ in listing}
    return stale, [path for path in partial if path in files and path not in present]


def store_files(
    store: IndexStore,
    stale: list[tuple[str, int, int]],
    removed: list[str],
    load: Loader,
    stats: RefreshStats,
    progress: Progress | None,
) -> None:
    """Read the stale files into rows (records, chunks, terms) and drop the removed ones."""
    if not stale and not removed:
        return
    known_files = store.files(path for path, _, _ in stale)  # a file touched but not changed keeps its row
    with store.transaction():
        for done, (path, size, mtime_ns) in enumerate(stale, 1):
            indexed_ns = time.time_ns()
            sha, loaded = load(path)
            known = known_files.get(path)
            if known is not None and known.sha256 == sha:
                store.touch_file(path, size, mtime_ns, indexed_ns)
            else:
                stats.changed += 1
                row = FileRow(size, mtime_ns, sha, indexed_ns)
                if isinstance(loaded, str):
                    store.put_file(path, row, None, None, loaded, [])
                else:
                    chunks = [(embed_text(loaded, c), c) for c in record_chunks(loaded)]
                    store.put_file(
                        path,
                        row,
                        loaded.id,
                        encode(loaded),
                        None,
                        [
                            (text_hash(model_text), model_text, search_terms(loaded, text))
                            for model_text, text in chunks
                        ],
                    )
            if progress and (done % 200 == 0 or done == len(stale)):
                progress("read", done, len(stale))
        for path in removed:
            store.drop_file(path)
        stats.removed = len(removed)
        if stats.changed or removed:  # a re-hash that found the same bytes changes nothing loaded
            store.bump()


def _checked(record_json: object, crc: object) -> str:
    """A stored record's JSON as it was written, or IndexDamaged (a flipped bit would otherwise be
    served as the memory)."""
    if not isinstance(record_json, str) or record_crc(record_json) != crc:
        raise IndexDamaged("a stored record does not match its checksum")
    return record_json


def _check_terms(store: IndexStore, ids: np.ndarray) -> None:
    """Term ids outside the stored terms (a flipped bit) would size BM25's arrays by them."""
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= store.term_count()):
        raise IndexDamaged("a chunk names a term the index does not have")


def _entries(
    store: IndexStore, problems: list[FileProblem]
) -> Iterator[tuple[str, str, dict[str, Any], list[ChunkRow]]]:
    """Every stored record with its chunks, streamed: records and chunks are both read in path
    order, so each record takes the chunks of its path as they come (no row of either is held
    beyond its record). Files that could not be read, and later files with an id seen already,
    go to `problems`."""
    seen: dict[str, str] = {}
    chunks = store.chunks()
    pending = next(chunks, None)
    for path, record_json, problem, crc in store.records():
        own: list[ChunkRow] = []
        while pending is not None and pending.path <= path:
            if pending.path == path:
                own.append(pending)
            pending = next(chunks, None)
        if record_json is None:
            problems.append(FileProblem(path, problem or "unreadable"))
            continue
        fields = fields_of(_checked(record_json, crc))  # read once: the columns take it as it is
        memory_id = fields.get("id")
        if not isinstance(memory_id, str):
            raise IndexDamaged("a stored record has no id")
        if memory_id in seen:
            said = f"duplicate id {memory_id} (also in {seen[memory_id]}); skipped"
            problems.append(FileProblem(path, said, duplicate_of=memory_id))
            continue
        seen[memory_id] = path
        yield path, record_json, fields, own


def load_columns(store: IndexStore, dim: int | None) -> tuple[Columns, bool]:
    """Every stored record as Columns, with vectors when `dim` is given; True when the vector file
    turned out damaged (it was reset: the caller re-embeds). The columns come from the snapshot
    of the store's present state when there is one (index/snapshot.py), else from the records,
    and are then kept as that snapshot."""
    with store.snapshot():
        where = _snapshot_of(store, dim)
        kept = snapshot.load(*where) if where is not None else None
        vectors, damaged = _load_vectors(store, dim) if dim is not None else (Vectors(), False)
        if kept is not None:
            columns = kept
            columns.vectors = vectors
            columns.chunk_rows[columns.chunk_rows >= len(vectors)] = -1  # as append counts them
        else:
            columns = Columns(vectors=vectors)
            columns.append(_entries(store, columns.problems))
    _check_terms(store, columns.term_ids())
    if damaged:
        log.warning("mem: the vector file does not match the index; re-embedding")
        store.reset_vectors()
        columns.vectors = Vectors(dim or 0)
        columns.chunk_rows[:] = -1
    columns.ready()
    if kept is None and not damaged and where is not None:
        snapshot.save(where[0], columns, where[1])
    give_back()  # what streaming the rows left on the heap
    return columns, damaged


def keep_columns(store: IndexStore, columns: Columns, dim: int | None) -> bool:
    """Keep patched columns as the snapshot of the store's present state (a writer's own
    files, patched in: the next process reads them instead of every record)."""
    where = _snapshot_of(store, dim)
    return where is not None and snapshot.save(where[0], columns, where[1])


def _snapshot_of(store: IndexStore, dim: int | None) -> tuple[Path, dict[str, Any]] | None:
    """Where the snapshot of the store's present state is kept, and that state (snapshot.key);
    None for an index in memory, or one without an instance token."""
    path = store.columns_path()
    instance = store.instance() if path is not None else None
    if path is None or instance is None:
        return None
    return path, snapshot.key(instance, store.generation(), dim)


def _load_vectors(store: IndexStore, dim: int) -> tuple[Vectors, bool]:
    """The stored vectors, block by block, each row checked against the crc32 stored for it;
    True when one does not match, or a stored row is missing from the file (it is damaged)."""
    stored = store.vector_count(dim)
    crcs = np.full(stored, -1, dtype=np.int64)  # -1: a row no text hash names (nothing to check)
    beyond = False
    for row, crc in store.vector_crcs():
        if 0 <= row < stored:
            crcs[row] = crc
        else:
            beyond = True
    vectors = Vectors(dim)
    vectors.reserve(stored, dim)
    for block in store.vector_blocks(dim):
        start = len(vectors)
        for offset, crc in enumerate(crcs[start : start + len(block)]):
            if crc >= 0 and zlib.crc32(block[offset].tobytes()) != crc:
                return vectors, True
        vectors.append(block)
    return vectors, beyond


def patch_columns(columns: Columns, store: IndexStore, paths: set[str], dim: int | None) -> bool:
    """Take just-written files into the loaded columns: a new file is appended; a rewritten one
    whose text did not change (a status or history change) is swapped in place. Anything else
    (a text edit, a removal, a problem file) returns False: the next load reloads all."""
    if not paths:
        return True
    rows = store.records_for(paths)
    chunk_rows = store.chunks_for(paths)
    _check_terms(store, ChunkRow.term_ids(chunk_rows))
    by_path: dict[str, list[ChunkRow]] = {}
    for chunk in chunk_rows:
        by_path.setdefault(chunk.path, []).append(chunk)
    swaps: list[tuple[int, str]] = []
    new: list[tuple[str, str, dict[str, Any], list[ChunkRow]]] = []
    new_ids: set[str] = set()
    for path in sorted(paths):
        record_json, _, crc = rows.get(path, (None, None, None))
        if record_json is None or path not in by_path:
            return False
        fields = fields_of(_checked(record_json, crc))
        record = record_of(fields)
        position = columns.by_path.get(path)
        if position is None:
            if record.id in columns.by_id or record.id in new_ids:
                return False
            new.append((path, record_json, fields, by_path[path]))
            new_ids.add(record.id)
            continue
        old = columns.records[position]
        same_text = columns.chunk_hashes_of(position) == [c.text_hash for c in by_path[path]]
        if old.id != record.id or old.scope() != record.scope() or not same_text:
            return False
        swaps.append((position, record_json))
    if dim is not None:
        _catch_up_vectors(columns, store, dim, [c for *_, chunks in new for c in chunks])
    for position, record_json in swaps:
        columns.swap(position, record_json)
    if new:
        readable = {path for path, *_ in new}  # a file skipped before (a copy, unreadable) that is fine now
        columns.problems = [problem for problem in columns.problems if problem.path not in readable]
        columns.append(new)
    return True


def _catch_up_vectors(columns: Columns, store: IndexStore, dim: int, chunks: list[ChunkRow]) -> None:
    """Load the vector rows stored since the columns were loaded, when a new chunk's row is
    beyond what is loaded (another process embedded since)."""
    if chunks and max(c.vector for c in chunks) >= len(columns.vectors):
        for block in store.vector_blocks(dim, first_row=len(columns.vectors)):
            columns.vectors.append(block)
