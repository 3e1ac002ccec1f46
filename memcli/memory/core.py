"""What every part of Memory shares: settings, the vault, the clock, the index's lifecycle and
freshness, the entity graph cache, lookups by id, ids for new memories and the git commit per
write. The parts (reading, writing, entities, transfer, maintenance) take a Core and call only
its methods."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from memcli.clock import Clock, iso, moment, utc_now
from memcli.config import Settings, load_settings
from memcli.errors import ConflictError, IndexUnavailable, InvalidInputError, NotFoundError, ParseError, VaultError
from memcli.graph.model import Graph
from memcli.graph.model import build as build_graph
from memcli.models import FileProblem, MemoryRecord, check_id
from memcli.vault import git
from memcli.vault.files import Vault, new_id
from memcli.vault.markdown import parse
from memcli.vault.records import record_from

if TYPE_CHECKING:  # the index brings numpy and the model: loaded on first use, not on import
    from memcli.index.core import Progress, RefreshStats, SearchIndex
    from memcli.index.embed import Embedder

log = logging.getLogger(__name__)
T = TypeVar("T")


CHECK_SHARE = 20  # a full check of the files waits at least this many times its own cost


class Core:
    """The vault, its settings and its index, shared by the parts of Memory."""

    def __init__(
        self,
        vault: str | os.PathLike[str] | None = None,
        *,
        settings: Settings | None = None,
        clock: Clock | None = None,
        embedder: Embedder | None | str = "auto",
    ) -> None:
        self.settings = settings or load_settings(vault)
        self.vault = Vault(self.settings)
        self.clock = clock or utc_now
        self._embedder_choice = embedder
        self._index: SearchIndex | None = None
        self._index_trouble: str | None = None  # why the index under .mem/ could not be used
        self._checked_at = float("-inf")  # time.monotonic() of the last full check of the files
        self._check_cost = 0.0  # seconds the last full check took (see fresh)
        self._graph_cache: tuple[Sequence[MemoryRecord], Graph] | None = None
        self.swept: list[str] = []  # leftover temp files of killed writers, removed by this Memory
        self._watched: Callable[[], bool] | None = None  # see rely_on_watcher

    # -- time ------------------------------------------------------------------------------------

    def now(self) -> str:
        return iso(self.clock())

    def moment(self, timestamp: datetime | str | float | None, end_of_day: bool = False) -> str:
        return moment(timestamp, self.clock, end_of_day)

    # -- the index -------------------------------------------------------------------------------

    def _make_embedder(self) -> Embedder | None:
        if not isinstance(self._embedder_choice, str):
            return self._embedder_choice
        if self.settings.embed_model == "none":
            return None
        from memcli.index.embed import BundledEmbedder  # onnxruntime on first use

        return BundledEmbedder(threads=self.settings.embed_threads)

    def index(self) -> SearchIndex:
        """The index, opened on first use: under .mem/ when the folder is a vault (it has mem.toml)
        and is writable, else in memory (reading never creates a vault, nor .mem/ in a folder)."""
        if self._index is None:
            folder = None
            if self.vault.is_vault() and self._index_trouble is None:  # no .mem/ for `mem --vault / list`
                try:
                    self.vault.ensure_state()
                    folder = self.vault.state_dir
                except OSError:
                    folder = None
            try:
                self._index = self._open_index(folder)
            except IndexUnavailable as err:
                self._index = self._in_memory(err)
        return self._index

    @property
    def index_trouble(self) -> str | None:
        """Why the index under .mem/ could not be used by this process (it runs in memory), or None."""
        return self._index_trouble

    def _open_index(self, folder: Path | None) -> SearchIndex:
        from memcli.index.core import SearchIndex, no_lock  # numpy on first use
        from memcli.index.store import IndexStore

        before = self._index
        embedder = before.embedder if before is not None else self._make_embedder()
        model_key = f"{embedder.name}:{embedder.sha256}:{embedder.dim}" if embedder else None
        lock = self.vault.index_lock if folder else no_lock
        index = SearchIndex(
            IndexStore(folder, model_key), embedder, lock, files=(self.vault.listing, self.load_for_index)
        )
        index.embed_error = before.embed_error if before is not None else None
        return index

    def _in_memory(self, err: IndexUnavailable) -> SearchIndex:
        """The index under .mem/ cannot be used now: say why once, and go on with an index in
        memory for the rest of this process (the files are the truth; the next run catches up)."""
        if self._index_trouble is None:
            log.warning("mem: %s; using an in-memory index for now (the memory files are fine)", err)
        self._index_trouble = str(err)
        self._checked_at = float("-inf")  # the new index has read nothing yet
        return self._open_index(None)

    def settle(self) -> None:
        """After a write: a vault that exists now keeps its index on disk from here on."""
        if (
            self._index is not None
            and not self._index.on_disk
            and self._index_trouble is None
            and self.vault.is_vault()
        ):
            self._index = None

    def load_for_index(self, relpath: str) -> tuple[str, MemoryRecord | str]:
        """Read and parse one file for the index: (sha256, record) or (sha256, why it was skipped)."""
        try:
            text, sha = self.vault.read(self.vault.path(relpath))
        except ParseError as err:
            return "", str(err)
        try:
            return sha, record_from(parse(text), relpath, sha)
        except ParseError as err:
            return sha, str(err)

    def read_record(self, relpath: str) -> MemoryRecord:
        """A memory as its file says now (not as the index has it): for rewrites under the lock."""
        sha, loaded = self.load_for_index(relpath)
        if isinstance(loaded, str):
            raise ParseError(f"{relpath}: {loaded}")
        return loaded

    def reindex(
        self, *, rebuild: bool = False, progress: Progress | None = None, paths: Iterable[str] | None = None
    ) -> RefreshStats:
        """Bring the index under .mem/ up to date (or start it over with rebuild=True). With
        `paths` (vault-relative), only those files are looked at (what `mem watch` does per burst).
        A disk that will not let the index be written (full, read-only) is IndexUnavailable: one
        line that names the cause and the way out; the index is kept as it is."""
        index = self.index()
        if paths is None:
            return self._refresh_all(index, rebuild, progress)
        return self._refresh_paths(index, set(paths), progress)

    def index_written(self, paths: Iterable[str]) -> RefreshStats:
        """Index the files a write of this process just saved. The write has happened: trouble
        with the disk under .mem/ is a warning and an in-memory index from here on, never an
        error (a caller that retried would write the memory twice); the index under .mem/
        catches up with the files on a later run."""
        wanted = set(paths)
        return self._despite_the_disk(lambda index: self._refresh_paths(index, wanted))

    def _refresh_paths(self, index: SearchIndex, wanted: set[str], progress: Progress | None = None) -> RefreshStats:
        return index.refresh(lambda: self.vault.stat_paths(wanted), self.load_for_index, progress, partial=wanted)

    def catch_up(self) -> RefreshStats:
        """A full check of the files and a load, as a read needs, or a write's own bookkeeping:
        trouble with the disk under .mem/ is a warning and an in-memory index, never a failure."""

        def check(index: SearchIndex) -> RefreshStats:
            stats = self._refresh_all(index)
            index.load_current()
            return stats

        return self._despite_the_disk(check)

    def _refresh_all(self, index: SearchIndex, rebuild: bool = False, progress: Progress | None = None) -> RefreshStats:
        checked = time.monotonic()
        stats = index.refresh(self.vault.listing, self.load_for_index, progress, rebuild)
        self._checked_at = checked
        if not stats.changed and not stats.removed and not stats.embedded:  # the cost of looking, not of reading
            self._check_cost = time.monotonic() - checked
        if self.vault.stray_temps:
            self.swept += self.vault.sweep_temps(self.vault.stray_temps)
        return stats

    def _despite_the_disk(self, work: Callable[[SearchIndex], T]) -> T:
        """`work` on the index; when the disk will not let it use .mem/, once more in memory."""
        index = self.index()
        try:
            return work(index)
        except IndexUnavailable as err:
            if not index.on_disk:
                raise
            self._index = self._in_memory(err)
            return work(self._index)

    def fresh(self) -> SearchIndex:
        """The index, checked against the files unless that was done within `freshness_ms`."""

        def current(index: SearchIndex) -> SearchIndex:
            watched = self._watched is not None and self._watched() and self._checked_at > float("-inf")
            if not watched and time.monotonic() - self._checked_at >= self.check_interval():
                self._refresh_all(index)
            index.load_current()
            return index

        return self._despite_the_disk(current)

    def check_interval(self) -> float:
        """Seconds between two full checks of the files: `freshness_ms`, or, where one check costs
        more than a twentieth of that, twenty times what the last one took, so checking never takes
        more than 5% of a busy process's time (one stat per file: about 1 s at 100k files, so a
        check every 20 s there). Writes through mem, in any process, are seen at once whatever
        this says (the index generation); this is for edits made outside mem with no watcher."""
        if self.settings.freshness_ms == 0:  # asked for: every read checks
            return 0.0
        return max(self.settings.freshness_ms / 1000, CHECK_SHARE * self._check_cost)

    def rely_on_watcher(self, alive: Callable[[], bool] | None) -> None:
        """While `alive()` is true, reads skip the periodic check of every file (`freshness_ms`):
        a watcher that indexes each change it is told of, before it serves a read, stands in for
        it (one stat per file: 0.1 s and more at 10k files). None: check again as configured."""
        self._watched = alive

    def scan(self) -> tuple[list[MemoryRecord], list[FileProblem]]:
        """Every readable file as a record, and the files that could not be read and why."""
        index = self.fresh()
        return list(index.records()), list(index.problems())

    def graph(self, index: SearchIndex) -> Graph:
        """The entity graph of the loaded index (rebuilt when the index changes)."""
        records = index.records()
        if self._graph_cache is None or self._graph_cache[0] is not records:
            self._graph_cache = (records, build_graph(records, index.linked()))
        return self._graph_cache[1]

    # -- memories by id --------------------------------------------------------------------------

    def find(self, memory_id: str) -> MemoryRecord:
        check_id(memory_id)
        index = self.fresh()
        record = index.record(memory_id)
        if record is None:
            for problem in index.problems():  # its file is there but skipped (a git conflict, say): why
                if problem.path.endswith(f"-{memory_id}.md"):
                    raise NotFoundError(f"{memory_id}: {problem.path} is skipped: {problem.reason}")
            raise NotFoundError(f"no memory with id {memory_id}; see `mem list` or `mem search` for ids")
        return record

    def find_editable(self, memory_id: str) -> MemoryRecord:
        """A memory mem may rewrite, as its file says now (call it under the writer lock)."""
        record = self.find(memory_id)
        if record.kind != "memory":
            raise InvalidInputError(f"{memory_id} is a hand-written note ({record.path}); edit that file directly")
        return self.current(record)

    def current(self, record: MemoryRecord) -> MemoryRecord:
        """The memory as its file says now, for a rewrite under the writer lock. The index may be
        a second old in a long-running process: a person's edit, another process's write. A file
        that no longer parses, or names another id (an editor's save half done), is being changed
        by someone else: ConflictError, and nothing is written."""
        sha, loaded = self.load_for_index(record.path)
        if sha == record.sha256 and not isinstance(loaded, str):
            return record
        if isinstance(loaded, str):
            raise ConflictError(f"{record.path} is being changed on disk ({loaded}); nothing written, try again")
        if loaded.id != record.id:
            raise ConflictError(
                f"{record.path} no longer holds {record.id} (it is being changed on disk); nothing written, try again"
            )
        return loaded

    def loaded(self, memory_id: str) -> MemoryRecord | None:
        """A memory as the loaded index has it (no freshness check: the caller just made one)."""
        return self.index().record(memory_id)

    def unused_id(self) -> str:
        """A fresh id no indexed memory uses (40 random bits: a clash is rare, not impossible; a
        clash with an unindexed file of the same name is caught by the exclusive create)."""
        index = self.index()
        for _ in range(100):
            memory_id = new_id()
            if index.record(memory_id) is None:
                return memory_id
        raise VaultError("could not find an unused memory id; is the vault's index broken? try `mem index --rebuild`")

    # -- versioning ------------------------------------------------------------------------------

    def autocommit(self, paths: list[str], message: str) -> None:
        """One commit for one write, under the writer lock; a missing git is a warning, not a failure."""
        if not self.settings.git_autocommit or not paths or not git.is_repo(self.vault.root):
            return
        try:
            git.commit(self.vault.root, paths, message)
        except git.GitError as err:
            log.warning("mem: the change is saved but not committed (%s)", err)
