"""The on-disk index under .mem/: a SQLite database of files, records, chunks and terms, and a
raw float32 file of vectors keyed by content hash. Derived state: any damage means a rebuild.

Why SQLite and not one JSON manifest: at 100k memories a JSON manifest is tens of MB that every
`mem add` would rewrite; SQLite updates one row, is safe under concurrent processes, and its
damage is detected (sqlite3.DatabaseError) rather than silently misread. No pickles anywhere.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import sqlite3
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from memcli.errors import IndexDamaged, IndexUnavailable

log = logging.getLogger("memcli")
F = TypeVar("F", bound=Callable[..., Any])

# 2: a crc32 per vector row; 3: records carry links; 4: supersede chains; 5: possible conflicts;
# 6: a crc32 per record (a flipped bit in a record's text would otherwise be served as the memory)
# 7: a memory's terms include its user's name (sync.search_terms)
SCHEMA_VERSION = "8"  # 8: records stored as compact JSON, defaults left out (stored.encode)
DB_NAME = "index.sqlite"
VECTORS_NAME = "vectors.f32"
COLUMNS_NAME = "columns.npz"  # a cache of the loaded columns: index/snapshot.py

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    indexed_ns INTEGER NOT NULL,
    id TEXT,
    record TEXT,
    problem TEXT,
    crc INTEGER
);
CREATE TABLE IF NOT EXISTS chunks (
    path TEXT NOT NULL,
    ord INTEGER NOT NULL,
    text_hash TEXT NOT NULL,
    text TEXT NOT NULL,
    tokens BLOB NOT NULL,
    PRIMARY KEY (path, ord)
);
CREATE TABLE IF NOT EXISTS terms (term TEXT PRIMARY KEY, id INTEGER NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS vectors (text_hash TEXT PRIMARY KEY, row INTEGER NOT NULL, crc INTEGER NOT NULL);
"""


# What SQLite says when the file itself is bad, as opposed to the disk or another process being in
# the way (full, read-only, an I/O error, locked): only these mean "delete it and rebuild". A
# broken constraint of mem's own schema is damage too: no writer of mem leaves one. A short read
# is a file cut shorter than its own header says (an I/O error by name, damage in fact).
_DAMAGE_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CONSTRAINT}
_DAMAGE_EXTENDED_CODES = {sqlite3.SQLITE_IOERR_SHORT_READ}


def is_damage(err: sqlite3.Error) -> bool:
    """Whether a SQLite error says the stored index is damaged (not that the disk is in the way)."""
    code = getattr(err, "sqlite_errorcode", None)
    if isinstance(err, sqlite3.IntegrityError):
        return True
    return code is not None and (code & 0xFF in _DAMAGE_CODES or code in _DAMAGE_EXTENDED_CODES)


# Not damage, so never a reason to delete: what is in the way, and what to do about it.
_CAUSES = {
    sqlite3.SQLITE_FULL: ("the disk is full", "free some disk space"),
    sqlite3.SQLITE_READONLY: ("it is read-only", "make the folder and its files writable"),
    sqlite3.SQLITE_PERM: ("permission denied", "make the folder and its files writable"),
    sqlite3.SQLITE_IOERR: ("a disk I/O error", "check the disk"),
    sqlite3.SQLITE_BUSY: ("another process holds it locked", "try again"),
    sqlite3.SQLITE_LOCKED: ("another process holds it locked", "try again"),
    sqlite3.SQLITE_CANTOPEN: ("it cannot be opened", "check that the folder exists and is writable"),
}
_OS_CAUSES = {
    errno.ENOSPC: sqlite3.SQLITE_FULL,
    errno.EDQUOT: sqlite3.SQLITE_FULL,
    errno.EROFS: sqlite3.SQLITE_READONLY,
    errno.EACCES: sqlite3.SQLITE_PERM,
    errno.EPERM: sqlite3.SQLITE_PERM,
    errno.EIO: sqlite3.SQLITE_IOERR,
}


def unavailable(folder: Path | None, err: sqlite3.Error | OSError) -> IndexUnavailable:
    """The one line for an index the disk will not let mem use: where, the cause, the way out."""
    if isinstance(err, OSError):
        code, detail = _OS_CAUSES.get(err.errno or 0), err.strerror or str(err)
    else:
        code, detail = getattr(err, "sqlite_errorcode", None), str(err)
    cause, fix = _CAUSES.get(code & 0xFF if code is not None else -1, (detail, "fix that"))
    said = cause if cause == detail else f"{cause} ({detail})"
    return IndexUnavailable(f"cannot use the search index in {folder}: {said}; {fix}, then run `mem index`")


