"""Consolidation: a plan of what would make a lived-in vault read better (consolidation_apply.py
carries it out). Takes the Memory's Core; the judgements are infer/consolidate.py's, the entity
notes graph/notes.py's, the plan's markdown interop/plans.py's.

Kinds, in the order they are applied:
    merge      memories of one scope that state the same fact become one (the others superseded by it)
    expire     memories past their `expires:`, and plans whose date has passed, get `status: expired`
    conflicts  one slot, two values, both current: into the `mem review` queue (never decided here)
    fold       memories that are no longer current move to memories/archive/ (search --all still finds them)
    promote    a [[name]] linked from several memories gets an entity note with a generated block

Nothing is deleted; every change goes into the memory's history. A plan names each file with the
sha256 it was planned on: a file edited since is skipped, with a line saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from memcli.config import ENTITIES_DIR
from memcli.errors import InvalidInputError
from memcli.graph import notes
from memcli.graph.model import Graph, entity_key
from memcli.guard.inputs import check_scopes
from memcli.infer import consolidate as judge
from memcli.infer.plans import stale_plan
from memcli.memory.consolidation_apply import (
    ARCHIVE_DIR,
    KINDS,
    Applier,
    PlanItem,
    archived,
    linking,
    moment,
    ref,
    scope_of,
    summariser,
)
from memcli.memory.core import Core
from memcli.memory.writing import written_by_mem
from memcli.models import MemoryRecord
from memcli.text.normalize import squashed
from memcli.vault.files import entity_file
from memcli.vault.links import WIKILINK

if TYPE_CHECKING:
    import numpy as np

    from memcli.index.core import SearchIndex

__all__ = ["ARCHIVE_DIR", "KINDS", "Consolidation", "check_kinds"]


def check_kinds(kinds: Iterable[str] | None) -> tuple[str, ...]:
    """The kinds asked for, checked (None: all of them)."""
    if kinds is None:
        return KINDS
    chosen = tuple(dict.fromkeys(str(k).strip() for k in kinds if str(k).strip()))
    unknown = [k for k in chosen if k not in KINDS]
    if unknown or not chosen:
        raise InvalidInputError(f"consolidation kinds are {', '.join(KINDS)}; not {', '.join(unknown) or 'none'}")
    return chosen


class Consolidation:
    """Plan and apply merges, expiries, possible conflicts, folds and entity notes."""

    def __init__(self, core: Core) -> None:
        self.core = core

    # -- planning ----------------------------------------------------------------------------

    def consolidate(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        app_id: str | None = None,
        apply: bool = False,
        kinds: Iterable[str] | None = None,
        plan: dict[str, Any] | None = None,
        min_links: int | None = None,
    ) -> dict[str, Any]:
        """The plan (dry run), or with `apply` the plan carried out. `plan`: one this method
        returned earlier (`mem consolidate --json > plan.json`), applied as it was shown; each
        memory it names must be unchanged since, or that item is skipped."""
        chosen = check_kinds(kinds)
        if plan is None:
            plan = self.plan(check_scopes(user_id, agent_id, run_id, app_id), chosen, min_links)
        elif not isinstance(plan, dict) or not all(isinstance(plan.get(k, []), list) for k in KINDS):
            raise InvalidInputError("the plan must be what `mem consolidate --json` printed")
        else:
            plan = {k: v for k, v in plan.items() if k not in ("done", "applied")}
        if not apply:
            return {**plan, "applied": False}
        return Applier(self.core).apply(plan, chosen)

    def plan(self, scope: dict[str, str], kinds: tuple[str, ...], min_links: int | None = None) -> dict[str, Any]:
        index = self.core.fresh()
        now = self.core.clock()
        records = index.records()
        mine = [r for r in records if written_by_mem(r) and all(r.scope().get(k) == v for k, v in scope.items())]
        current = [r for r in mine if r.is_current]
        plan: dict[str, Any] = {kind: [] for kind in KINDS}
        plan["scope"] = scope
        plan["planned_at"] = now.isoformat()
        expiring = self._expiring(current, now) if "expire" in kinds else []
        plan["expire"] = expiring
        gone = {item["memory"]["id"] for item in expiring}
        live = [r for r in current if r.id not in gone and not r.expired(now.timestamp())]
        if "merge" in kinds or "conflicts" in kinds:
            merges, conflicts = self._pairs(index, live, kinds)
            plan["merge"], plan["conflicts"] = merges, conflicts
        if "fold" in kinds:
            plan["fold"] = [
                {"memory": ref(r), "status": r.status, "to": archived(r.path)}
                for r in mine
                if not r.is_current and not r.path.startswith(f"{ARCHIVE_DIR}/")
            ]
        if "promote" in kinds:
            if scope:  # entity notes are read by every scope: a run for one scope does not write them
                plan["notes"] = ["entity notes are shared by every scope: run without a scope to promote entities"]
            else:
                plan["promote"] = self._promotions(
                    index, records, min_links or self.core.settings.consolidate_min_links
                )
        plan["skipped_files"] = [{"path": p.path, "reason": p.reason} for p in index.problems()]
        plan["counts"] = {kind: len(plan[kind]) for kind in KINDS}
        return plan

    def _expiring(self, current: list[MemoryRecord], now: datetime) -> list[PlanItem]:
        items = []
        for record in current:
            if record.expired(now.timestamp()):
                items.append(
                    {
                        "memory": ref(record),
                        "why": f"its expiration date {record.expires} has passed",
                        "ended": record.expires,
                    }
                )
                continue
            said = moment(record.created)
            stale = stale_plan(record.text, said, now, judge.LIMITS.stale_grace_days) if said else None
            if stale is not None:
                ends, words = stale
                items.append(
                    {
                        "memory": ref(record),
                        "why": f"a plan dated {words!r}: over by {ends.date().isoformat()}",
                        "ended": ends.isoformat(),
                    }
                )
        return items

    def _pairs(
        self, index: SearchIndex, live: list[MemoryRecord], kinds: tuple[str, ...]
    ) -> tuple[list[PlanItem], list[PlanItem]]:
        """Merges and possible conflicts, each scope on its own (scopes never meet)."""
        groups: dict[tuple[str | None, ...], list[MemoryRecord]] = {}
        for record in live:
            groups.setdefault(tuple(record.scope().values()), []).append(record)
        merges: list[PlanItem] = []
        conflicts: list[PlanItem] = []
        relation_of = self._relation(index)
        for members in groups.values():
            if len(members) < 2:
                continue
            vectors = self._vectors(index, members)
            relation = relation_of(members, vectors) if relation_of else None
            pairs = judge.close_pairs(vectors) if vectors is not None else judge.word_pairs([r.text for r in members])
            pairs += self._same_words(members, {(i, j) for i, j, _ in pairs})
            found = self._merges(members, pairs, vectors, relation) if "merge" in kinds else []
            merges += found
            if "conflicts" in kinds:  # a pair this run merges is no conflict (this scope's merges only)
                merged = {m["id"] for item in found for m in item["merge"]} | {item["keep"]["id"] for item in found}
                conflicts += self._conflicts(members, pairs, vectors, relation, merged)
        return merges, conflicts

    @staticmethod
    def _same_words(members: list[MemoryRecord], known: set[tuple[int, int]]) -> list[tuple[int, int, float]]:
        """Pairs word for word the same that the neighbour search did not return (no vector)."""
        seen: dict[str, int] = {}
        extra = []
        for position, record in enumerate(members):
            key = squashed(record.text)
            if key in seen and (seen[key], position) not in known:
                extra.append((seen[key], position, 1.0))
            seen.setdefault(key, position)
        return extra

    @staticmethod
    def _vectors(index: SearchIndex, members: list[MemoryRecord]) -> np.ndarray | None:
        if index.embedder is None:
            return None
        import numpy as np  # as the index: only once there is a model

        rows = [index.vector_of(r.id) for r in members]
        width = next((len(v) for v in rows if v is not None), 0)
        if not width:
            return None
        return np.array([v if v is not None else np.zeros(width, dtype=np.float32) for v in rows], dtype=np.float32)

    @staticmethod
    def _relation(index: SearchIndex) -> Callable[[list[MemoryRecord], np.ndarray | None], judge.Relation] | None:
        """The relation head over a scope's vectors, when the heads and a model are there."""
        from memcli.infer import decider, heads

        loaded = heads.load() if index.embedder is not None else None
        if loaded is None:
            return None

        def over(members: list[MemoryRecord], vectors: np.ndarray | None) -> judge.Relation:
            by_text = {} if vectors is None else {r.text: vectors[n] for n, r in enumerate(members)}
            return decider.relation_by_text(loaded, by_text)

        return over

    def _merges(
        self,
        members: list[MemoryRecord],
        pairs: list[tuple[int, int, float]],
        vectors: np.ndarray | None,
        relation: judge.Relation | None,
    ) -> list[PlanItem]:
        verdicts: dict[tuple[int, int], judge.Verdict] = {}
        parent = list(range(len(members)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for i, j, _ in pairs:
            verdict = judge.restatement(members[i].text, members[j].text, self._cosine(vectors, i, j), relation)
            verdicts[(i, j)] = verdict
            if verdict.yes:
                parent[root(i)] = root(j)
        components: dict[int, list[int]] = {}
        for i in range(len(members)):
            components.setdefault(root(i), []).append(i)
        items = []
        for group in components.values():
            if len(group) < 2:
                continue
            texts = [members[i].text for i in group]
            best = group[judge.keeper(texts, [len(members[i].links) for i in group], [members[i].time for i in group])]
            merged = []
            for other in group:
                if other == best:
                    continue
                key = (min(best, other), max(best, other))
                verdict = verdicts.get(key) or judge.restatement(
                    members[key[0]].text, members[key[1]].text, self._cosine(vectors, *key), relation
                )
                if verdict.yes:  # a chain (A~B, B~C) merges only what restates the text kept
                    merged.append({**ref(members[other]), "why": verdict.rule, "features": verdict.features})
            if merged:
                items.append({"keep": ref(members[best]), "merge": merged})
        return items

    def _conflicts(
        self,
        members: list[MemoryRecord],
        pairs: list[tuple[int, int, float]],
        vectors: np.ndarray | None,
        relation: judge.Relation | None,
        merged: set[str],
    ) -> list[PlanItem]:
        items: list[PlanItem] = []
        for i, j, _ in pairs:
            newer, older = (members[i], members[j]) if members[i].time >= members[j].time else (members[j], members[i])
            if newer.id in merged or older.id in merged or newer.time == older.time:
                continue
            if older.id in newer.may_conflict or older.id in newer.not_conflicting or newer.id in older.not_conflicting:
                continue  # already in the review queue, or a person kept both
            if newer.id in older.may_conflict:
                continue
            verdict = judge.conflict(newer.text, older.text, self._cosine(vectors, i, j), relation)
            if verdict.yes:
                items.append({"new": ref(newer), "old": ref(older), "why": verdict.rule, "features": verdict.features})
        # one per newer memory, the likeliest: the review queue asks about each memory once a run
        best: dict[str, PlanItem] = {}
        for item in items:
            held = best.get(item["new"]["id"])
            if held is None or _strength(item) > _strength(held):
                best[item["new"]["id"]] = item
        return list(best.values())

    @staticmethod
    def _cosine(vectors: np.ndarray | None, i: int, j: int) -> float | None:
        if vectors is None:
            return None
        value = float(vectors[i] @ vectors[j])
        return value if value != 0.0 else None  # a memory without a vector

    def _promotions(self, index: SearchIndex, records: Sequence[MemoryRecord], min_links: int) -> list[PlanItem]:
        graph: Graph = self.core.graph(index)
        now = self.core.clock().timestamp()
        summarise = summariser(self.core)
        items = []
        for key, entity in sorted(graph.entities.items()):
            linked = linking(records, entity.mentions, now)
            note = records[entity.note] if entity.note is not None else None
            if note is None and len(linked) < min_links:
                continue
            if note is not None:
                text = self.core.vault.read(self.core.vault.path(note.path))[0]
                if notes.current_sources(text) is None:
                    continue  # a note a person wrote, without mem's block: theirs alone
            listed = [notes.listed(r) for r in linked]
            scopes = {tuple(sorted(scope_of(r).items())) for r in linked}
            one_scope = len(scopes) == 1
            by = summarise[0] if summarise and one_scope else None
            wanted = notes.sources(listed, by)
            if note is not None and notes.current_sources(text) == wanted:
                continue  # the block is what these memories would give
            item: PlanItem = {
                "entity": entity.name,
                "action": "refresh" if note is not None else "create",
                "path": note.path if note is not None else f"{ENTITIES_DIR}/{entity_file(entity.name)}",
                "sha256": note.sha256 if note is not None else None,
                "aliases": self._labels(linked, key, graph, entity.name) if note is None else [],
                "memories": [r.id for r in linked],
                "scope": dict(scopes.pop()) if one_scope else {},
                "with_texts": one_scope,
                "summary_by": by,
            }
            items.append(item)
        return items

    @staticmethod
    def _labels(linking: list[MemoryRecord], key: str, graph: Graph, name: str) -> list[str]:
        """Other names the memories use for an entity: the labels of their links ([[A|label]])."""
        found: dict[str, str] = {}
        for record in linking:
            for match in WIKILINK.finditer(record.text):
                target, label = match.group(2).strip(), (match.group(4) or "").strip()
                resolved = graph.aliases.get(entity_key(target), entity_key(target))
                for other in (target, label):
                    if other and resolved == key and entity_key(other) != entity_key(name):
                        found.setdefault(entity_key(other), other)
        return sorted(found.values(), key=str.casefold)


def _strength(item: PlanItem) -> tuple[float, float, float]:
    """How likely a possible conflict is: the head's P(update), then the rules' score, then the cosine."""
    features = item["features"]
    return (features.get("p_update", 0.0), features["rules_score"], features["cosine"])
