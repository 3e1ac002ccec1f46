"""Records as the loaded index holds them: each as its stored compact JSON string, decoded into a
MemoryRecord when read (the last few thousand decoded are kept).

Why: at 100k memories, a MemoryRecord per memory with its lists, dicts and strings is about 1.5 kB
(150 MB); the compact JSON of the same record, fields at their default left out, is about 300
bytes. A search reads the columns (scope, status, times: see columns.py) and decodes only the
records it returns; a full listing decodes each record once as it goes.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any, overload

from memcli.errors import IndexDamaged
from memcli.models import MemoryRecord

CACHED = 2048  # decoded records kept (~1.5 kB each); a search returns tens, a page of `mem list` hundreds


def _defaults() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in dataclasses.fields(MemoryRecord):
        if item.default is not dataclasses.MISSING:
            out[item.name] = item.default
        elif item.default_factory is not dataclasses.MISSING:
            out[item.name] = item.default_factory()
    return out


_DEFAULTS = _defaults()


def encode(record: MemoryRecord) -> str:
    """The compact JSON of a record: every field that differs from its default, nothing else."""
    fields = {
        name: value
        for name, value in dataclasses.asdict(record).items()
        if name not in _DEFAULTS or value != _DEFAULTS[name]
    }
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def fields_of(record_json: str) -> dict[str, Any]:
    """The stored fields of a record (defaults left out), or IndexDamaged."""
    try:
        fields = json.loads(record_json)
    except ValueError:  # JSONDecodeError is a ValueError
        raise IndexDamaged("a stored record cannot be read (JSONDecodeError)") from None
    if not isinstance(fields, dict):
        raise IndexDamaged("a stored record is not an object")
    return fields


def record_of(fields: dict[str, Any]) -> MemoryRecord:
    """The record of stored fields, or IndexDamaged (a field mem does not know)."""
    try:
        return MemoryRecord(**fields)
    except TypeError:
        raise IndexDamaged("a stored record cannot be read (TypeError)") from None


def decode(record_json: str) -> MemoryRecord:
    return record_of(fields_of(record_json))


class StoredRecords(Sequence[MemoryRecord]):
    """An immutable sequence of records kept as compact JSON. `extended` and `replaced` return a
    new object (so caches keyed on the old one, the entity graph, rebuild), sharing the strings."""

    def __init__(self, encoded: list[str] | None = None) -> None:
        self._encoded = encoded if encoded is not None else []
        # OrderedDict: popping the oldest is O(1); next(iter(dict)) after many deletions at the
        # front of a plain dict scans past their empty slots
        self._decoded: OrderedDict[int, MemoryRecord] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._encoded)

    @overload
    def __getitem__(self, position: int) -> MemoryRecord: ...

    @overload
    def __getitem__(self, position: slice) -> list[MemoryRecord]: ...

    def __getitem__(self, position: int | slice) -> MemoryRecord | list[MemoryRecord]:
        if isinstance(position, slice):
            return [self[i] for i in range(*position.indices(len(self)))]
        if position < 0:
            position += len(self._encoded)
        with self._lock:
            record = self._decoded.get(position)
        if record is not None:
            return record
        record = decode(self._encoded[position])  # IndexError for a position out of range
        with self._lock:
            if len(self._decoded) >= CACHED:
                self._decoded.popitem(last=False)  # the oldest decoded goes first
            self._decoded[position] = record
        return record

    def __iter__(self) -> Iterator[MemoryRecord]:
        """Each record in order, decoded as it goes (a full pass does not fill the cache)."""
        for position, encoded in enumerate(self._encoded):
            with self._lock:
                record = self._decoded.get(position)
            yield record if record is not None else decode(encoded)

    def encoded(self) -> list[str]:
        """Every record's compact JSON, in order (a copy of the list; the strings are shared)."""
        return list(self._encoded)

    def extended(self, encoded: list[str]) -> StoredRecords:
        return StoredRecords([*self._encoded, *encoded])

    def replaced(self, position: int, record_json: str) -> StoredRecords:
        encoded = list(self._encoded)
        encoded[position] = record_json
        return StoredRecords(encoded)
