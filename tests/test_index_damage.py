"""The index under .mem/ is derived state: damage to it is rebuilt from the files, missing vectors
are filled, and trouble with the disk is one line that names the cause, never a lost memory or a
deleted index (items 14, 15 and 17 of the fault catalogue)."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from memcli import EmbeddingUnavailable, Memory
from memcli.cli.commands import app
from memcli.index import store as store_module
from memcli.testing import HashEmbedder

TEXTS = ["likes green tea", "has a cat called Miso", "sister lives in Oslo", "allergic to peanuts"]
QUERIES = ["tea", "Miso", "Oslo", "peanuts"]


def _made(vault: Path) -> tuple[Path, list[dict]]:
    """A vault of TEXTS, indexed, whose files were written an hour ago (a refresh now re-reads
    none of them: what a later process finds is only what the index holds)."""
    mem = Memory(vault=vault, embedder=HashEmbedder())
    for text in TEXTS:
        mem.add(text, infer=False)
    an_hour_ago = time.time() - 3600
    for path in (vault / "memories").rglob("*.md"):
        os.utime(path, (an_hour_ago, an_hour_ago))
    mem.reindex()
    clean = [mem.search(q) for q in QUERIES]
    # What these tests damage is what a load reads from the records; a whole snapshot of the
    # columns (index/snapshot.py) would stand in for them: test_a_whole_snapshot_... below.
    (vault / ".mem" / store_module.COLUMNS_NAME).unlink(missing_ok=True)
    return vault / ".mem" / store_module.DB_NAME, clean


def _sql(db: Path, statement: str) -> None:
    with sqlite3.connect(db) as connection:
        connection.execute(statement)
    connection.close()


def _flip(db: Path, marker: bytes, offset: int = 0, bits: int = 0x01) -> None:
    """Flip bits of one byte of the database file (closed, its WAL folded in): a bad disk sector."""
    with sqlite3.connect(db) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    data = bytearray(db.read_bytes())
    at = data.index(marker) + offset
    data[at] ^= bits
    db.write_bytes(bytes(data))


def cli(vault: Path, *args: str):  # noqa: ANN201 - click's Result
    return CliRunner().invoke(app, ["--vault", str(vault), *args], catch_exceptions=False)


# -- 14: a damaged index.sqlite is rebuilt ------------------------------------------------------

DAMAGE = {
    "record JSON garbage": lambda db: _sql(db, "UPDATE files SET record = '{garbage' WHERE rowid = 2"),
    "record of other fields": lambda db: _sql(db, """UPDATE files SET record = '{"x": 1}' WHERE rowid = 2"""),
    "record not text": lambda db: _sql(db, "UPDATE files SET record = x'00ff' WHERE rowid = 2"),
    "a flipped quote in a record": lambda db: _flip(db, b'"text":"has a cat', offset=7),
    "a flipped letter in a record": lambda db: _flip(db, b'"text":"has a cat called Miso', offset=26),
    "tokens blob of a wrong length": lambda db: _sql(db, "UPDATE chunks SET tokens = x'010203' WHERE rowid = 2"),
    "token id out of range": lambda db: _sql(db, "UPDATE chunks SET tokens = x'ffffff7f' WHERE rowid = 2"),
    "a text hash that is not hex": lambda db: _sql(db, "UPDATE chunks SET text_hash = 'not hex' WHERE rowid = 2"),
    "generation not a number": lambda db: _sql(db, "UPDATE meta SET value = 'x' WHERE key = 'generation'"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_row_is_rebuilt_from_the_files(vault: Path, damage: str, caplog: pytest.LogCaptureFixture) -> None:
    db, clean = _made(vault)
    DAMAGE[damage](db)
    with caplog.at_level(logging.WARNING, logger="memcli"):
        fresh = Memory(vault=vault, embedder=HashEmbedder())
        assert [fresh.search(q) for q in QUERIES] == clean
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "rebuilding it from the files" in warnings[0]
    assert Memory(vault=vault, embedder=HashEmbedder()).doctor()["problems"] == []


@pytest.mark.parametrize("damage", ["record JSON garbage", "a flipped letter in a record"])
def test_a_whole_snapshot_of_the_columns_keeps_the_answers_a_damaged_row_would_change(
    vault: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The snapshot is a checksummed copy of the columns of this very store state: a row damaged
    after it was made changes no answer; the next load from the records (after any other
    process's write) finds the damage and rebuilds, as without a snapshot."""
    db, clean = _made(vault)
    Memory(vault=vault, embedder=HashEmbedder()).search("tea")  # a load from the records, kept
    assert (vault / ".mem" / store_module.COLUMNS_NAME).is_file()
    DAMAGE[damage](db)
    with caplog.at_level(logging.WARNING, logger="memcli"):
        assert [Memory(vault=vault, embedder=HashEmbedder()).search(q) for q in QUERIES] == clean
    assert not caplog.records  # answered from the snapshot: nothing read the damaged row


