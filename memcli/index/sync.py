"""Keeping the stored index in step with the files: files -> rows -> vectors, and the stored
rows -> the loaded Columns (a full load, or a patch for a writer's own files)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from memcli.errors import IndexDamaged
from memcli.index.chunk import chunk_note
from memcli.index.columns import Columns
from memcli.index.store import ChunkRow, FileRow, IndexStore, record_crc
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
    listing: list[tuple[str, int, int]], files: dict[str, FileRow], partial: set[str] | None = None
) -> tuple[list[tuple[str, int, int]], list[str]]:
    """The listed files whose stored row is missing or out of date, and the stored ones now gone."""
    stale = []
    for path, size, mtime_ns in listing:
        row = files.get(path)
        if row is None or row.size != size or row.mtime_ns != mtime_ns or _racy(mtime_ns, row.indexed_ns):
            stale.append((path, size, mtime_ns))
    present = {path for path, _, _ in listing}
    candidates = files if partial is None else (p for p in partial if p in files)
    return stale, [path for path in candidates if path not in present]


def store_files(
    store: IndexStore,
    stale: list[tuple[str, int, int]],
    removed: list[str],
    load: Loader,
    known_files: dict[str, FileRow],
    stats: RefreshStats,
    progress: Progress | None,
) -> None:
    """Read the stale files into rows (records, chunks, terms) and drop the removed ones."""
    if not stale and not removed:
        return
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
                        json.dumps(dataclasses.asdict(loaded), ensure_ascii=False),
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


def _record(record_json: object, crc: object) -> MemoryRecord:
    """A stored record as it was written, or IndexDamaged: any decode error of a row is damage."""
    if not isinstance(record_json, str) or record_crc(record_json) != crc:
        raise IndexDamaged("a stored record does not match its checksum")
    try:
        return MemoryRecord(**json.loads(record_json))
    except (ValueError, TypeError) as err:  # JSONDecodeError is a ValueError
        raise IndexDamaged(f"a stored record cannot be read ({type(err).__name__})") from None


def _check_terms(store: IndexStore, chunks: list[ChunkRow]) -> None:
    """Term ids outside the stored terms (a flipped bit) would size BM25's arrays by them."""
    if chunks:
        ids = np.concatenate([c.tokens for c in chunks])
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= store.term_count()):
            raise IndexDamaged("a chunk names a term the index does not have")


def load_columns(store: IndexStore, dim: int | None) -> tuple[Columns, bool]:
    """Every stored record as Columns, with vectors when `dim` is given; True when the vector file
    turned out damaged (it was reset: the caller re-embeds)."""
    columns = Columns()
    with store.snapshot():
        rows, chunk_rows = store.records(), store.chunks()
        _check_terms(store, chunk_rows)
    entries: list[tuple[str, MemoryRecord, list[ChunkRow]]] = []
    seen: dict[str, str] = {}
    for path, record_json, problem, crc in rows:
        if record_json is None:
            columns.problems.append(FileProblem(path, problem or "unreadable"))
            continue
        record = _record(record_json, crc)
        if record.id in seen:
            columns.problems.append(
                FileProblem(
                    path, f"duplicate id {record.id} (also in {seen[record.id]}); skipped", duplicate_of=record.id
                )
            )
            continue
        seen[record.id] = path
        entries.append((path, record, []))
    by_path = {path: chunks for path, _, chunks in entries}
    for chunk in chunk_rows:  # sorted by path, like the records: owners ascend
        if chunk.path in by_path:
            by_path[chunk.path].append(chunk)
    chunks = [c for _, _, cs in entries for c in cs]
    damaged = False
    vector_rows = [-1] * len(chunks)
    if dim is not None:
        rows_by_hash = store.vector_rows()
        columns.vectors = columns.vector_buffer = store.load_vectors(dim)
        wanted = [rows_by_hash.get(c.text_hash, (-1, 0)) for c in chunks]
        vector_rows = [row for row, _ in wanted]
        damaged = bool(vector_rows) and max(vector_rows) >= len(columns.vectors)
        if not damaged:
            damaged = any(row >= 0 and zlib.crc32(columns.vectors[row].tobytes()) != crc for row, crc in wanted)
        if damaged:
            log.warning("mem: the vector file does not match the index; re-embedding")
            store.reset_vectors()
            vector_rows = [-1] * len(chunks)
    columns.append(entries, vector_rows)
    columns.ready()
    return columns, damaged


def patch_columns(columns: Columns, store: IndexStore, paths: set[str], dim: int | None) -> bool:
    """Take just-written files into the loaded columns: a new file is appended; a rewritten one
    whose text did not change (a status or history change) is swapped in place. Anything else
    (a text edit, a removal, a problem file) returns False: the next load reloads all."""
    if not paths:
        return True
    rows = store.records_for(paths)
    chunk_rows = store.chunks_for(paths)
    _check_terms(store, chunk_rows)
    by_path: dict[str, list[ChunkRow]] = {}
    for chunk in chunk_rows:
        by_path.setdefault(chunk.path, []).append(chunk)
    swaps: list[tuple[int, MemoryRecord]] = []
    new: list[tuple[str, MemoryRecord, list[ChunkRow]]] = []
    for path in sorted(paths):
        record_json, _, crc = rows.get(path, (None, None, None))
        if record_json is None or path not in by_path:
            return False
        record = _record(record_json, crc)
        position = columns.by_path.get(path)
        if position is None:
            if record.id in columns.by_id or any(r.id == record.id for _, r, _ in new):
                return False
            new.append((path, record, by_path[path]))
            continue
        old = columns.records[position]
        same_text = columns.chunk_hashes_of(position) == [c.text_hash for c in by_path[path]]
        if old.id != record.id or old.scope() != record.scope() or not same_text:
            return False
        swaps.append((position, record))
    hashes = [c.text_hash for _, _, chunks in new for c in chunks]
    vectors = store.vector_rows_for(hashes) if dim is not None and hashes else {}
    if vectors and dim is not None:
        newest = max(row for row, _ in vectors.values())
        if newest >= len(columns.vectors):
            columns.append_vectors(store.load_vectors_from(len(columns.vectors), dim))
    for position, record in swaps:
        columns.swap(position, record)
    if new:
        rows_of = [vectors.get(h, (-1, 0))[0] for h in hashes]
        columns.append(new, [row if row < len(columns.vectors) else -1 for row in rows_of])
    return True
