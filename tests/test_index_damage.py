"""The index under .mem/ is derived state: damage to it is rebuilt from the files, missing vectors
are filled, and trouble with the disk is one line that names the cause, never a lost memory or a
deleted index (items 14, 15 and 17 of the fault catalogue)."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memcli import Memory
from memcli.cli.commands import app
from memcli.index import store as store_module
from memcli.testing import HashEmbedder

TEXTS = ["likes green tea", "has a cat called Miso", "sister lives in Oslo", "allergic to peanuts"]
QUERIES = ["tea", "Miso", "Oslo", "peanuts"]


def _made(vault: Path) -> tuple[Path, list[dict]]:
    mem = Memory(vault=vault, embedder=HashEmbedder())
    for text in TEXTS:
        mem.add(text, infer=False)
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
