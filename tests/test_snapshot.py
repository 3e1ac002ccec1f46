"""The loaded columns kept between processes (.mem/columns.npz, index/snapshot.py): a load from
it gives exactly the columns a load from the records gives, and it is used only for the store
state it was made from: another process's write, a rebuilt index or a damaged file each send
the load back to the records."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memcli import Memory
from memcli.index import snapshot, sync
from memcli.index.columns import Columns
from memcli.testing import HashEmbedder


def lived_in(vault: Path) -> Memory:
    """Memories in several scopes, a superseded one, a hand-written note with a link, an entity
    note with aliases, a file that cannot be read and a copy that repeats another's id."""
    m = Memory(vault=vault, embedder=HashEmbedder())
    old = m.add("prefers pnpm over npm", user_id="ray", infer=False)["results"][0]["id"]
    m.add("uses yarn at work now", user_id="ray", replaces=[old])
    m.add("lives in [[Ghent]]", user_id="ray", agent_id="helper", infer=False, tags=["home"])
    m.add("deploys on Fridays", agent_id="ops", run_id="r1", infer=False, metadata={"turn": "D1:3"})
    (vault / "notes").mkdir()
    (vault / "notes" / "Deploy.md").write_text("# Deploy\n\nWe ship [[Project Falcon]] with pnpm.\n", "utf-8")
    (vault / "entities").mkdir()
    (vault / "entities" / "Ghent.md").write_text("---\naliases: [Gent]\ntype: city\n---\n# Ghent\n", "utf-8")
    (vault / "notes" / "Broken.md").write_bytes(b"---\n: [unclosed\n---\n\xff\xfe")
    first = next((vault / "memories").glob("*.md"))
    (vault / "notes" / "copy.md").write_bytes(first.read_bytes())
    m.reindex()
    return m


def as_plain(columns: Columns) -> dict[str, Any]:
    """Every field a search reads, comparable with ==."""
    out: dict[str, Any] = {}
    for item in dataclasses.fields(columns):
        value = getattr(columns, item.name)
        if isinstance(value, np.ndarray):
            value = (value.dtype.str, value.tolist())
        elif item.name == "records":
            value = value.encoded()
        elif item.name == "scope_arrays":
            value = {k: v.tolist() for k, v in value.items()}
        elif item.name == "token_pieces":
            value = [np.concatenate(part).tolist() for part in zip(*value, strict=True)]
        elif item.name == "vectors":
            value = value.dense().tolist() if len(value) else []
        elif item.name == "bm25":
            value = [value.size, value._indptr.tolist(), value._docs.tolist(), value._weights.tolist()]
        out[item.name] = value
    return out


