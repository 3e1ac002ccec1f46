"""The lean loaded index (issue 16, item 3): records kept as compact JSON and decoded when read,
vectors kept as int8 codes with a scale per row, and a check of the files whose interval grows
with its cost."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from memcli import Memory
from memcli.index import stored
from memcli.index.stored import StoredRecords, decode, encode
from memcli.index.vectors import Vectors, quantise
from memcli.models import MemoryRecord

RECORDS = [
    MemoryRecord(id="m-1", text="Prefers pnpm", path="memories/m-1.md"),
    MemoryRecord(
        id="m-2",
        text='Lives in Ghent — ünïcode, "quotes" and a\nnewline',
        path="memories/m-2.md",
        created="2026-01-01T10:00:00Z",
        updated="2026-02-01T10:00:00Z",
        user="ray",
        agent="helper",
        run="r1",
        app="shop",
        tags=["home", "city"],
        metadata={"turn": "D1:3", "score": 0.5, "nested": {"a": [1, 2]}},
        source="chat",
        status="superseded",
        history=[{"event": "ADD", "at": "2026-01-01T10:00:00Z"}],
        title="Ghent",
        sha256="ab" * 32,
        links=[{"target": "Ghent", "relation": None}],
        aliases=["Gent"],
        entity_type="city",
        supersedes=["m-0"],
        superseded_by="m-3",
        invalid_at="2026-03-01T00:00:00Z",
        may_conflict=["m-9"],
        not_conflicting=["m-8"],
        expires="2026-12-31",
    ),
    MemoryRecord(id="n-notes-x", text="", path="notes/x.md", kind="note", title="x"),
]


@pytest.mark.parametrize("record", RECORDS, ids=[r.id for r in RECORDS])
def test_a_record_survives_its_compact_form(record: MemoryRecord) -> None:
    assert decode(encode(record)) == record


def test_the_compact_form_leaves_defaults_out() -> None:
    assert encode(RECORDS[0]) == '{"id":"m-1","text":"Prefers pnpm","path":"memories/m-1.md"}'
    full = encode(RECORDS[1])
    said = {item.name for item in dataclasses.fields(MemoryRecord) if f'"{item.name}"' in full}
    assert said == {item.name for item in dataclasses.fields(MemoryRecord)} - {"kind"}  # "memory" is the default


def test_stored_records_read_like_a_list() -> None:
    records = StoredRecords([encode(r) for r in RECORDS])
    assert len(records) == 3
    assert records[1] == RECORDS[1] and records[-1] == RECORDS[2]
    assert records[0:2] == RECORDS[:2]
    assert list(records) == RECORDS
    with pytest.raises(IndexError):
        records[3]


def test_a_changed_sequence_is_a_new_object_and_the_old_one_is_unchanged() -> None:
    records = StoredRecords([encode(r) for r in RECORDS[:2]])
    longer = records.extended([encode(RECORDS[2])])
    edited = records.replaced(0, encode(dataclasses.replace(RECORDS[0], status="deleted")))
    assert longer is not records and len(longer) == 3 and len(records) == 2
    assert edited[0].status == "deleted" and records[0].status == "current"


def test_decoded_records_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stored, "CACHED", 5)
    records = StoredRecords([encode(dataclasses.replace(RECORDS[0], id=f"m-{i}")) for i in range(20)])
    first = records[0]
    assert records[0] is first  # kept while recent
    for i in range(20):
        records[i]
    assert len(records._decoded) == 5
    assert records[0] == first  # decoded again after it was dropped, the same record


def _unit(rows: int, dim: int, seed: int) -> np.ndarray:
    data = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return data / np.linalg.norm(data, axis=1, keepdims=True)


def test_int8_vectors_keep_cosines_within_a_hundredth() -> None:
    matrix, query = _unit(3000, 384, 1), _unit(1, 384, 2)[0]
    vectors = Vectors()
    for start in range(0, 3000, 700):  # appended in pieces, past the first capacity
        vectors.append(matrix[start : start + 700])
    exact = matrix @ query
    assert len(vectors) == 3000
    assert np.abs(vectors.dot(query) - exact).max() < 0.01
    assert np.allclose(vectors.dot(query, np.array([5, 2999, 5])), vectors.dot(query)[[5, 2999, 5]], atol=1e-6)
    half = np.arange(0, 3000, 2)  # a pool of more than a quarter: one pass over every row, then taken
    assert np.allclose(vectors.dot(query, half), vectors.dot(query)[half], atol=1e-6)
    several = _unit(3, 384, 4)  # several queries in one pass: one column each
    assert np.allclose(vectors.dot(several, half), np.stack([vectors.dot(q, half) for q in several], 1), atol=1e-6)
    assert np.abs(vectors.row(7) - matrix[7]).max() <= np.abs(matrix[7]).max() / 127
    # the order of the best hits is what search needs: the top 10 by int8 are the top 10 by float32
    assert set(np.argsort(-vectors.dot(query))[:10]) == set(np.argsort(-exact)[:10])


def test_int8_vectors_take_a_quarter_of_float32() -> None:
    vectors = Vectors()
    vectors.reserve(1000, 384)
    vectors.append(_unit(1000, 384, 3))
    assert vectors.nbytes == 1000 * 384 + 1000 * 4  # codes and one scale per row: no spare capacity


def test_quantise_handles_a_zero_row_and_nothing() -> None:
    codes, scales = quantise(np.zeros((2, 4), dtype=np.float32))
    assert not codes.any() and (scales == 1.0).all()
    assert Vectors().dot(np.ones(4, dtype=np.float32)).shape == (0,)
    with pytest.raises(ValueError, match="dimensions"):
        vectors = Vectors()
        vectors.append(np.ones((1, 4)))
        vectors.append(np.ones((1, 5)))


def _counting(mem: Memory, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    listing = mem.core.vault.listing

    def counted() -> list[tuple[str, int, int]]:
        calls.append(1)
        return listing()

    monkeypatch.setattr(mem.core.vault, "listing", counted)
    return calls


def test_a_costly_check_of_the_files_waits_twenty_times_its_cost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = tmp_path / "v"
    mem = Memory(vault=vault, embedder=None)
    mem = Memory(vault=vault, embedder=None, settings=dataclasses.replace(mem.settings, freshness_ms=1000))
    mem.add("Prefers pnpm", user_id="ray", infer=False)
    mem.search("pnpm", user_id="ray")
    calls = _counting(mem, monkeypatch)
    assert mem.core.check_interval() == 1.0  # a small vault: the configured second
    mem.core._check_cost = 0.5  # as if one check of the files had taken half a second
    assert mem.core.check_interval() == 10.0
    mem.core._checked_at -= 2.0  # two seconds ago: due by freshness_ms, not by its cost
    mem.search("pnpm", user_id="ray")
    assert calls == []
    mem.core._checked_at -= 10.0
    mem.search("pnpm", user_id="ray")
    assert calls


def test_freshness_zero_still_checks_at_every_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mem = Memory(vault=tmp_path / "v", embedder=None)
    mem.add("Prefers pnpm", user_id="ray", infer=False)
    strict = Memory(vault=tmp_path / "v", embedder=None, settings=dataclasses.replace(mem.settings, freshness_ms=0))
    calls = _counting(strict, monkeypatch)
    strict.core._check_cost = 5.0
    strict.search("pnpm", user_id="ray")
    once = len(calls)
    strict.search("pnpm", user_id="ray")
    assert strict.core.check_interval() == 0.0 and once and len(calls) == 2 * once


def test_a_search_of_a_loaded_vault_decodes_only_what_it_returns(tmp_path: Path) -> None:
    mem = Memory(vault=tmp_path / "v", embedder=None)
    for i in range(30):
        mem.add(f"Fact number {i} about topic {i % 3}", user_id="ray", infer=False)
    index = mem.core.fresh()
    fresh = StoredRecords(list(index._columns.records._encoded))
    index._columns.records = fresh
    hits = mem.search("topic 1", user_id="ray", limit=3)["results"]
    assert len(hits) == 3
    assert len(fresh._decoded) <= 3 + 1  # the hits (and at most one more for the former signal)


def test_a_write_embeds_its_own_chunks_without_scanning_the_rest(tmp_path: Path) -> None:
    """A write embeds what it wrote; another file's missing vector (a killed embedding elsewhere)
    is left to the next load, which embeds it before that search ranks anything."""
    import sqlite3

    from memcli.testing import HashEmbedder

    embedder = HashEmbedder()
    mem = Memory(vault=tmp_path / "v", embedder=embedder)
    mem.add("Has a cat called Miso", user_id="ray", infer=False)
    db = tmp_path / "v" / ".mem" / "index.sqlite"
    with sqlite3.connect(db) as connection:
        connection.execute("DELETE FROM vectors")  # as if another process's embedding was cut short
    connection.close()
    embedder.calls.clear()
    mem.add("Drinks green tea", user_id="ray", infer=False)
    assert embedder.calls == ["Drinks green tea"]  # its own chunk only
    assert mem.core.index().unembedded() == 1
    other = Memory(vault=tmp_path / "v", embedder=embedder)
    assert other.search("cat", user_id="ray")["results"][0]["memory"] == "Has a cat called Miso"
    assert other.core.index().unembedded() == 0
