"""`mem watch`: the handler driven by synthetic watchdog events for each save pattern, the
debouncer, lost events, one watcher per vault, and one end-to-end run with a real observer."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FakeEmbedder
from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
)

from memcli import Memory, VaultError
from memcli.config import load_settings
from memcli.vault.files import is_note_path
from memcli.watch import RESCAN, QueueingHandler, Watcher, next_batch


@pytest.mark.parametrize(
    "relpath, expected",
    [
        ("memories/a.md", True),
        ("notes/Deep Note.MD", True),
        ("a.md", True),
        (".mem/index.md", False),
        (".git/x.md", False),
        ("notes/.a.md.swp", False),
        ("notes/.#a.md", False),
        ("notes/a.md~", False),
        ("memories/.a.md.x1y2.tmp", False),
        ("notes/a.txt", False),
    ],
)
def test_is_note_path(relpath: str, expected: bool) -> None:
    assert is_note_path(relpath) is expected


@pytest.fixture
def setup(vault: Path):  # noqa: ANN201
    embedder = FakeEmbedder()
    mem = Memory(vault=vault, embedder=embedder)
    mem.init()
    watcher = Watcher(mem)
    return mem, watcher, embedder


def _drain(watcher: Watcher) -> set[str]:
    return next_batch(watcher.changes, quiet=0, longest=0, wait=0) or set()


def _feed(watcher: Watcher, *events) -> None:  # noqa: ANN002
    for event in events:
        watcher.handler.dispatch(event)
    watcher.process(_drain(watcher))


def _texts(mem: Memory, query: str) -> list[str]:
    """What matches the query (threshold 0: no nearest-by-meaning answer when nothing matches)."""
    return [r["memory"] for r in mem.search(query, threshold=0.0)["results"]]


def _reader(vault: Path) -> Memory:
    """A Memory that never looks at the files itself: it sees only what the watcher indexed."""
    reader = Memory(vault=vault, embedder=None, settings=dataclasses.replace(load_settings(vault), freshness_ms=10**9))
    reader.search("anything")  # its one and only look at the files
    return reader


@contextlib.contextmanager
def _running(watcher: Watcher) -> Iterator[threading.Thread]:
    """The watcher's loop in a thread for the length of the block; stopped and joined after."""
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        watcher.stop()
        thread.join(timeout=10)


