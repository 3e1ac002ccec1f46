"""Memory: the Mem0-shaped façade over the parts of mem's one pipeline (CLI, MCP and watcher all
call it). Every method is one line of delegation to a part, each with its own file:

    core.py         settings, vault, clock, the index's lifecycle, lookups by id, commits
    reading.py      search, get, get_all, history, context
    writing.py      add (extract + reconcile), update, delete, delete_all
    entities.py     entities, graph, rename_entity
    transfer.py     export, import_text
    maintenance.py  init, commit, sync, file_log, doctor, relink_duplicates, warm_up, search_mode
    consolidation.py  consolidate: the plan (merge, expire, conflicts, fold, promote);
                      consolidation_apply.py carries it out
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from memcli.config import Settings, settings_from_mem0
from memcli.interop.formats import load_messages
from memcli.memory.consolidation import Consolidation
from memcli.memory.core import Core
from memcli.memory.entities import Entities
from memcli.memory.maintenance import Maintenance
from memcli.memory.reading import Reading
from memcli.memory.transfer import Transfer
from memcli.memory.writing import Writing
from memcli.vault.files import Vault

if TYPE_CHECKING:
    from memcli.index.embed import Embedder

__all__ = ["Memory", "load_messages"]

P = ParamSpec("P")
R = TypeVar("R")
Part = TypeVar("Part")


def _to(part: str, method: Callable[Concatenate[Part, P], R]) -> Callable[Concatenate[Memory, P], R]:
    """Memory.<name> as a call of the same method on one of its parts: same signature and docstring."""

    @functools.wraps(method)
    def delegate(self: Memory, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return method(getattr(self, part), *args, **kwargs)

    return delegate


class Memory:
    """Long-term memory kept as markdown files in a vault folder.

    >>> m = Memory(vault="~/notes")
    >>> m.add("prefers pnpm over npm", user_id="ray")
    >>> m.search("package manager", user_id="ray")
    """

    def __init__(
        self,
        vault: str | os.PathLike[str] | None = None,
        *,
        settings: Settings | None = None,
        clock: Callable[[], datetime] | None = None,
        embedder: Embedder | None | str = "auto",
    ) -> None:
        """`embedder`: "auto" uses the settings (the bundled model unless MEM_EMBED_MODEL=none);
        pass an object with the Embedder protocol (memcli.testing.HashEmbedder is a fake) or None
        for BM25 only. `clock` (a function returning an aware datetime) dates every change."""
        self.core = Core(vault, settings=settings, clock=clock, embedder=embedder)
        self.reading = Reading(self.core)
        self.writing = Writing(self.core)
        self.entities_view = Entities(self.core)
        self.transfer = Transfer(self.core)
        self.maintenance = Maintenance(self.core)
        self.consolidation = Consolidation(self.core)

    @property
    def vault(self) -> Vault:
        return self.core.vault

    @property
    def settings(self) -> Settings:
        return self.core.settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        self.core.settings = settings

    @property
    def swept(self) -> list[str]:
        """Leftover temp files of killed writers that this Memory removed."""
        return self.core.swept

    # Mem0's API
    add = _to("writing", Writing.add)
    search = _to("reading", Reading.search)
    get = _to("reading", Reading.get)
    get_all = _to("reading", Reading.get_all)
    update = _to("writing", Writing.update)
    delete = _to("writing", Writing.delete)
    delete_all = _to("writing", Writing.delete_all)
    history = _to("reading", Reading.history)
    users = _to("reading", Reading.users)
    delete_users = _to("writing", Writing.delete_users)
    reset = _to("writing", Writing.reset)
    # possible conflicts: the decider's doubts, for a person or an agent to settle
    conflicts = _to("reading", Reading.conflicts)
    supersede = _to("writing", Writing.supersede)
    keep_both = _to("writing", Writing.keep_both)
    # mem's own
    context = _to("reading", Reading.context)
    reset_notices = _to("reading", Reading.reset_notices)
    scan = _to("core", Core.scan)
    reindex = _to("core", Core.reindex)
    rely_on_watcher = _to("core", Core.rely_on_watcher)
    entities = _to("entities_view", Entities.entities)
    graph = _to("entities_view", Entities.graph)
    rename_entity = _to("entities_view", Entities.rename_entity)
    consolidate = _to("consolidation", Consolidation.consolidate)
    export = _to("transfer", Transfer.export)
    import_text = _to("transfer", Transfer.import_text)
    init = _to("maintenance", Maintenance.init)
    commit = _to("maintenance", Maintenance.commit)
    sync = _to("maintenance", Maintenance.sync)
    file_log = _to("maintenance", Maintenance.file_log)
    relink_duplicates = _to("maintenance", Maintenance.relink_duplicates)
    doctor = _to("maintenance", Maintenance.doctor)
    warm_up = _to("maintenance", Maintenance.warm_up)
    search_mode = _to("maintenance", Maintenance.search_mode)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Memory:
        """A Memory from a Mem0 config dict: vector_store.config.path is the vault, llm the
        optional LLM; a key mem has no use for is an error, not ignored (config.settings_from_mem0)."""
        return cls(settings=settings_from_mem0(config))

    def __repr__(self) -> str:
        return f"Memory(vault={str(self.core.vault.root)!r})"
