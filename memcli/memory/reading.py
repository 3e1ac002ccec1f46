"""Reading memory: search, get, get_all, history (the supersede chain) and the session digest."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from memcli.errors import InvalidInputError, NotFoundError
from memcli.graph.model import relations_of
from memcli.guard.inputs import check_limit, check_scopes
from memcli.guard.outputs import looks_like_injection
from memcli.index.options import SearchOptions
from memcli.infer.plans import stale_plan
from memcli.interop.digest import DEFAULT_BUDGET, digest
from memcli.memory.core import Core
from memcli.memory.filters import Compiled, scoped
from memcli.models import DELETED, Hit, MemoryRecord
from memcli.models import timestamp as unix_time
from memcli.text.english import asks_for_everything
from memcli.text.normalize import estimate_tokens
from memcli.vault.records import as_str

if TYPE_CHECKING:
    from memcli.index.core import Candidates, SearchIndex

log = logging.getLogger(__name__)


def hit_result(hit: Hit, explain: bool = False) -> dict[str, Any]:
    result = hit.record.to_result()
    item = {"id": result.pop("id"), "memory": result.pop("memory"), "score": round(hit.score, 4), **result}
    if explain:
        item["explain"] = {name: round(value, 4) for name, value in hit.signals.items()}
        if looks_like_injection(hit.record.text):
            item["explain"]["injection"] = 1.0  # reads like instructions to the model: treat as data
    return item


def open_conflicts(record: MemoryRecord) -> list[str]:
    """The older memories this one may replace that nobody has ruled on yet."""
    return [i for i in record.may_conflict if i not in record.not_conflicting]


def newer_first(hits: list[Hit]) -> list[Hit]:
    """Hits with each possible conflict ordered newer first: when a memory flagged as maybe
    replacing another ranks below it, it moves up to just above it (read time respects the
    decider's doubt: the newer statement of a changed fact is read first)."""
    ordered = list(hits)
    for hit in hits:
        for old_id in open_conflicts(hit.record):
            ids = [h.record.id for h in ordered]
            if old_id in ids and ids.index(old_id) < ids.index(hit.record.id):
                ordered.remove(hit)
                ordered.insert(ids.index(old_id), hit)
    return ordered


STALE_FACTOR = 0.7  # a plan past its date (not yet expired by `mem consolidate`) ranks this much lower


def stale_lower(hits: list[Hit], moment: float) -> list[Hit]:
    """Hits with each current dated plan whose date had passed by `moment` scored lower ("stale"
    in --explain): "Planning a trip to Kyoto in April" read in June is not what is true now."""
    when = datetime.fromtimestamp(moment, tz=UTC)
    changed = False
    for hit in hits:
        said = datetime.fromtimestamp(unix_time(hit.record.created), tz=UTC) if hit.record.created else None
        if hit.record.is_current and said and stale_plan(hit.record.text, said, when):
            hit.score *= STALE_FACTOR
            hit.signals["stale"] = STALE_FACTOR
            changed = True
    return sorted(hits, key=lambda h: -h.score) if changed else hits


def without_replaced(records: list[MemoryRecord]) -> list[MemoryRecord]:
    """The records minus those a current record there may replace (the digest shows the newer)."""
    doubted = {old for r in records if r.is_current for old in open_conflicts(r)}
    return [r for r in records if r.id not in doubted]


def full_result(record: MemoryRecord) -> dict[str, Any]:
    return {**record.to_result(), "tags": list(record.tags), "status": record.status}


class Reading:
    """Search, lookups and history over the index the Core keeps fresh."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self._told_bm25 = False

    def reset_notices(self) -> None:
        """Say the one-time notices ("searching with BM25 only") again from the next call, as a
        new process would: `mem watch` serves each CLI call as if it were its own process."""
        self._told_bm25 = False

    def _now(self) -> float:
        return self.core.clock().timestamp()

    def _visible(
        self, index: SearchIndex, scope: dict[str, str], include_all: bool, as_of: Any, where: Compiled | None = None
    ) -> Candidates:
        moment = unix_time(self.core.moment(as_of, end_of_day=True)) if as_of is not None else None
        test = where if where is not None and where.where is not None else None
        return index.visible(scope, include_all=include_all, as_of=moment, where=test, now=self._now())

    def search(
        self,
        query: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        app_id: str | None = None,
        limit: int = 10,
        top_k: int | None = None,
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
        in every scope). `filters` is Mem0's filter language, e.g. {"AND": [{"user_id": "ana"},
        {"created_at": {"gte": "2026-07-01"}}, {"tags": {"in": ["work"]}}]}; see
        memcli.memory.filters for every field and operator. `top_k` is Mem0 2.x's name for `limit`.
        A query that names no topic ("What do you know about me?") lists what is remembered in
        scope, newest first (mode "recent").
        """
        if not isinstance(query, str) or not query.strip():
            raise InvalidInputError("the search query is empty")
        limit = check_limit(limit if top_k is None else top_k)
        scope, where = scoped(check_scopes(user_id, agent_id, run_id, app_id), filters)
        everything = asks_for_everything(query)  # no topic to rank by: what is remembered, newest first
        if self.core.settings.search_mode != "bm25" and not everything:
            # The model before the index: its load needs ~100 MB for a moment and hands it back,
            # so a process that does both peaks at the larger of the two, not at their sum.
            self.core.index().warm()
        index = self.core.fresh()
        candidates = self._visible(index, scope, include_all, as_of, where)
        settings = self.core.settings
        options = SearchOptions(
            mode=settings.search_mode, dense_weight=settings.dense_weight, half_life_days=settings.half_life_days
        )
        if everything:
            records = index.select(candidates, newest_first=True)[:limit]
            hits = [Hit(record, 0.0, {"everything": 1.0}) for record in records]
            return {"results": [hit_result(hit, explain) for hit in hits], "relations": [], "mode": "recent"}
        from memcli.graph.spread import spread as graph_spread  # numpy: loaded with the index, on first use

        graph = self.core.graph(index)
        hops = settings.graph_hops
        hits, mode = index.rank(
            query,
            candidates,
            options,
            self.core.clock().timestamp(),
            limit,
            threshold,
            expand=(lambda scores: graph_spread(graph, scores, hops=hops)) if graph.entities and hops else None,
        )
        if mode != options.mode and not self._told_bm25:
            self._told_bm25 = True
            if index.embed_error is None:  # a model that failed to load has said so already
                log.warning("mem: embeddings are off (MEM_EMBED_MODEL=none); searching with BM25 only")
        moment = unix_time(self.core.moment(as_of, end_of_day=True)) if as_of is not None else self._now()
        hits = newer_first(stale_lower(hits, moment))
        positions = [index.position(hit.record.id) for hit in hits]
        return {
            "results": [hit_result(hit, explain) for hit in hits],
            "relations": relations_of(graph, index.records(), [p for p in positions if p is not None]),
            "mode": mode,
        }

    def get(self, memory_id: str, *, include_deleted: bool = False) -> dict[str, Any] | None:
        """One memory by id (current, superseded or expired), or None when there is none or it
        was deleted (as Mem0 does; `history` still tells its story, and `include_deleted=True`
        returns the tombstone)."""
        try:
            record = self.core.find(memory_id)
        except NotFoundError:
            return None
        return None if record.status == DELETED and not include_deleted else full_result(record)

    def get_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        app_id: str | None = None,
        limit: int = 100,
        top_k: int | None = None,
        include_all: bool = False,
        as_of: datetime | str | float | None = None,
        filters: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Current memories in scope (or those true `as_of` a date), newest first: {"results": [...]}.
        `filters` as in `search` (Mem0's language: memcli.memory.filters); `top_k` is Mem0 2.x's
        name for `limit`."""
        limit = check_limit(limit if top_k is None else top_k)
        scope, where = scoped(check_scopes(user_id, agent_id, run_id, app_id), filters)
        index = self.core.fresh()
        records = index.select(self._visible(index, scope, include_all, as_of, where), newest_first=True)
        return {"results": [full_result(r) for r in records[:limit]]}

    def users(self) -> dict[str, Any]:
        """Who holds memories, in Mem0's sense of entities: every user, agent and run with current
        memories, most memories first: {"results": [{"type", "name", "total_memories", "updated_at"}]}."""
        index = self.core.fresh()
        held: dict[tuple[str, str], list[Any]] = {}
        for record in index.select(index.visible({}, now=self._now()), newest_first=True):
            for kind in ("user", "agent", "run", "app"):
                name = getattr(record, kind)
                if name:
                    held.setdefault((kind, name), [0, record.updated or record.created])[0] += 1
        rows = [
            {"type": kind, "name": name, "total_memories": count, "updated_at": at}
            for (kind, name), (count, at) in held.items()
        ]
        rows.sort(key=lambda row: (-row["total_memories"], row["type"], row["name"]))
        return {"results": rows}

    def history(self, memory_id: str) -> list[dict[str, Any]]:
        """The memory's story, oldest first, across its supersede chain: ADD, then UPDATE (an edit
        in place, or a newer memory that superseded it: `memory_id` names that one), MERGE (mem
        consolidate folded a restatement into it: old_memory is the restatement), EXPIRE, DELETE."""
        record = self.core.find(memory_id)
        events: list[tuple[str, str, str | None, str | None, str | None]] = []  # (id, event, old, new, at)
        previous: str | None = None
        previous_id: str | None = None
        for link in self.chain(record):
            updates = [h for h in link.history if h.get("event") == "UPDATE"]
            # an entry without "old" follows a past moved out to its own file (an often-updated memory)
            texts = [str(h["old"]) if "old" in h else (previous or "") for h in updates] + [link.text]
            current = texts[0]
            # consolidation merged the previous link into this one (its entry names it)
            merged_in = {str(h.get("from")): h for h in link.history if h.get("event") == "MERGE"}
            if previous is None:
                events.append((link.id, "ADD", None, current, link.created))
            elif previous_id in merged_in:
                events.append((link.id, "MERGE", previous, link.text, as_str(merged_in[previous_id].get("at"))))
            elif current != previous:
                events.append((link.id, "UPDATE", previous, current, link.created))
            step = 0
            for entry in link.history:
                event, at = entry.get("event"), as_str(entry.get("at"))
                if event == "UPDATE":
                    step += 1
                    events.append((link.id, "UPDATE", current, texts[step], at))
                    current = texts[step]
                elif event in ("DELETE", "EXPIRE"):
                    events.append((link.id, str(event), current, None, at))
                elif event == "MERGE" and str(entry.get("from")) != previous_id:
                    events.append((link.id, "MERGE", as_str(entry.get("old")), current, at))
            previous, previous_id = current, link.id
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

    def chain(self, record: MemoryRecord) -> list[MemoryRecord]:
        """The memories that replaced one another, oldest first, `record` among them."""
        index = self.core.fresh()

        def lookup(other: str | None) -> MemoryRecord | None:
            return index.record(other) if other else None

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
        app_id: str | None = None,
        query: str | None = None,
        budget: int = DEFAULT_BUDGET,
    ) -> dict[str, Any]:
        """A compact markdown digest of the current memories in scope, for an agent's session start:
        {"markdown", "ids", "tokens"}. With `query`, the memories it finds come first; the rest
        follow newest first. Hand-written notes are left out (they can be long: search finds them).
        """
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 50:
            raise InvalidInputError("budget must be a whole number of tokens, at least 50")
        scope = check_scopes(user_id, agent_id, run_id, app_id)
        index = self.core.fresh()
        records = index.select(index.visible(scope, now=self._now()), newest_first=True)
        records = without_replaced([r for r in records if r.kind == "memory"])
        if query and query.strip():
            ranked = self.search(
                query, user_id=user_id, agent_id=agent_id, run_id=run_id, app_id=app_id, limit=max(len(records), 1)
            )
            order = {result["id"]: position for position, result in enumerate(ranked["results"])}
            records.sort(key=lambda r: order.get(r.id, len(order)))
        markdown_text, shown = digest(records, budget)
        return {"markdown": markdown_text, "ids": shown, "tokens": estimate_tokens(markdown_text)}

    def conflicts(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        app_id: str | None = None,
    ) -> dict[str, Any]:
        """Possible conflicts nobody has ruled on, newest first: {"results": [{"new": {...},
        "old": {...}}]}, each side a memory as `get` returns it. Confirm with `supersede(new, old)`,
        reject with `keep_both(new, old)`; a pair whose memory is no longer current drops out."""
        scope = check_scopes(user_id, agent_id, run_id, app_id)
        index = self.core.fresh()
        pairs = []
        for record in index.select(index.visible(scope, now=self._now()), newest_first=True):
            for old_id in open_conflicts(record):
                old = index.record(old_id)
                if old is not None and old.is_current:
                    pairs.append({"new": full_result(record), "old": full_result(old)})
        return {"results": pairs}