def _note(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\nid: m-{abs(hash(path.name)) % 10**10:010d}\n---\n{text}\n")


def test_write_in_place(setup) -> None:  # noqa: ANN001
    mem, watcher, _ = setup
    path = mem.vault.root / "memories" / "a.md"
    _note(path, "likes green tea")
    _feed(watcher, FileCreatedEvent(str(path)), FileModifiedEvent(str(path)), FileClosedEvent(str(path)))
    assert _texts(mem, "tea") == ["likes green tea"]
    _note(path, "likes black coffee")
    _feed(watcher, FileModifiedEvent(str(path)))
    assert _texts(mem, "coffee") == ["likes black coffee"] and _texts(mem, "tea") == []


def test_write_temp_then_rename_over(setup) -> None:  # noqa: ANN001
    mem, watcher, _ = setup
    path = mem.vault.root / "memories" / "a.md"
    _note(path, "lives in Porto")
    _feed(watcher, FileCreatedEvent(str(path)))
    temp = path.with_name(".a.md.1234.tmp")
    _note(temp, "lives in Ghent")
    os.replace(temp, path)
    _feed(watcher, FileCreatedEvent(str(temp)), FileMovedEvent(str(temp), str(path)))
    assert _texts(mem, "lives") == ["lives in Ghent"]


def test_delete_then_create(setup) -> None:  # noqa: ANN001
    mem, watcher, _ = setup
    path = mem.vault.root / "notes" / "b.md"
    _note(path, "plays chess")
    _feed(watcher, FileCreatedEvent(str(path)))
    path.unlink()
    _note(path, "plays go")
    _feed(watcher, FileDeletedEvent(str(path)), FileCreatedEvent(str(path)))
    assert _texts(mem, "plays") == ["plays go"]


def test_mkdir_p_then_immediate_writes_are_found_by_a_rescan(setup) -> None:  # noqa: ANN001
    mem, watcher, _ = setup
    deep = mem.vault.root / "projects" / "falcon" / "notes"
    _note(deep / "one.md", "falcon uses postgres")
    _note(deep / "two.md", "falcon deploys on fridays")
    # inotify may report only the top folder: its files' events can be lost
    watcher.handler.dispatch(DirCreatedEvent(str(mem.vault.root / "projects")))
    batch = _drain(watcher)
    assert batch == {RESCAN}
    watcher.process(batch)
    assert sorted(_texts(mem, "falcon")) == ["falcon deploys on fridays", "falcon uses postgres"]


def test_move_and_rename_do_not_re_embed(setup) -> None:  # noqa: ANN001
    mem, watcher, embedder = setup
    memory_id = mem.add("sister lives in Oslo", infer=False)["results"][0]["id"]
    old = mem.vault.root / mem.get(memory_id)["path"]
    new = mem.vault.root / "people" / "maya.md"
    new.parent.mkdir()
    embedder.calls.clear()
    old.rename(new)
    _feed(watcher, FileMovedEvent(str(old), str(new)))
    assert [r["path"] for r in mem.search("Oslo")["results"]] == ["people/maya.md"]
    assert embedder.calls == []


def test_folder_moved_or_deleted_means_rescan(setup) -> None:  # noqa: ANN001
    mem, watcher, _ = setup
    _note(mem.vault.root / "old" / "x.md", "kept bees")
    watcher.process({RESCAN})
    (mem.vault.root / "old").rename(mem.vault.root / "new")
    watcher.handler.dispatch(DirMovedEvent(str(mem.vault.root / "old"), str(mem.vault.root / "new")))
    watcher.process(_drain(watcher))
    assert [r["path"] for r in mem.search("bees")["results"]] == ["new/x.md"]
    (mem.vault.root / "new" / "x.md").unlink()
    (mem.vault.root / "new").rmdir()
    watcher.handler.dispatch(DirDeletedEvent(str(mem.vault.root / "new")))
    assert _drain(watcher) == {RESCAN}


def test_delete_removes_from_search(setup) -> None:  # noqa: ANN001
    mem, watcher, _ = setup
    memory_id = mem.add("allergic to peanuts", infer=False)["results"][0]["id"]
    path = mem.vault.root / mem.get(memory_id)["path"]
    path.unlink()
    _feed(watcher, FileDeletedEvent(str(path)))
    assert _texts(mem, "peanuts") == []


def test_ignored_paths_and_events_queue_nothing(setup) -> None:  # noqa: ANN001
    mem, watcher, _ = setup
    root = mem.vault.root
    for event in (
        FileModifiedEvent(str(root / ".mem" / "index.sqlite")),
        FileCreatedEvent(str(root / ".git" / "HEAD")),
        FileCreatedEvent(str(root / "notes" / ".a.md.swp")),
        FileOpenedEvent(str(root / "a.md")),
        FileCreatedEvent("/somewhere/else.md"),
    ):
        watcher.handler.dispatch(event)
    assert _drain(watcher) == set()


def test_a_bad_file_is_reported_and_the_rest_still_indexed(setup) -> None:  # noqa: ANN001
    mem, watcher, _ = setup
    bad, good = mem.vault.root / "bad.md", mem.vault.root / "good.md"
    bad.write_text("---\ntitle: [unclosed\n---\nrust\n")
    _note(good, "rust is fun")
    _feed(watcher, FileCreatedEvent(str(bad)), FileCreatedEvent(str(good)))
    assert _texts(mem, "rust") == ["rust is fun"]
    assert [p["path"] for p in mem.doctor()["problems"]] == ["bad.md"]


def test_indexing_failure_is_reported_and_turns_into_a_rescan(setup, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    mem, watcher, _ = setup
    from memcli.errors import LockTimeoutError

    def busy(**kwargs: object) -> None:
        raise LockTimeoutError("another mem process is still updating the index; try again")

    monkeypatch.setattr(mem, "reindex", busy)
    report = watcher.process({"memories/a.md"})
    assert report.error == "another mem process is still updating the index; try again"
    assert _drain(watcher) == {RESCAN}


def test_lost_events_logged_by_watchdog_trigger_a_rescan(setup) -> None:  # noqa: ANN001
    from memcli.watch import _LostEvents

    _, watcher, _ = setup
    logger = logging.getLogger("watchdog.observers.inotify_c")
    handler = _LostEvents(watcher.changes)
    logging.getLogger("watchdog.observers").addHandler(handler)
    try:
        logger.warning("Inotify queue overflowed; filesystem events were lost")
    finally:
        logging.getLogger("watchdog.observers").removeHandler(handler)
    assert _drain(watcher) == {RESCAN}


def test_next_batch_gathers_a_burst_and_returns_none_when_idle() -> None:
    changes: queue.Queue[str] = queue.Queue()
    assert next_batch(changes, quiet=0.01, longest=1.0, wait=0) is None
    for name in ["a.md", "b.md", "a.md"]:
        changes.put(name)
    assert next_batch(changes, quiet=0.01, longest=1.0, wait=0) == {"a.md", "b.md"}


def test_only_one_watcher_per_vault(setup) -> None:  # noqa: ANN001
    mem, _, _ = setup
    with (
        mem.vault.watch_lock(),
        pytest.raises(VaultError, match="another `mem watch` is already running"),
        Memory(vault=mem.vault.root).vault.watch_lock(),
    ):
        pass
    with mem.vault.watch_lock():  # released again
        pass


@pytest.mark.slow
def test_end_to_end_with_a_real_observer(vault: Path) -> None:
    mem = Memory(vault=vault, embedder=None)
    mem.init()
    (vault / "notes").mkdir()
    found, started = threading.Event(), threading.Event()
    reports = []
    reader = _reader(vault)

    def on_batch(report) -> None:  # noqa: ANN001
        reports.append(report)
        started.set()
        if reader.search("kiwi")["results"]:
            found.set()

    with _running(Watcher(mem, quiet=0.05, on_batch=on_batch)) as thread:
        assert started.wait(timeout=10)  # the start-up rescan ran: the observer is up
        (vault / "notes" / "fruit.md").write_text("likes kiwi\n")
        assert found.wait(timeout=10), reports
    assert not thread.is_alive()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.slow
def test_a_handler_that_raises_kills_nothing_but_the_observer_which_is_restarted(
    vault: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mem = Memory(vault=vault, embedder=None)
    mem.init()
    (vault / "notes").mkdir()  # so no folder event can trigger a rescan that hides the failure
    found, started = threading.Event(), threading.Event()
    real = QueueingHandler.on_any_event
    raised = []

    def explode_once(self, event) -> None:  # noqa: ANN001
        if not raised and not event.is_directory and str(event.src_path).endswith("boom.md"):
            raised.append(event)
            raise RuntimeError("a bug in the handler")
        real(self, event)

    monkeypatch.setattr(QueueingHandler, "on_any_event", explode_once)

    reader = _reader(vault)

    def on_batch(report) -> None:  # noqa: ANN001
        started.set()
        if reader.search("boom")["results"]:
            found.set()

    with _running(Watcher(mem, quiet=0.05, on_batch=on_batch)):
        assert started.wait(timeout=10)
        _note(vault / "notes" / "boom.md", "boom goes the handler")
        assert found.wait(timeout=15)  # the dead observer was noticed, restarted, and a rescan ran
        assert raised