@pytest.mark.parametrize("damage", DAMAGE)
def test_every_command_works_on_a_damaged_index(vault: Path, damage: str) -> None:
    db, _ = _made(vault)
    DAMAGE[damage](db)
    for args in (["doctor"], ["list"], ["search", "Miso"], ["add", "--no-infer", "one more"]):
        result = cli(vault, *args)
        assert result.exit_code == 0, (args, result.output)
    assert "has a cat called Miso" in cli(vault, "search", "Miso").stdout


def test_a_page_of_garbage_in_the_middle_of_the_file_is_rebuilt(vault: Path) -> None:
    db, clean = _made(vault)
    with sqlite3.connect(db) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    data = bytearray(db.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4096] = b"\xa5" * 4096
    db.write_bytes(bytes(data))
    assert [Memory(vault=vault, embedder=HashEmbedder()).search(q) for q in QUERIES] == clean
    assert cli(vault, "doctor").exit_code == 0


def test_an_empty_folder_where_the_index_should_be_is_replaced(vault: Path) -> None:
    db, clean = _made(vault)
    for path in db.parent.glob(f"{store_module.DB_NAME}*"):
        path.unlink()
    db.mkdir()
    assert [Memory(vault=vault, embedder=HashEmbedder()).search(q) for q in QUERIES] == clean
    assert db.is_file()