@pytest.fixture
def read_records(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many loads read the stored records (not the snapshot)."""
    calls: list[int] = []
    original = sync._entries

    def counted(*args: Any) -> Any:
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(sync, "_entries", counted)
    return calls


def load(vault: Path) -> Columns:
    m = Memory(vault=vault, embedder=HashEmbedder())
    index = m.core.index()
    return sync.load_columns(index.store, index._dim())[0]


def test_a_load_from_the_snapshot_is_the_load_from_the_records(vault: Path, read_records: list[int]) -> None:
    lived_in(vault)
    read_records.clear()
    from_records = load(vault)
    assert read_records == [1] and (vault / ".mem" / "columns.npz").is_file()
    from_snapshot = load(vault)
    assert read_records == [1]  # the second load read no record
    assert from_records.problems and from_records.has_links and len(from_records.records) >= 6
    assert as_plain(from_snapshot) == as_plain(from_records)


def test_another_processs_write_is_seen_and_kept(vault: Path, read_records: list[int]) -> None:
    lived_in(vault)
    load(vault)
    other = Memory(vault=vault, embedder=HashEmbedder())
    new = other.add("drinks oat cortados", user_id="ray", infer=False)["results"][0]["id"]
    found = Memory(vault=vault, embedder=HashEmbedder()).search("oat cortados", user_id="ray")["results"]
    assert found and found[0]["id"] == new
    calls = len(read_records)
    kept = load(vault)
    assert len(read_records) == calls  # the writer kept its patched columns: nobody reads them all again
    (vault / ".mem" / "columns.npz").unlink()
    full = load(vault)
    assert same_records(kept) == same_records(full)  # what the writer kept is what a full load reads


def same_records(columns: Columns) -> tuple[dict[str, Any], set[tuple[str, str]], dict[str, list[Any]]]:
    """Records by id, problems, and each record's column values: the same in any order."""
    positions = columns.by_id
    facts = {
        memory_id: [getattr(columns, name)[at].item() for name in snapshot.ARRAYS[:9]]
        for memory_id, at in positions.items()
    }
    return (
        {memory_id: columns.records.encoded()[at] for memory_id, at in positions.items()},
        {(p.path, p.reason) for p in columns.problems},
        facts,
    )


def test_a_rebuilt_index_never_takes_an_old_snapshot(vault: Path, read_records: list[int]) -> None:
    """A new index counts its generations from 0 again: an old snapshot that happens to carry
    the same count is still not its own (the store's instance token differs)."""
    m = lived_in(vault)
    old = load(vault)
    old_instance = m.core.index().store.instance()
    (vault / "entities" / "Ghent.md").unlink()
    m.reindex(rebuild=True)
    index = Memory(vault=vault, embedder=HashEmbedder()).core.index()
    assert index.store.instance() != old_instance
    path = index.store.columns_path()
    assert path is not None
    snapshot.save(path, old, snapshot.key(str(old_instance), index.store.generation(), index._dim()))
    read_records.clear()
    fresh = load(vault)
    assert read_records == [1] and len(fresh.records) == len(old.records) - 1


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],
        lambda data: data[:100] + bytes([data[100] ^ 0xFF]) + data[101:],
        lambda data: data[:-40] + bytes(b ^ 0x55 for b in data[-40:]),
        lambda data: b"not a zip file at all",
        lambda data: b"",
    ],
    ids=["torn", "a flipped byte in the zip header", "a flipped tail", "garbage", "empty"],
)
def test_a_damaged_snapshot_is_passed_over_and_written_again(vault: Path, damage: Any) -> None:
    lived_in(vault)
    expected = as_plain(load(vault))
    path = vault / ".mem" / "columns.npz"
    path.write_bytes(damage(path.read_bytes()))
    assert as_plain(load(vault)) == expected
    index = Memory(vault=vault, embedder=HashEmbedder()).core.index()
    with index.store.snapshot():
        state = snapshot.key(str(index.store.instance()), index.store.generation(), index._dim())
    assert snapshot.load(path, state) is not None  # whole again


def test_a_flipped_byte_inside_an_array_fails_the_checksum(vault: Path, tmp_path: Path) -> None:
    lived_in(vault)
    columns = load(vault)
    path = tmp_path / "columns.npz"
    state = snapshot.key("token", 7, 8)
    assert snapshot.save(path, columns, state) and snapshot.load(path, state) is not None
    with np.load(path) as stored:
        arrays = {name: stored[name].copy() for name in stored.files}
    arrays["times"][0] += 1.0  # a date changed, and the checksum not
    np.savez(path, **arrays)
    assert snapshot.load(path, state) is None
    assert snapshot.load(path, snapshot.key("token", 8, 8)) is None  # another generation


def test_a_snapshot_that_cannot_be_written_leaves_the_load_as_it_is(vault: Path, read_records: list[int]) -> None:
    lived_in(vault)
    (vault / ".mem" / "columns.npz").unlink(missing_ok=True)
    (vault / ".mem" / "columns.npz").mkdir()  # in the way: the rename fails
    read_records.clear()
    first, second = load(vault), load(vault)
    assert len(read_records) == 2 and as_plain(first) == as_plain(second)
    assert not [p for p in (vault / ".mem").iterdir() if p.name.endswith(".tmp")]  # nothing left behind
