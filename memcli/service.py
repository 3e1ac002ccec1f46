"""The one pipeline behind the CLI, MCP and the watcher: add, search, get, update, forget, history.

`Memory` mirrors Mem0's `Memory` class, so code written for Mem0 ports with few changes;
every method returns plain dicts (what `--json` prints).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import numpy as np

from memcli.config import Settings, load_settings
from memcli.errors import InvalidInputError, NotFoundError, ParseError, VaultError
from memcli.graph.model import Graph, relations_of
from memcli.graph.model import build as build_graph
from memcli.graph.model import spread as graph_spread
from memcli.guard.inputs import check_limit, check_plain, check_scope, check_text
from memcli.guard.secrets import guard as guard_secrets
from memcli.index.embed import Embedder, EmbeddingUnavailable, FastEmbedder
from memcli.index.engine import (
    Progress,
    RefreshStats,
    SearchIndex,
    SearchOptions,
    log,
    no_lock,
)
from memcli.index.store import IndexStore
from memcli.infer.reconcile import ADD, Decision
from memcli.interop.digest import DEFAULT_BUDGET
from memcli.interop.digest import digest as build_digest
from memcli.interop.digest import tokens as estimate_tokens
from memcli.interop.formats import json_list_or_lines
from memcli.memory.entities import GraphViews
from memcli.memory.maintenance import Upkeep
from memcli.memory.transfer import Exchange
from memcli.memory.writing import Recording
from memcli.models import CURRENT, DELETED, FileProblem, Hit, MemoryRecord, check_id
from memcli.models import timestamp as unix_time
from memcli.vault import markdown
from memcli.vault.files import Vault, new_id
from memcli.vault.markdown import as_str, record_from

Messages = str | list[dict[str, Any]]
_SCOPE_ARGS = {"user_id": "user", "agent_id": "agent", "run_id": "run"}
LONG_TEXT = 4000  # characters: a text this long is a document to keep whole, not a message to mine


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, e.g. 2026-11-28T20:16:01.123Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Memory(Recording, GraphViews, Upkeep, Exchange):
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
        pass an object with the Embedder protocol (tests use a fake) or None for BM25 only."""
        self.settings = settings or load_settings(vault)
        self.vault = Vault(self.settings)
        self._clock = clock or utc_now
        self._embedder_choice = embedder
        self._index: SearchIndex | None = None
        self._told_bm25 = False
        self._checked_at = float("-inf")  # time.monotonic() of the last full check of the files
        self._graph_cache: tuple[list[MemoryRecord], Graph] | None = None
        self.swept: list[str] = []  # leftover temp files of killed writers, removed by this Memory

    def _now(self) -> str:
        return iso(self._clock())

    # -- reading the vault ----------------------------------------------------------------------

    def _make_embedder(self) -> Embedder | None:
        if self._embedder_choice != "auto":
            return self._embedder_choice  # type: ignore[return-value]
        if self.settings.embed_model == "none":
            return None
        return FastEmbedder(threads=self.settings.embed_threads)

    def _search_index(self) -> SearchIndex:
        """The index, opened on first use: under .mem/ when the vault exists and is writable,
        else in memory (reading never creates a vault)."""
        if self._index is None:
            embedder = self._make_embedder()
            model_key = f"{embedder.name}:{embedder.sha256}:{embedder.dim}" if embedder else None
            folder = None
            if self.vault.exists():
                try:
                    self.vault.ensure_state()
                    folder = self.vault.state_dir
                except OSError:
                    folder = None
            store = IndexStore(folder, model_key)
            self._index = SearchIndex(store, embedder, self.vault.index_lock if folder else no_lock)
        return self._index

    def _load_for_index(self, relpath: str) -> tuple[str, MemoryRecord | str]:
        """Read and parse one file for the index: (sha256, record) or (sha256, why it was skipped)."""
        try:
            text, sha = self.vault.read(self.vault.path(relpath))
        except ParseError as err:
            return "", str(err)
        try:
            return sha, record_from(markdown.parse(text), relpath, sha)
        except ParseError as err:
            return sha, str(err)

    def reindex(
        self, *, rebuild: bool = False, progress: Progress | None = None, paths: Iterable[str] | None = None
    ) -> RefreshStats:
        """Bring the index under .mem/ up to date (or start it over with rebuild=True).

        With `paths` (vault-relative), only those files are looked at: how mem indexes its own
        writes without a walk over the vault.
        """
        index = self._search_index()
        if paths is None:
            checked = time.monotonic()
            stats = index.refresh(self.vault.listing, self._load_for_index, progress, rebuild)
            self._checked_at = checked
            if self.vault.stray_temps:
                self.swept += self.vault.sweep_temps(self.vault.stray_temps)
            return stats
        wanted = set(paths)
        return index.refresh(lambda: self.vault.stat_paths(wanted), self._load_for_index, progress, partial=wanted)

    def warm_up(self) -> None:
        """Load the index and the embedding model now, so the first search or edit pays nothing
        (for long-running processes: the watcher, a server)."""
        index = self._fresh_index()
        if index.embedder is not None:
            try:
                index.embedder.embed_query("warm up")
            except EmbeddingUnavailable as err:
                index.disable_embeddings(str(err))

    def search_mode(self) -> str:
        """The mode searches run in now: the configured one, or "bm25" when no model is available."""
        return self._search_index().mode(self.settings.search_mode)

    def _fresh_index(self) -> SearchIndex:
        """The index, checked against the files unless that was done within `freshness_ms`."""
        if (time.monotonic() - self._checked_at) * 1000 >= self.settings.freshness_ms:
            self.reindex()
        index = self._search_index()
        index.load_current()
        return index

    def scan(self) -> tuple[list[MemoryRecord], list[FileProblem]]:
        """Every readable file as a record, and the files that could not be read and why."""
        index = self._fresh_index()
        return list(index.records), list(index.problems)

    def _find(self, memory_id: str) -> MemoryRecord:
        check_id(memory_id)
        index = self._fresh_index()
        position = index.by_id.get(memory_id)
        if position is None:
            raise NotFoundError(f"no memory with id {memory_id}; see `mem list` or `mem search` for ids")
        return index.records[position]

    def _find_editable(self, memory_id: str) -> MemoryRecord:
        record = self._find(memory_id)
        if record.kind != "memory":
            raise InvalidInputError(f"{memory_id} is a hand-written note ({record.path}); edit that file directly")
        return record

    # -- scope and filters ------------------------------------------------------------------------

    @staticmethod
    def _scope(user_id: Any, agent_id: Any, run_id: Any) -> dict[str, str]:
        given = {"user_id": user_id, "agent_id": agent_id, "run_id": run_id}
        return {_SCOPE_ARGS[k]: v for k, v in ((k, check_scope(k, v)) for k, v in given.items()) if v is not None}

    @staticmethod
    def _matches_filters(record: MemoryRecord, filters: dict[str, Any] | None) -> bool:
        if not filters:
            return True
        for key, wanted in filters.items():
            if key in _SCOPE_ARGS:
                if getattr(record, _SCOPE_ARGS[key]) not in (None, wanted):
                    return False
            elif key == "tags":
                wanted_tags = {wanted} if isinstance(wanted, str) else set(wanted)
                if not wanted_tags & set(record.tags):
                    return False
            elif record.metadata.get(key) != wanted:
                return False
        return True

    # -- the API -------------------------------------------------------------------------------

    def add(
        self,
        messages: Messages,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        infer: bool = True,
        tags: Iterable[str] | None = None,
        source: str = "api",
        redact: bool | None = None,
        timestamp: datetime | str | float | None = None,
    ) -> dict[str, Any]:
        """Remember text or a conversation: {"results": [{"id", "memory", "event", …}]}.

        `messages` is a string or Mem0-style [{"role", "content"}]. With `infer=True` (the
        default) the facts worth keeping are extracted (assistant turns are context only) and
        reconciled with the current memories of exactly this scope: ADD a new fact, UPDATE
        (supersede) a memory whose value changed, DELETE what the user retracts, NONE for what
        is already known. Each result says which, with `previous_memory` for an UPDATE.
        With `infer=False` each text is stored verbatim as one memory.
        `timestamp` (datetime, ISO text or Unix seconds) dates the change, e.g. for imports of
        old conversations; default now.
        A secret in the text or metadata (API key, token, private key, password in a URL) is
        refused with SecretFoundError; with `redact=True` (or the vault's setting) it is stored
        as [REDACTED:kind] instead.
        """
        scope = self._scope(user_id, agent_id, run_id)
        if metadata is not None and not isinstance(metadata, dict):
            raise InvalidInputError("metadata must be a mapping of keys to values")
        check_plain(metadata or {}, "metadata")
        when = self._moment(timestamp)
        tag_list = [str(tag).strip() for tag in (tags or []) if str(tag).strip()]
        hide = self.settings.redact_secrets if redact is None else redact
        turns = self._turns(messages, infer)
        turns = [(role, guard_secrets(text, redact_secrets=hide)) for role, text in turns]
        metadata = self._guard_metadata(metadata, hide)
        index = self._fresh_index() if infer else None
        known_vectors: dict[str, np.ndarray] = {}
        if index is not None and isinstance(messages, str) and (len(messages) > LONG_TEXT or "```" in messages):
            # a document or a code snippet, not a message: kept whole (search finds its parts)
            decisions = [Decision(ADD, text=turns[0][1], why="a long text or code: stored as given")]
        elif index is None:
            decisions = [Decision(ADD, text=text) for role, text in turns]
        else:
            decisions, known_vectors = self._decide(index, turns, scope)
        link = self._linker(index) if index is not None and self.settings.autolink else None
        meta = {
            "created": when,
            "updated": when,
            **scope,
            "tags": tag_list or None,
            "metadata": dict(metadata) if metadata else None,
            "source": source,
        }
        results: list[dict[str, Any]] = []
        written: list[str] = []
        with self.vault.lock():
            if index is not None and any(d.target for d in decisions):
                self._search_index().load_current()  # what other writers did since the decision
            for decision in decisions:
                results.append(self._apply(decision, meta, link, written))
            self._autocommit(written, f"mem: {self._summary(results)}")
        if self._index is not None and self._index.store.folder is None and self.vault.exists():
            self._index = None  # the vault exists now: keep its index on disk from here on
        if written and known_vectors and not tag_list:  # the model text of a tagless memory is its text
            self._search_index().seed_vectors(
                {r["memory"]: known_vectors[r["memory"]] for r in results if r["memory"] in known_vectors}
            )
        if written:
            self.reindex(paths=written)  # embed the new memories now, so the next search has nothing to do
        return {"results": results}

    def _moment(self, timestamp: datetime | str | float | None, end_of_day: bool = False) -> str:
        """An ISO 8601 UTC time from a datetime, ISO text or Unix seconds; a bare date means its
        start (or with `end_of_day`, its last moment: "as of 2026-03-01" includes that day)."""
        given = timestamp
        if isinstance(timestamp, str) and end_of_day and re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", timestamp):
            timestamp = timestamp.strip() + "T23:59:59.999+00:00"
        if timestamp is None:
            return self._now()
        if isinstance(timestamp, bool):
            raise InvalidInputError("timestamp must be a datetime, an ISO 8601 text or Unix seconds")
        shown = str(given)[:40]
        try:
            if isinstance(timestamp, (int, float)):
                return iso(datetime.fromtimestamp(timestamp, UTC))
            if isinstance(timestamp, str):
                timestamp = datetime.fromisoformat(timestamp.strip().replace("Z", "+00:00"))
            if isinstance(timestamp, datetime):
                return iso(timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=UTC))
        except (ValueError, OverflowError, OSError):
            raise InvalidInputError(
                f"{shown!r} is not an ISO 8601 date or time (like 2026-03-01 or 2026-03-01T09:30Z) in years 1-9999"
            ) from None
        raise InvalidInputError("timestamp must be a datetime, an ISO 8601 text or Unix seconds")

    def _unused_id(self) -> str:
        """A fresh id no indexed memory uses (40 random bits: a clash is rare, not impossible; a
        clash with an unindexed file of the same name is caught by the exclusive create)."""
        index = self._search_index()
        for _ in range(100):
            memory_id = new_id()
            if memory_id not in index.by_id:
                return memory_id
        raise VaultError("could not find an unused memory id; is the vault's index broken? try `mem index --rebuild`")

    @staticmethod
    def _guard_metadata(metadata: dict[str, Any] | None, hide: bool) -> dict[str, Any] | None:
        def clean(value: Any, where: str) -> Any:
            if isinstance(value, str):
                return guard_secrets(value, redact_secrets=hide, what=where)
            if isinstance(value, list):
                return [clean(item, where) for item in value]
            if isinstance(value, dict):
                return {key: clean(item, f"metadata key {key!r}") for key, item in value.items()}
            return value

        return None if metadata is None else clean(metadata, "metadata")

    @staticmethod
    def _turns(messages: Messages, infer: bool) -> list[tuple[str, str]]:
        """(role, text) of each message but system ones, checked. Inference reads assistant turns
        as context; without it every turn is stored as given."""
        if isinstance(messages, str):
            return [("user", check_text(messages))]
        if not isinstance(messages, list) or not messages:
            raise InvalidInputError('messages must be a string or a non-empty list of {"role", "content"} items')
        turns = []
        for number, message in enumerate(messages, 1):
            if not isinstance(message, dict) or "content" not in message:
                raise InvalidInputError(f'message {number} must be a mapping with "role" and "content"')
            role = str(message.get("role") or "user")
            if role == "system":
                continue  # assistant turns: context for extraction (infer) or stored as said (verbatim)
            turns.append((role, check_text(message["content"], f"content of message {number}")))
        if not any(role == "user" for role, _ in turns) and (infer or not turns):
            raise InvalidInputError("nothing to remember: the conversation has no user messages")
        return turns

    def search(
        self,
        query: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        limit: int = 10,
        filters: dict[str, Any] | None = None,
        threshold: float | None = None,
        include_all: bool = False,
        explain: bool = False,
        as_of: datetime | str | float | None = None,
    ) -> dict[str, Any]:
        """Find memories by relevance; {"results": [...], "relations": [...], "mode": ...}.

        Hybrid: BM25 and embedding similarity fused, with a gentle recency bonus; `mode` says
        what ran ("hybrid", or "bm25" without a model). `explain=True` adds each hit's signals.
        Only current memories unless `include_all`; `as_of` (a date or time) searches the
        memories that were true then, superseded and deleted ones included. A memory is in scope
        when every given scope key matches it or it leaves that key unset (shared memories show
        in every scope).
        """
        if not isinstance(query, str) or not query.strip():
            raise InvalidInputError("the search query is empty")
        check_limit(limit)
        scope = self._scope(user_id, agent_id, run_id)
        index = self._fresh_index()
        candidates = self._visible(index, scope, include_all, as_of)
        if filters:
            candidates = np.array(
                [i for i in candidates if self._matches_filters(index.records[i], filters)], dtype=np.int64
            )
        options = SearchOptions(
            mode=self.settings.search_mode,
            dense_weight=self.settings.dense_weight,
            half_life_days=self.settings.half_life_days,
        )
        graph = self._graph(index)
        hits, mode = index.query(
            query,
            candidates,
            options,
            self._clock().timestamp(),
            limit,
            threshold,
            expand=(
                (lambda scores: graph_spread(graph, scores, hops=self.settings.graph_hops))
                if graph.entities and self.settings.graph_hops
                else None
            ),
        )
        if mode != options.mode and not self._told_bm25:
            self._told_bm25 = True
            if index.embed_error is None:  # a model that failed to load has said so already
                log.warning("mem: embeddings are off (MEM_EMBED_MODEL=none); searching with BM25 only")
        positions = [index.by_id[hit.record.id] for hit in hits]
        return {
            "results": [self._hit_result(hit, explain) for hit in hits],
            "relations": relations_of(graph, index.records, positions),
            "mode": mode,
        }

    def _visible(self, index: SearchIndex, scope: dict[str, str], include_all: bool, as_of: Any) -> np.ndarray:
        candidates = index.in_scope(scope, include_all or as_of is not None)
        if as_of is None:
            return candidates
        moment = unix_time(self._moment(as_of, end_of_day=True))
        return np.array([i for i in candidates if index.records[i].valid_at(moment)], dtype=np.int64)

    def _graph(self, index: SearchIndex) -> Graph:
        """The entity graph of the loaded index (rebuilt when the index changes)."""
        if self._graph_cache is None or self._graph_cache[0] is not index.records:
            self._graph_cache = (index.records, build_graph(index.records))
        return self._graph_cache[1]

    @staticmethod
    def _hit_result(hit: Hit, explain: bool = False) -> dict[str, Any]:
        result = hit.record.to_result()
        item = {"id": result.pop("id"), "memory": result.pop("memory"), "score": round(hit.score, 4), **result}
        if explain:
            item["explain"] = {name: round(value, 4) for name, value in hit.signals.items()}
        return item

    @staticmethod
    def _full_result(record: MemoryRecord) -> dict[str, Any]:
        return {**record.to_result(), "tags": list(record.tags), "status": record.status}

    def get(self, memory_id: str) -> dict[str, Any] | None:
        """One memory (any status) by id, or None when no memory has that id (as Mem0 does)."""
        try:
            return self._full_result(self._find(memory_id))
        except NotFoundError:
            return None

    def get_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        limit: int = 100,
        include_all: bool = False,
        as_of: datetime | str | float | None = None,
    ) -> dict[str, Any]:
        """Current memories in scope (or those true `as_of` a date), newest first: {"results": [...]}."""
        check_limit(limit)
        scope = self._scope(user_id, agent_id, run_id)
        index = self._fresh_index()
        records = [index.records[i] for i in self._visible(index, scope, include_all, as_of)]
        records.sort(key=lambda r: (-r.time, r.id))
        return {"results": [self._full_result(r) for r in records[:limit]]}

    def update(self, memory_id: str, data: str, *, redact: bool | None = None) -> dict[str, Any]:
        """Replace a memory's text, keeping its id; the old text goes into its history."""
        hide = self.settings.redact_secrets if redact is None else redact
        text = guard_secrets(check_text(data), redact_secrets=hide)
        with self.vault.lock():
            record = self._find_editable(memory_id)
            if record.status != CURRENT:
                raise InvalidInputError(f"{memory_id} is {record.status}; add a new memory instead")
            if text == record.text:
                return {"message": "Memory unchanged.", "id": memory_id}
            path = self.vault.path(record.path)
            file_text, sha = self.vault.read(path)
            now = self._now()
            history = [*record.history, {"event": "UPDATE", "at": now, "old": record.text}]
            new_text = markdown.set_keys(file_text, {"updated": now, "history": history}, body=text + "\n")
            self.vault.replace(path, new_text, expected_sha=sha)
            self._autocommit([record.path], f"mem: update {memory_id}")
        self.reindex(paths=[record.path])
        return {"message": "Memory updated successfully!", "id": memory_id}

    def delete(self, memory_id: str, *, purge: bool = False) -> dict[str, Any]:
        """Forget a memory: a tombstone (`status: deleted`, kept on disk), or with purge the file goes."""
        with self.vault.lock():
            record = self._find_editable(memory_id)
            message = self._forget(record, purge)
            self._autocommit([record.path], f"mem: {'purge' if purge else 'forget'} {memory_id}")
        self.reindex(paths=[record.path])
        return {"message": message, "id": memory_id}

    def _forget(self, record: MemoryRecord, purge: bool, when: str | None = None) -> str:
        """Tombstone or remove one memory's file; the caller holds the writer lock."""
        path = self.vault.path(record.path)
        file_text, sha = self.vault.read(path)
        if purge:
            self.vault.remove(path, expected_sha=sha)
            return "Memory purged successfully!"
        if record.status == DELETED:
            return "Memory already deleted."
        now = when or self._now()
        history = [*record.history, {"event": "DELETE", "at": now}]
        changes = {"status": DELETED, "invalid_at": now, "updated": now, "history": history}
        self.vault.replace(path, markdown.set_keys(file_text, changes), expected_sha=sha)
        return "Memory deleted successfully!"

    def delete_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        purge: bool = False,
    ) -> dict[str, Any]:
        """Forget every memory of exactly this scope (shared memories are left alone)."""
        scope = self._scope(user_id, agent_id, run_id)
        if not scope:
            raise InvalidInputError("delete_all needs a user_id, agent_id or run_id; refusing to forget everything")
        targets = [
            r
            for r in self.scan()[0]
            if r.kind == "memory"
            and (purge or r.is_current)
            and all(getattr(r, key) == value for key, value in scope.items())
        ]
        with self.vault.lock():
            for record in targets:
                self._forget(record, purge)
            scope_text = " ".join(f"{key}={value}" for key, value in scope.items())
            self._autocommit(
                [r.path for r in targets],
                f"mem: {'purge' if purge else 'forget'} {len(targets)} memories of {scope_text}",
            )
        self.reindex(paths=[record.path for record in targets])
        return {"message": "Memories deleted successfully!", "count": len(targets)}

    def history(self, memory_id: str) -> list[dict[str, Any]]:
        """The memory's story, oldest first, across its supersede chain: ADD, then UPDATE (an edit
        in place, or a newer memory that superseded it: `memory_id` names that one) and DELETE."""
        record = self._find(memory_id)
        events: list[tuple[str, str, str | None, str | None, str | None]] = []  # (id, event, old, new, at)
        previous: str | None = None
        for link in self._chain(record):
            updates = [h for h in link.history if h.get("event") == "UPDATE"]
            texts = [str(h.get("old", "")) for h in updates] + [link.text]
            current = texts[0]
            if previous is None:
                events.append((link.id, "ADD", None, current, link.created))
            else:
                events.append((link.id, "UPDATE", previous, current, link.created))
            step = 0
            for entry in link.history:
                event, at = entry.get("event"), as_str(entry.get("at"))
                if event == "UPDATE":
                    step += 1
                    events.append((link.id, "UPDATE", current, texts[step], at))
                    current = texts[step]
                elif event == "DELETE":
                    events.append((link.id, "DELETE", current, None, at))
            previous = current
        return [
            {
                "id": f"{link_id}-h{number}",
                "memory_id": link_id,
                "old_memory": old,
                "new_memory": new,
                "event": event,
                "created_at": at,
            }
            for number, (link_id, event, old, new, at) in enumerate(events)
        ]

    def _chain(self, record: MemoryRecord) -> list[MemoryRecord]:
        """The memories that replaced one another, oldest first, `record` among them."""
        index = self._fresh_index()

        def lookup(other: str | None) -> MemoryRecord | None:
            position = index.by_id.get(other) if other else None
            return index.records[position] if position is not None else None

        chain, seen = [record], {record.id}
        while chain[0].supersedes and (earlier := lookup(chain[0].supersedes[0])) and earlier.id not in seen:
            chain.insert(0, earlier)
            seen.add(earlier.id)
        while (later := lookup(chain[-1].superseded_by)) and later.id not in seen:
            chain.append(later)
            seen.add(later.id)
        return chain

    def context(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        query: str | None = None,
        budget: int = DEFAULT_BUDGET,
    ) -> dict[str, Any]:
        """A compact markdown digest of the current memories in scope, for an agent's session start:
        {"markdown", "ids", "tokens"}. With `query`, the memories it finds come first; the rest
        follow newest first. Hand-written notes are left out (they can be long: search finds them).
        """
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 50:
            raise InvalidInputError("budget must be a whole number of tokens, at least 50")
        scope = self._scope(user_id, agent_id, run_id)
        index = self._fresh_index()
        records = [index.records[i] for i in index.in_scope(scope, include_all=False)]
        records = sorted((r for r in records if r.kind == "memory"), key=lambda r: (-r.time, r.id))
        if query and query.strip():
            ranked = self.search(query, user_id=user_id, agent_id=agent_id, run_id=run_id, limit=max(len(records), 1))
            first = [r["id"] for r in ranked["results"]]
            order = {memory_id: position for position, memory_id in enumerate(first)}
            records.sort(key=lambda r: order.get(r.id, len(order)))
        markdown_text, shown = build_digest(records, budget)
        return {"markdown": markdown_text, "ids": shown, "tokens": estimate_tokens(markdown_text)}


def load_messages(text: str) -> list[dict[str, Any]]:
    """A conversation from JSON (a list of messages) or JSONL (one message a line)."""
    messages = json_list_or_lines(text.strip(), "messages are not valid JSON")
    if not isinstance(messages, list):
        raise InvalidInputError('messages must be a JSON list of {"role", "content"} items')
    return messages
