"""The loaded columns kept on disk (.mem/columns.npz), so a new process reads them in one go
instead of decoding every stored record: at 10k memories a full load decodes 10k JSON records and
reads their dates, scopes and words (~350 ms); this file loads in ~20 ms.

It is a cache of what `Columns.append` makes of the store, never a source: it is used only when
it was made from the store's state as it is now (the store's instance token and generation, the
vector dimension, this FORMAT) and its checksum holds; otherwise the columns are loaded from the
store as before, and written here again. Vectors are not in it: they are read from the vector
file with its checks, as in a full load (sync.load_columns). The file is written to a temporary
name and renamed, so a reader sees a whole file or the previous one.

Change what a column holds (Columns, _Facts, signals) -> bump FORMAT.
"""

from __future__ import annotations

import contextlib
import json
import os
import zlib
from pathlib import Path
from typing import Any, cast

import numpy as np

from memcli.index.columns import Columns
from memcli.index.stored import StoredRecords
from memcli.models import SCOPE_KEYS, FileProblem

FORMAT = 1
RECORD_ARRAYS = ("times", "created", "current", "is_memory", "past", "asks", "expires", "blank", "linked")
CHUNK_ARRAYS = ("chunk_starts", "chunk_owner", "chunk_rows")  # chunk_starts: one per record too
ARRAYS = RECORD_ARRAYS + CHUNK_ARRAYS


def key(instance: str, generation: int, dim: int | None) -> dict[str, Any]:
    """What the store must still be for a snapshot to stand for it."""
    return {"format": FORMAT, "instance": instance, "generation": generation, "dim": dim}


def save(path: Path, columns: Columns, made_from: dict[str, Any]) -> bool:
    """Write the columns (made from the store state `made_from`, see key) to `path`; False when
    it cannot be written (a read-only folder): the next process loads from the store."""
    ids, lengths = columns.joined_terms()
    arrays: dict[str, np.ndarray] = {name: np.ascontiguousarray(getattr(columns, name)) for name in ARRAYS}
    arrays |= {f"scope_{k}": np.ascontiguousarray(columns.scope_arrays[k]) for k in SCOPE_KEYS}
    arrays |= {"term_ids": np.ascontiguousarray(ids, dtype=np.int32), "term_lengths": np.ascontiguousarray(lengths)}
    arrays["hashes"] = np.frombuffer(bytes(columns.hashes), np.uint8)
    positions = sorted(columns.by_path.items(), key=lambda item: item[1])
    header = {
        **made_from,
        "records": columns.records.encoded(),
        "paths": [path for path, _ in positions],
        "ids": [memory_id for memory_id, _ in sorted(columns.by_id.items(), key=lambda item: item[1])],
        "problems": [[p.path, p.reason, p.duplicate_of] for p in columns.problems],
        "scope_codes": columns.scope_codes,
        "segmented": columns.segmented,
        "has_links": columns.has_links,
    }
    arrays["header"] = np.frombuffer(json.dumps(header, ensure_ascii=False).encode("utf-8"), np.uint8)
    arrays["crc"] = np.array([_crc(arrays)], dtype=np.int64)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            np.savez(handle, **cast(dict[str, Any], arrays))  # (numpy's stubs read a keyword as allow_pickle)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
        return False
    return True


def load(path: Path, wanted: dict[str, Any]) -> Columns | None:
    """The columns of the snapshot at `path` when it was made from the store state `wanted`
    (key) and is whole; None otherwise (none, another state, a damaged or foreign file)."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        header = json.loads(arrays["header"].tobytes().decode("utf-8"))
        if not isinstance(header, dict) or any(header.get(k) != v for k, v in wanted.items()):
            return None
        if int(arrays.pop("crc")[0]) != _crc(arrays):
            return None
        return _columns(header, arrays)
    except Exception:  # noqa: BLE001 - no file, a torn or foreign one (OSError, ValueError, KeyError,
        return None  # zipfile.BadZipFile, EOFError...): a cache never breaks a load


def _columns(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> Columns:
    records, paths, ids = list(header["records"]), list(header["paths"]), list(header["ids"])
    count = len(records)
    if len(paths) != count or len(ids) != count or any(len(arrays[name]) != count for name in RECORD_ARRAYS):
        raise ValueError("columns of different lengths")
    columns = Columns(
        records=StoredRecords([str(r) for r in records]),
        problems=[FileProblem(str(p), str(r), d if d is None else str(d)) for p, r, d in header["problems"]],
        by_id={str(memory_id): position for position, memory_id in enumerate(ids)},
        by_path={str(path): position for position, path in enumerate(paths)},
        scope_codes={k: {str(v): int(c) for v, c in header["scope_codes"][k].items()} for k in SCOPE_KEYS},
        scope_arrays={k: arrays[f"scope_{k}"] for k in SCOPE_KEYS},
        hashes=bytearray(arrays["hashes"].tobytes()),
        segmented=bool(header["segmented"]),
        has_links=bool(header["has_links"]),
    )
    for name in ARRAYS:
        setattr(columns, name, arrays[name])
    columns.token_pieces = [(arrays["term_ids"], arrays["term_lengths"])]
    columns.stale = True  # BM25 statistics and neighbours: ready() makes them
    return columns


def _crc(arrays: dict[str, np.ndarray]) -> int:
    crc = 0
    for name in sorted(arrays):
        crc = zlib.crc32(name.encode(), crc)
        crc = zlib.crc32(np.ascontiguousarray(arrays[name]).tobytes(), crc)
    return crc
