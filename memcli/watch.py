"""`mem watch`: keep the index fresh while people, agents and git change the vault.

The watchdog handler only queues paths; a debouncer gathers a burst of events into one batch;
the batch is one incremental `Memory.reindex(paths=...)`. When events may have been lost (the
kernel queue overflowed, a directory moved, the observer died, indexing raised) the next batch
is a full rescan against the stored index, which is cheap when nothing changed. A periodic
rescan catches anything else, as Syncthing does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from memcli.errors import MemError
from memcli.interop.plans import plan_markdown
from memcli.memory import Memory
from memcli.serve import Server, socket_path
from memcli.vault.files import is_note_path, write_atomically

log = logging.getLogger("memcli")

RESCAN = "\x00rescan"  # a queue item meaning: look at every file
PLAN_FILE = "consolidation.md"  # where a scheduled consolidation writes its plan, under .mem/


def consolidation_due(plan: Path, every: float, now: float) -> bool:
    """Is a scheduled consolidation due? When its last plan is missing or older than `every`
    seconds: restarting `mem watch` each morning does not put it off for ever."""
    try:
        return now - plan.stat().st_mtime >= every
    except OSError:
        return True


class QueueingHandler(FileSystemEventHandler):
    """Turns watchdog events into vault-relative paths on a queue. Does no other work."""

    def __init__(self, root: Path, changes: queue.Queue[str]) -> None:
        self.root = str(root)
        self.changes = changes

    def _relative(self, path: str | bytes) -> str | None:
        text = os.fsdecode(path)
        if not text.startswith(self.root + os.sep):
            return None
        return text[len(self.root) + 1 :].replace(os.sep, "/")

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        if event.is_directory:
            # A folder moved, deleted or created with files already in it: the events for
            # what is inside may never come, so look at everything.
            if event.event_type in ("moved", "deleted", "created"):
                self.changes.put(RESCAN)
            return
        for path in (event.src_path, getattr(event, "dest_path", "")):
            relpath = self._relative(path) if path else None
            if relpath and is_note_path(relpath):
                self.changes.put(relpath)


class _LostEvents(logging.Handler):
    """watchdog only logs a kernel queue overflow; any warning from its inotify layer means a rescan."""

    def __init__(self, changes: queue.Queue[str]) -> None:
        super().__init__(level=logging.WARNING)
        self.changes = changes

    def emit(self, record: logging.LogRecord) -> None:
        self.changes.put(RESCAN)


def burst(changes: queue.Queue[str], quiet: float, longest: float, wait: float | None) -> Iterator[str]:
    """The changes of one burst, as they come: block up to `wait` seconds for the first, then
    go on until `quiet` seconds pass without one (or `longest` seconds in all)."""
    try:
        yield changes.get(timeout=wait)
    except queue.Empty:
        return
    deadline = time.monotonic() + longest
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            yield changes.get(timeout=min(quiet, remaining))
        except queue.Empty:
            return


def next_batch(changes: queue.Queue[str], quiet: float, longest: float, wait: float | None) -> set[str] | None:
    """One burst as a set; None when nothing came within `wait` seconds."""
    return set(burst(changes, quiet, longest, wait)) or None


@dataclass
class BatchReport:
    """What one batch did, for the one-line log."""

    paths: int
    full: bool
    changed: int
    removed: int
    seconds: float
    error: str | None = None
    names: list[str] = field(default_factory=list)


class Watcher:
    """Runs the observer and the indexing loop for one Memory's vault."""

    def __init__(
        self,
        memory: Memory,
        quiet: float = 0.15,
        longest: float = 1.0,
        rescan_every: float = 300.0,
        on_batch: Callable[[BatchReport], None] | None = None,
        on_start: Callable[[], None] | None = None,
        serve: bool = False,
        consolidate_every: float | None = None,
        on_consolidated: Callable[[dict[str, Any]], None] | None = None,
        show: Callable[[dict[str, Any], Any], str] | None = None,
    ) -> None:
        """`serve`: also answer CLI queries over `.mem/serve.sock` (memcli.serve) while watching,
        drawing results for the CLI with `show` (memcli.serve.Server).
        `consolidate_every` (seconds): plan a consolidation that often (see consolidate_now)."""
        self.memory = memory
        self.show = show
        self.consolidate_every = consolidate_every
        self.on_consolidated = on_consolidated or (lambda plan: None)
        self.serve = serve
        self.server: Server | None = None
        self.not_serving: str | None = None  # why serve=True could not serve
        # The batches and the served requests share one Memory: one at a time (re-entered by
        # catch_up, which a served request runs with the lock held).
        self.lock = threading.RLock()
        self._pending: set[str] = set()  # the burst being gathered
        self._pending_lock = threading.Lock()
        self._observer: BaseObserver | None = None
        self.quiet, self.longest, self.rescan_every = quiet, longest, rescan_every
        self.on_batch = on_batch or (lambda report: None)
        self.on_start = on_start or (lambda: None)
        self.changes: queue.Queue[str] = queue.Queue()
        self.stop_event = threading.Event()
        self.handler = QueueingHandler(memory.vault.root, self.changes)

    def process(self, batch: set[str]) -> BatchReport:
        """Index one batch: its paths, or everything when the batch asks for a rescan."""
        started = time.perf_counter()
        full = RESCAN in batch
        paths = sorted(p for p in batch if p != RESCAN)
        try:
            with self.lock:
                stats = self.memory.reindex() if full else self.memory.reindex(paths=paths)
        except MemError as err:  # a lock held too long, an unwritable .mem/: try again next batch
            self.changes.put(RESCAN)
            return BatchReport(len(paths), full, 0, 0, time.perf_counter() - started, error=str(err))
        return BatchReport(
            len(paths), full, stats.changed, stats.removed, time.perf_counter() - started, names=paths[:3]
        )

    def _start_observer(self) -> BaseObserver:
        observer = Observer()
        observer.schedule(self.handler, str(self.memory.vault.root), recursive=True)
        observer.daemon = True
        observer.start()
        return observer

    def run(self) -> None:
        """Watch until stop() (or Ctrl-C in the caller). Holds the vault's watch lock."""
        vault = self.memory.vault
        vault.ensure()
        with vault.watch_lock():
            lost = _LostEvents(self.changes)
            logging.getLogger("watchdog.observers").addHandler(lost)
            self._observer = self._start_observer()
            self.memory.warm_up()  # the first edit should not wait for the model to load
            if not self.serve:
                # A socket an earlier serving mem watch left: stale (this one holds the watch
                # lock), and while it is there every CLI call would try it.
                with contextlib.suppress(OSError):
                    socket_path(vault.state_dir).unlink()
            else:
                # Every change the observer reports is indexed before a served read (catch_up),
                # so those reads need not stat every file as a new process does.
                self.memory.rely_on_watcher(self._observing)
                self._start_server()
            self.on_start()
            try:
                self.changes.put(RESCAN)  # catch up with whatever changed while nobody watched
                next_rescan = time.monotonic() + self.rescan_every
                while not self.stop_event.is_set():
                    if not self._observing():  # the observer thread died: events were lost
                        self._observer = self._start_observer()
                        self.changes.put(RESCAN)
                    wait = max(0.0, min(next_rescan - time.monotonic(), 1.0))
                    came = False
                    for relpath in burst(self.changes, self.quiet, self.longest, wait):
                        came = True
                        with self._pending_lock:  # where catch_up() can take it before the burst ends
                            self._pending.add(relpath)
                    if not came:
                        if self.consolidate_every and consolidation_due(
                            self.plan_path, self.consolidate_every, time.time()
                        ):
                            self.on_consolidated(self.consolidate_now())
                        if time.monotonic() >= next_rescan:
                            self.changes.put(RESCAN)
                            next_rescan = time.monotonic() + self.rescan_every
                        continue
                    with self.lock:
                        batch = self._take()
                        if RESCAN in batch:
                            next_rescan = time.monotonic() + self.rescan_every
                        if batch:
                            self.on_batch(self.process(batch))
            finally:
                logging.getLogger("watchdog.observers").removeHandler(lost)
                if self.server is not None:
                    self.server.stop()
                    self.server = None
                self.memory.rely_on_watcher(None)
                if self._observer is not None:
                    self._observer.stop()
                    self._observer.join(timeout=5)

    @property
    def plan_path(self) -> Path:
        return self.memory.vault.state_dir / PLAN_FILE

    def consolidate_now(self) -> dict[str, Any]:
        """One scheduled consolidation: apply the kinds mem.toml's `[consolidate] apply` names
        (none unless a person asked), then write the dry-run plan of everything else to
        .mem/consolidation.md. Returns that plan (with "applied_now": what was applied)."""
        kinds = self.memory.settings.consolidate_apply
        try:
            with self.lock:
                applied = self.memory.consolidate(apply=True, kinds=kinds) if kinds else None
                plan = self.memory.consolidate()
        except MemError as err:  # a lock held too long: the next round tries again
            log.warning("mem watch: consolidation skipped (%s)", err)
            return {"error": str(err)}
        text = plan_markdown(plan)
        if applied is not None:
            text = plan_markdown(applied) + "\n" + text
        self.memory.vault.ensure_state()
        write_atomically(self.plan_path, text)
        return {**plan, "applied_now": applied}

    def _observing(self) -> bool:
        return self._observer is not None and self._observer.is_alive()

    def _take(self) -> set[str]:
        """Everything reported and not yet indexed: the burst being gathered and the queue."""
        with self._pending_lock:
            batch, self._pending = self._pending, set()
        while True:
            try:
                batch.add(self.changes.get_nowait())
            except queue.Empty:
                return batch

    def catch_up(self) -> None:
        """Index now, without waiting for the burst to end, every change reported so far: a
        served request sees what a new process would. The lock is re-entered: a request holds it."""
        with self.lock:
            batch = self._take()
            if batch:
                self.on_batch(self.process(batch))

    def _start_server(self) -> None:
        """Serve CLI queries; when this vault cannot be served, watch anyway and say why."""
        server = Server(self.memory, self.lock, before=self.catch_up, show=self.show)
        try:
            server.start()
        except (OSError, ValueError) as err:
            self.not_serving = getattr(err, "strerror", None) or str(err)
            log.warning("mem watch: not serving CLI queries (%s); they run in-process", self.not_serving)
            return
        self.server = server

    def stop(self) -> None:
        self.stop_event.set()