def test_a_folder_of_someones_files_where_the_index_should_be_is_left_alone(
    vault: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db, clean = _made(vault)
    for path in db.parent.glob(f"{store_module.DB_NAME}*"):
        path.unlink()
    db.mkdir()
    (db / "keep.txt").write_text("not mem's")
    with caplog.at_level(logging.WARNING, logger="memcli"):
        mem = Memory(vault=vault, embedder=HashEmbedder())
        assert [mem.search(q) for q in QUERIES] == clean
        assert mem.add("one more", infer=False)["results"]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "is a folder" in warnings[0] and "in-memory index" in warnings[0]
    assert (db / "keep.txt").read_text() == "not mem's"
    for args in (["doctor"], ["list"], ["add", "--no-infer", "and another"]):
        assert cli(vault, *args).exit_code == 0, args


# -- 15: vectors a killed embedding never stored are filled --------------------------------------


class _Interrupted(HashEmbedder):
    """Ctrl-C (or a kill) in the middle of embedding: the rows are stored, their vectors are not."""

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        raise KeyboardInterrupt


class _Broken(HashEmbedder):
    """A model that loads but cannot embed any more (a broken install)."""

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        raise EmbeddingUnavailable("the model file is broken")


def _killed_embedding(vault: Path) -> list[dict]:
    """A vault whose rows were stored by a `mem index --rebuild` interrupted before any vector."""
    _, clean = _made(vault)
    with pytest.raises(KeyboardInterrupt):
        Memory(vault=vault, embedder=_Interrupted()).reindex(rebuild=True)
    db = vault / ".mem" / store_module.DB_NAME
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT COUNT(*) FROM vectors").fetchone() == (0,)
    connection.close()
    return clean


def test_a_killed_embedding_is_filled_by_the_next_search(vault: Path) -> None:
    clean = _killed_embedding(vault)
    embedder = HashEmbedder()
    fresh = Memory(vault=vault, embedder=embedder)
    assert [fresh.search(q) for q in QUERIES] == clean
    assert sorted(embedder.calls) == sorted(TEXTS)
    assert fresh.search("Miso", explain=True)["results"][0]["explain"]["cosine"] > 0
    assert fresh.doctor()["index"] == {"on_disk": True, "search_mode": "hybrid", "unembedded": 0, "problem": None}


def test_mem_index_after_a_killed_embedding_fills_the_vectors(vault: Path) -> None:
    _killed_embedding(vault)
    stats = Memory(vault=vault, embedder=HashEmbedder()).reindex()
    assert stats.embedded == len(TEXTS)


def test_vectors_deleted_behind_the_index_are_filled_on_load(vault: Path) -> None:
    db, clean = _made(vault)
    mem = Memory(vault=vault, embedder=HashEmbedder())
    assert mem.search("tea") == clean[0]  # loaded, every vector there
    _sql(db, "DELETE FROM vectors WHERE rowid IN (1, 3)")  # another process's embedding, cut short
    _sql(db, "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
    assert [mem.search(q) for q in QUERIES] == clean
    assert not mem.core.index()._columns.missing_vectors()


def test_without_a_working_model_the_mode_says_bm25_everywhere(vault: Path) -> None:
    _killed_embedding(vault)
    mem = Memory(vault=vault, embedder=_Broken())
    assert mem.search("Miso")["mode"] == "bm25"
    assert mem.search_mode() == "bm25"
    assert Memory(vault=vault, embedder=_Broken()).reindex().embedded == 0
    report = Memory(vault=vault, embedder=_Broken()).doctor()["index"]
    assert report["search_mode"] == "bm25" and report["unembedded"] == len(TEXTS)
    fresh = Memory(vault=vault, embedder=_Broken())
    fresh.reindex()
    assert fresh.search_mode() == "bm25"  # what `mem index` prints after its stats


# -- 17: the disk in the way: one line with the cause, no lost write, no deleted index -----------


def _full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's SQLITE_FULL on the next row written to the index under .mem/."""
    put_file = store_module.IndexStore.put_file

    def full(self: store_module.IndexStore, *args: Any) -> None:
        if self.folder is None:  # the in-memory index mem goes on with
            return put_file(self, *args)
        err = sqlite3.OperationalError("database or disk is full")
        err.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
        raise err

    monkeypatch.setattr(store_module.IndexStore, "put_file", full)


def _read_only_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's own SQLITE_READONLY (tests run as root, so a chmod would not bite)."""

    connect = store_module.IndexStore._connect

    def read_only(self: store_module.IndexStore) -> sqlite3.Connection:
        if self.folder is None:
            return connect(self)
        target = f"file:{self.folder / store_module.DB_NAME}?mode=ro"
        return sqlite3.connect(target, uri=True, isolation_level=None, check_same_thread=False)

    monkeypatch.setattr(store_module.IndexStore, "_connect", read_only)


def _memory_files(vault: Path) -> list[Path]:
    return sorted((vault / "memories").rglob("*.md"))


@pytest.mark.parametrize("infer", [False, True])
@pytest.mark.parametrize(("trouble", "cause"), [(_full_disk, "the disk is full"), (_read_only_index, "read-only")])
def test_a_saved_memory_is_success_whatever_happens_to_the_index(
    vault: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, trouble, cause: str, infer: bool
) -> None:
    db, _ = _made(vault)
    before = _memory_files(vault)
    with monkeypatch.context() as patch, caplog.at_level(logging.WARNING, logger="memcli"):
        trouble(patch)
        result = cli(vault, "add", *([] if infer else ["--no-infer"]), "works as a nurse in Rexburg")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Added m-") and "nurse" in result.stdout
    (warning,) = [r.getMessage() for r in caplog.records if "embeddings are off" not in r.getMessage()]
    assert cause in warning and "then run `mem index`" in warning and "\n" not in warning
    assert "the memory files are fine" in warning
    assert len(_memory_files(vault)) == len(before) + 1  # saved once: nothing to retry
    assert db.is_file()
    assert [r["memory"] for r in Memory(vault=vault).search("nurse")["results"]] == ["works as a nurse in Rexburg"]


@pytest.mark.parametrize(("trouble", "cause"), [(_full_disk, "the disk is full"), (_read_only_index, "read-only")])
def test_reads_go_on_and_mem_index_says_the_cause_in_one_line(
    vault: Path, monkeypatch: pytest.MonkeyPatch, trouble, cause: str
) -> None:
    _made(vault)
    (vault / "memories" / "by-hand.md").write_text("a note written by hand about Rex\n")
    trouble(monkeypatch)
    found = cli(vault, "search", "Rex", "--json")
    assert found.exit_code == 0 and "by-hand.md" in found.stdout
    assert cli(vault, "doctor").exit_code == 0
    report = Memory(vault=vault).doctor()["index"]
    assert report["on_disk"] is False and cause in report["problem"]
    assert Memory(vault=vault).doctor()["index_drift"] is None  # not "now up to date"
    indexed = cli(vault, "index")
    assert indexed.exit_code == 1
    (line,) = indexed.output.splitlines()
    assert line.startswith(f"error: cannot use the search index in {vault / '.mem'}: ") and cause in line
    assert "unexpected" not in line and line.endswith("then run `mem index`")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (sqlite3.SQLITE_IOERR, "disk I/O error"),
        (sqlite3.SQLITE_BUSY, "database is locked"),
        (sqlite3.SQLITE_FULL, "database or disk is full"),
    ],
)
@pytest.mark.parametrize("where", ["_check", "generation"])
def test_a_transient_error_never_deletes_the_index(
    vault: Path, monkeypatch: pytest.MonkeyPatch, code: int, message: str, where: str
) -> None:
    db, clean = _made(vault)
    with sqlite3.connect(db) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    inode, content = db.stat().st_ino, db.read_bytes()

    real = getattr(store_module.IndexStore, where)

    def transient(self: store_module.IndexStore, *args: object) -> object:
        if self.folder is None:  # the in-memory index mem goes on with
            return real(self, *args)
        err = sqlite3.OperationalError(message)
        err.sqlite_errorcode = code  # type: ignore[attr-defined]
        raise err

    monkeypatch.setattr(store_module.IndexStore, where, transient)
    assert [Memory(vault=vault, embedder=HashEmbedder()).search(q) for q in QUERIES] == clean
    result = cli(vault, "list")
    assert result.exit_code == 0 and "has a cat called Miso" in result.stdout
    assert (db.stat().st_ino, db.read_bytes()) == (inode, content)


def test_a_read_only_state_folder_refuses_a_write_in_one_line_and_writes_nothing(
    vault: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import filelock

    _made(vault)
    before = _memory_files(vault)

    def denied(self: object, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(filelock.FileLock, "acquire", denied)
    added = cli(vault, "add", "--no-infer", "has a dog called Rex")
    assert added.exit_code == 1
    assert added.output == (
        f"error: cannot take the vault's write lock in {vault / '.mem'}: Permission denied; "
        "make that folder writable (nothing was written)\n"
    )
    assert _memory_files(vault) == before
    (vault / "memories" / "by-hand.md").write_text("a note written by hand about Rex\n")  # the index lock too
    found = cli(vault, "search", "Rex", "--json")
    assert found.exit_code == 0 and "by-hand.md" in found.stdout
