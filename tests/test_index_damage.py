"""The index under .mem/ is derived state: damage to it is rebuilt from the files, missing vectors
are filled, and trouble with the disk is one line that names the cause, never a lost memory or a
deleted index (items 14, 15 and 17 of the fault catalogue)."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path

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
    return vault / ".mem" / store_module.DB_NAME, [mem.search(q) for q in QUERIES]


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
    "a flipped quote in a record": lambda db: _flip(db, b'"text": "has a cat', offset=8),
    "a flipped letter in a record": lambda db: _flip(db, b'"text": "has a cat called Miso', offset=27),
    "tokens blob of a wrong length": lambda db: _sql(db, "UPDATE chunks SET tokens = x'010203' WHERE rowid = 2"),
    "token id out of range": lambda db: _sql(db, "UPDATE chunks SET tokens = x'ffffff7f' WHERE rowid = 2"),
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