def record_crc(record_json: str) -> int:
    return zlib.crc32(record_json.encode("utf-8"))


def _tokens(blob: object) -> bytes:
    if not isinstance(blob, bytes) or len(blob) % 4:
        raise IndexDamaged("a chunk's term ids are not a whole number of int32")
    return blob


def _disk(method: F) -> F:
    """A method that touches the index's own files: an OSError there is the disk in the way."""

    @functools.wraps(method)
    def wrapper(self: IndexStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except OSError as err:
            raise unavailable(self.folder, err) from err

    return wrapper  # type: ignore[return-value]


@dataclass(frozen=True)
class FileRow:
    size: int
    mtime_ns: int
    sha256: str
    indexed_ns: int


@dataclass(frozen=True, slots=True)
class ChunkRow:
    path: str
    ord: int
    text_hash: str
    tokens: bytes  # int32 term ids, as stored (columns.py keeps all chunks' ids in one array)
    vector: int = -1  # its row in the vector file, -1: not embedded (yet)

    @staticmethod
    def term_ids(chunks: list[ChunkRow]) -> np.ndarray:
        """The term ids of the chunks, one after another, as one int32 array."""
        return np.frombuffer(b"".join(c.tokens for c in chunks), dtype=np.int32)


class IndexStore:
    """Storage only: rows in, rows out. `folder=None` keeps everything in memory (read-only vaults)."""

    def __init__(self, folder: Path | None, model_key: str | None) -> None:
        self.folder = folder
        self.model_key = model_key  # "name:sha256:dim" of the embedder; None: embeddings off, keep vectors
        self._vectors_mem = np.zeros((0, 0), dtype=np.float32)
        self.db = self._open()

    # -- opening, validation, reset -------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        target = ":memory:" if self.folder is None else str(self.folder / DB_NAME)
        db = sqlite3.connect(target, timeout=60, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout = 60000")
        if self.folder is not None:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
        return db

    def _open(self) -> sqlite3.Connection:
        self._clear_the_way()
        db: sqlite3.Connection | None = None
        try:
            db = self._connect()
            db.executescript(_TABLES)
            self._check(db)
            return db
        except OSError as err:
            raise unavailable(self.folder, err) from err
        except (sqlite3.DatabaseError, IndexDamaged) as err:
            if isinstance(err, sqlite3.DatabaseError) and not is_damage(err):
                # the disk or another process is in the way: the index is kept
                raise unavailable(self.folder, err) from err
            if isinstance(err, sqlite3.DatabaseError):  # (an older schema is no damage: rebuilt quietly)
                log.warning("mem: the search index is damaged (%s); rebuilding it from the files", err)
            if db is not None:
                with contextlib.suppress(sqlite3.Error):
                    db.close()
            try:
                self.delete_files()
                db = self._connect()
                db.executescript(_TABLES)
                self._check(db)
            except (OSError, sqlite3.Error) as again:
                raise unavailable(self.folder, again) from again
            return db

    def _clear_the_way(self) -> None:
        """A folder where the index's file belongs: an empty one is removed (nothing is lost);
        one holding anything is not mem's to delete, so the index cannot live here (IndexUnavailable:
        the caller keeps an in-memory index)."""
        if self.folder is None:
            return
        for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", VECTORS_NAME):
            path = self.folder / name
            if path.is_dir() and not path.is_symlink():
                try:
                    path.rmdir()
                except OSError:
                    raise IndexUnavailable(
                        f"{path} is a folder, not mem's index; move it away to keep the index on disk"
                    ) from None

    def _check(self, db: sqlite3.Connection) -> None:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        if not meta:
            with self.transaction(db):
                db.executemany(
                    "INSERT OR IGNORE INTO meta VALUES (?, ?)",
                    [
                        ("schema", SCHEMA_VERSION),
                        ("model", self.model_key or ""),
                        ("generation", "0"),
                        ("instance", os.urandom(8).hex()),
                    ],
                )
            return
        if "instance" not in meta:  # an index made before there was one: given one now, if writable
            with contextlib.suppress(sqlite3.OperationalError), self.transaction(db):
                db.execute("INSERT OR IGNORE INTO meta VALUES ('instance', ?)", (os.urandom(8).hex(),))
        if meta.get("schema") != SCHEMA_VERSION:
            raise IndexDamaged(f"index schema {meta.get('schema')} is not {SCHEMA_VERSION}")
        if self.model_key is not None and meta.get("model") != self.model_key:
            # Another model made these vectors: forget them all; chunks get re-embedded.
            with self.transaction(db):
                db.execute("DELETE FROM vectors")
                db.execute("UPDATE meta SET value = ? WHERE key = 'model'", (self.model_key,))
                self._bump(db)
            self._truncate_vectors()

    @_disk
    def delete_files(self) -> None:
        """Remove the stored index entirely (it is derived; the next refresh rebuilds it)."""
        if self.folder is None:
            return
        for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", VECTORS_NAME, COLUMNS_NAME):
            with contextlib.suppress(FileNotFoundError):
                (self.folder / name).unlink()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.db.close()

    @contextlib.contextmanager
    def transaction(self, db: sqlite3.Connection | None = None) -> Iterator[sqlite3.Connection]:
        db = db or self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one consistent state, whatever other processes commit meanwhile."""
        self.db.execute("BEGIN")
        try:
            yield
        finally:
            self.db.execute("COMMIT")

    @staticmethod
    def _bump(db: sqlite3.Connection) -> None:
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

    def instance(self) -> str | None:
        """A token made with the stored index: a new index (deleted, rebuilt) has another one, so
        its generation count is never taken for an old one's (None: an index that has none)."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'instance'").fetchone()
        return str(row[0]) if row is not None and row[0] else None

    def columns_path(self) -> Path | None:
        """Where the loaded columns are kept between processes (index/snapshot.py); None in memory."""
        return self.folder / COLUMNS_NAME if self.folder is not None else None

    def generation(self) -> int:
        """A counter bumped by every change; lets a process see that another one wrote."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        if row is None:
            raise IndexDamaged("index metadata is missing")
        try:
            return int(row[0])
        except (TypeError, ValueError):
            raise IndexDamaged("the index generation is not a number") from None

    # -- files ------------------------------------------------------------------------------

    def files(self, paths: Iterable[str] | None = None) -> dict[str, FileRow]:
        """Stored stat and hash per file: all of them, or just the given paths."""
        query = "SELECT path, size, mtime_ns, sha256, indexed_ns FROM files"
        if paths is None:
            rows = self.db.execute(query).fetchall()
        else:
            wanted, rows = list(paths), []
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                rows += self.db.execute(f"{query} WHERE path IN ({','.join('?' * len(part))})", part).fetchall()
        return {path: FileRow(size, mtime, sha, indexed) for path, size, mtime, sha, indexed in rows}

    def stale_rows(
        self, listing: list[tuple[str, int, int]], racy_fine: int, racy_coarse: int
    ) -> tuple[list[tuple[str, int, int]], list[str]]:
        """Compared in SQLite, so no process holds a row per file in Python (40 MB at 100k): the
        listed (path, size, mtime_ns) whose stored row is missing, of another size or mtime, or
        racily clean (its mtime within the tick of when it was read: `racy_coarse` for whole
        seconds, else `racy_fine`), and the stored paths no longer listed."""
        db = self.db
        db.execute("CREATE TEMP TABLE IF NOT EXISTS listing (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER)")
        db.execute("BEGIN")
        try:
            db.execute("DELETE FROM temp.listing")
            db.executemany("INSERT OR REPLACE INTO temp.listing VALUES (?, ?, ?)", listing)
            stale = db.execute(
                "SELECT l.path, l.size, l.mtime_ns FROM temp.listing l LEFT JOIN files f ON f.path = l.path "
                "WHERE f.path IS NULL OR f.size != l.size OR f.mtime_ns != l.mtime_ns "
                "OR l.mtime_ns >= f.indexed_ns - (CASE WHEN l.mtime_ns % 1000000000 = 0 THEN ? ELSE ? END) "
                "ORDER BY l.path",
                (racy_coarse, racy_fine),
            ).fetchall()
            removed = [
                path
                for (path,) in db.execute(
                    "SELECT f.path FROM files f LEFT JOIN temp.listing l ON l.path = f.path WHERE l.path IS NULL"
                )
            ]
            db.execute("DELETE FROM temp.listing")
        finally:
            db.execute("COMMIT")
        return stale, removed

    def touch_file(self, path: str, size: int, mtime_ns: int, indexed_ns: int) -> None:
        """The bytes are unchanged (same hash); only the stat moved."""
        self.db.execute(
            "UPDATE files SET size = ?, mtime_ns = ?, indexed_ns = ? WHERE path = ?", (size, mtime_ns, indexed_ns, path)
        )

    def put_file(
        self,
        path: str,
        row: FileRow,
        memory_id: str | None,
        record_json: str | None,
        problem: str | None,
        chunks: list[tuple[str, str, list[str]]],
    ) -> None:
        """Replace everything known about one file: its stat, record (or problem) and chunks."""
        crc = record_crc(record_json) if record_json is not None else None
        self.db.execute(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (path, row.size, row.mtime_ns, row.sha256, row.indexed_ns, memory_id, record_json, problem, crc),
        )
        self.db.execute("DELETE FROM chunks WHERE path = ?", (path,))
        self.db.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?)",
            [
                (path, number, text_hash, text, self._term_ids(tokens).tobytes())
                for number, (text_hash, text, tokens) in enumerate(chunks)
            ],
        )

    def drop_file(self, path: str) -> None:
        self.db.execute("DELETE FROM files WHERE path = ?", (path,))
        self.db.execute("DELETE FROM chunks WHERE path = ?", (path,))

    def bump(self) -> None:
        self._bump(self.db)

    def records(self) -> Iterator[tuple[str, str | None, str | None, int | None]]:
        """(path, record JSON, problem, crc32 of the JSON) for every file, sorted by path, one row
        at a time (read inside `snapshot()` for one consistent state)."""
        return iter(self.db.execute("SELECT path, record, problem, crc FROM files ORDER BY path"))

    def records_for(self, paths: Iterable[str]) -> dict[str, tuple[str | None, str | None, int | None]]:
        """path -> (record JSON, problem, crc32 of the JSON) for the given paths (absent ones left out)."""
        wanted, out = list(paths), {}
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            query = f"SELECT path, record, problem, crc FROM files WHERE path IN ({','.join('?' * len(part))})"
            out.update({path: (record, problem, crc) for path, record, problem, crc in self.db.execute(query, part)})
        return out

    # -- chunks and terms -------------------------------------------------------------------

    def _term_ids(self, tokens: list[str]) -> np.ndarray:
        if not tokens:
            return np.zeros(0, dtype=np.int32)
        unique = list(dict.fromkeys(tokens))
        known = self.term_ids(unique)
        missing = [t for t in unique if t not in known]
        if missing:
            (next_id,) = self.db.execute("SELECT COALESCE(MAX(id), -1) + 1 FROM terms").fetchone()
            fresh = {term: next_id + offset for offset, term in enumerate(missing)}
            self.db.executemany("INSERT INTO terms VALUES (?, ?)", fresh.items())
            known.update(fresh)
        return np.fromiter((known[t] for t in tokens), dtype=np.int32, count=len(tokens))

    def term_ids(self, terms: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(terms), 500):
            part = terms[start : start + 500]
            marks = ",".join("?" * len(part))
            found.update(self.db.execute(f"SELECT term, id FROM terms WHERE term IN ({marks})", part).fetchall())
        return found

    _CHUNKS = (
        "SELECT c.path, c.ord, c.text_hash, c.tokens, COALESCE(v.row, -1) FROM chunks c "
        "LEFT JOIN vectors v ON v.text_hash = c.text_hash"
    )

    def chunks_for(self, paths: Iterable[str]) -> list[ChunkRow]:
        """The chunks of the given files, with their vector rows, sorted by path and order."""
        wanted, out = list(paths), []
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            rows = self.db.execute(
                f"{self._CHUNKS} WHERE c.path IN ({','.join('?' * len(part))}) ORDER BY c.path, c.ord", part
            )
            out += [ChunkRow(path, number, h, _tokens(blob), row) for path, number, h, blob, row in rows]
        return out

    def chunks(self) -> Iterator[ChunkRow]:
        """Every chunk with its vector row, sorted by path and order, one at a time (read inside
        `snapshot()`)."""
        for path, number, text_hash, blob, row in self.db.execute(f"{self._CHUNKS} ORDER BY c.path, c.ord"):
            yield ChunkRow(path, number, text_hash, _tokens(blob), row)

    def vector_rows_for(self, text_hashes: Iterable[str]) -> dict[str, tuple[int, int]]:
        wanted, out = list(dict.fromkeys(text_hashes)), {}
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            query = f"SELECT text_hash, row, crc FROM vectors WHERE text_hash IN ({','.join('?' * len(part))})"
            out.update({h: (row, crc) for h, row, crc in self.db.execute(query, part)})
        return out

    def term_count(self) -> int:
        """One more than the highest term id: every stored chunk's ids are below it."""
        (count,) = self.db.execute("SELECT COALESCE(MAX(id), -1) + 1 FROM terms").fetchone()
        return int(count)

    # -- vectors ------------------------------------------------------------------------------

    @property
    def _vectors_path(self) -> Path | None:
        return None if self.folder is None else self.folder / VECTORS_NAME

    def vector_crcs(self) -> Iterator[tuple[int, int]]:
        """(row in the vector file, crc32 of that row's bytes) of every stored vector."""
        return iter(self.db.execute("SELECT row, crc FROM vectors"))

    def unembedded(self, limit: int, paths: Iterable[str] | None = None) -> list[tuple[str, str]]:
        """(text_hash, text) of chunks that have no vector yet: any, or those of the given files
        (a writer's own: no scan of every chunk, 0.1 s at 100k memories)."""
        query = (
            "SELECT DISTINCT c.text_hash, c.text FROM chunks c LEFT JOIN vectors v ON v.text_hash = c.text_hash "
            "WHERE v.text_hash IS NULL"
        )
        if paths is None:
            return self.db.execute(f"{query} LIMIT ?", (limit,)).fetchall()
        wanted, out = list(paths), list[tuple[str, str]]()
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            rows = self.db.execute(f"{query} AND c.path IN ({','.join('?' * len(part))}) LIMIT ?", [*part, limit])
            out += [row for row in rows if row not in out][: limit - len(out)]
            if len(out) >= limit:
                break
        return out

    def count_unembedded(self) -> int:
        (count,) = self.db.execute(
            "SELECT COUNT(DISTINCT c.text_hash) FROM chunks c LEFT JOIN vectors v ON v.text_hash = c.text_hash "
            "WHERE v.text_hash IS NULL"
        ).fetchone()
        return int(count)

    def reset_vectors(self) -> None:
        """Forget every vector (the file was damaged or lost); chunks get re-embedded."""
        with self.transaction():
            self.db.execute("DELETE FROM vectors")
            self._bump(self.db)
        self._truncate_vectors()

    @_disk
    def _truncate_vectors(self) -> None:
        path = self._vectors_path
        if path is None:
            self._vectors_mem = np.zeros((0, 0), dtype=np.float32)
        elif path.exists():
            path.unlink()

    @_disk
    def add_vectors(self, text_hashes: list[str], vectors: np.ndarray) -> None:
        """Append rows to the vector file, then record where they are (caller holds the index lock)."""
        if not text_hashes:
            return
        data = np.ascontiguousarray(vectors, dtype=np.float32)
        path = self._vectors_path
        if path is None:
            start = len(self._vectors_mem)
            self._vectors_mem = data if start == 0 else np.vstack([self._vectors_mem, data])
        else:
            row_bytes = data.shape[1] * 4
            with open(path, "ab") as handle:
                size = handle.seek(0, os.SEEK_END)
                if size % row_bytes:
                    # A torn append from a killed process: cut it off before adding rows.
                    size -= size % row_bytes
                    handle.truncate(size)
                    handle.seek(size)
                start = size // row_bytes
                handle.write(data.tobytes())
                handle.flush()
                os.fsync(handle.fileno())
        self.db.executemany(
            "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
            [(h, start + i, zlib.crc32(data[i].tobytes())) for i, h in enumerate(text_hashes)],
        )

    @_disk
    def vector_count(self, dim: int) -> int:
        """How many whole rows the vector file holds."""
        path = self._vectors_path
        if path is None:
            return len(self._vectors_mem)
        return path.stat().st_size // (dim * 4) if path.exists() else 0

    def vector_blocks(self, dim: int, first_row: int = 0, block: int = 8192) -> Iterator[np.ndarray]:
        """The stored vector rows from `first_row` on, `block` rows at a time (float32): a
        load never holds the whole float32 file (154 MB at 100k memories) at once."""
        path = self._vectors_path
        if path is None:
            stored = self._vectors_mem[first_row:] if self._vectors_mem.size else np.zeros((0, dim), np.float32)
            for start in range(0, len(stored), block):
                yield stored[start : start + block]
            return
        try:
            with open(path, "rb") as handle:
                handle.seek(first_row * dim * 4)
                while True:
                    data = np.fromfile(handle, dtype=np.float32, count=block * dim)
                    rows = data.size // dim
                    if rows:
                        yield data[: rows * dim].reshape(rows, dim)
                    if rows < block:
                        return
        except FileNotFoundError:
            return
        except OSError as err:  # a generator: @_disk would not see what iterating raises
            raise unavailable(self.folder, err) from err
