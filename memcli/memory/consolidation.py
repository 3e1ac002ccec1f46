"""Consolidation: a plan of what would make a lived-in vault read better, and carrying it out.
Takes the Memory's Core; the judgements are infer/consolidate.py's, the entity notes graph/notes.py's.

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

import json
import logging
import os
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from memcli.config import CONSOLIDATION_KINDS, ENTITIES_DIR, MEMORIES_DIR
from memcli.errors import ConflictError, InvalidInputError, MemError
from memcli.graph import notes
from memcli.graph.model import Graph, entity_key
from memcli.guard.inputs import check_scopes
from memcli.infer import consolidate as judge
from memcli.infer.llm import ChatClient, LLMError
from memcli.infer.types import Existing
from memcli.memory.core import Core
from memcli.memory.writing import written_by_mem
from memcli.models import CURRENT, SUPERSEDED, MemoryRecord
from memcli.text.normalize import squashed
from memcli.vault import markdown
from memcli.vault.files import entity_file
from memcli.vault.links import WIKILINK

if TYPE_CHECKING:
    import numpy as np

    from memcli.index.core import SearchIndex

log = logging.getLogger(__name__)

KINDS = CONSOLIDATION_KINDS
EXPIRED = "expired"
ARCHIVE_DIR = f"{MEMORIES_DIR}/archive"
SUMMARY_CHARS = 800  # an LLM's summary of an entity is cut to this
PlanItem = dict[str, Any]


def _ref(record: MemoryRecord) -> dict[str, Any]:
    """A memory as a plan names it: enough to show it, and the sha256 to check it against."""
    return {"id": record.id, "memory": record.text, "path": record.path, "sha256": record.sha256, **_scope(record)}


def _scope(record: MemoryRecord) -> dict[str, str]:
    return {key: value for key, value in record.scope().items() if value is not None}


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
        return self._apply(plan, chosen)

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
                {"memory": _ref(r), "status": r.status, "to": self._archived(r.path)}
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
                        "memory": _ref(record),
                        "why": f"its expiration date {record.expires} has passed",
                        "ended": record.expires,
                    }
                )
                continue
            said = _moment(record.created)
            stale = judge.stale_plan(record.text, said, now) if said else None
            if stale is not None:
                ends, words = stale
                items.append(
                    {
                        "memory": _ref(record),
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
            if "merge" in kinds:
                merges += self._merges(members, pairs, vectors, relation)
            if "conflicts" in kinds:
                merged = {m["id"] for item in merges for m in item["merge"]} | {item["keep"]["id"] for item in merges}
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
            head = decider.Judge(loaded, by_text, dict(by_text))  # a memory's "id" here is its text

            def relation(new: str, old: str) -> dict[str, float] | None:
                return head.relation(judge.fact_of(new), Existing(old, old))

            return relation

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
                    merged.append({**_ref(members[other]), "why": verdict.rule, "features": verdict.features})
            if merged:
                items.append({"keep": _ref(members[best]), "merge": merged})
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
                items.append(
                    {"new": _ref(newer), "old": _ref(older), "why": verdict.rule, "features": verdict.features}
                )
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

    def _archived(self, relpath: str) -> str:
        return f"{ARCHIVE_DIR}/{relpath.rsplit('/', 1)[-1]}"

    def _promotions(self, index: SearchIndex, records: list[MemoryRecord], min_links: int) -> list[PlanItem]:
        graph: Graph = self.core.graph(index)
        now = self.core.clock().timestamp()
        summarise = self._summariser()
        items = []
        for key, entity in sorted(graph.entities.items()):
            linking = _linking(records, entity.mentions, now)
            note = records[entity.note] if entity.note is not None else None
            if note is None and len(linking) < min_links:
                continue
            if note is not None:
                text = self.core.vault.read(self.core.vault.path(note.path))[0]
                if notes.current_sources(text) is None:
                    continue  # a note a person wrote, without mem's block: theirs alone
            listed = [notes.listed(r) for r in linking]
            scopes = {tuple(sorted(_scope(r).items())) for r in linking}
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
                "aliases": self._labels(linking, key, graph, entity.name) if note is None else [],
                "memories": [r.id for r in linking],
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

    def _summariser(self) -> tuple[str, ChatClient] | None:
        s = self.core.settings
        if not (s.llm_base_url and s.llm_model):
            return None
        return s.llm_model, ChatClient(s.llm_base_url, s.llm_model, s.llm_api_key, s.llm_timeout)

    def _summary(self, name: str, listed: list[notes.Listed]) -> str | None:
        """With an LLM configured: a few sentences on what the memories say about `name`."""
        summarise = self._summariser()
        if summarise is None:
            return None
        facts = "\n".join(f"- {m.text}" for m in listed)
        try:
            content, _ = summarise[1].complete(
                "You summarise what a person's memory notes say about one entity, in at most three plain sentences. "
                "Use only the notes; no links, no markdown.",
                f"Entity: {name}\nNotes:\n{facts}",
                {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]},
                300,
            )
        except LLMError as err:
            log.warning("mem: no summary for %s (%s); the block lists the memories", name, err)
            return None
        try:  # asked for {"summary": …}; a server that took no response format may answer in prose
            said = json.loads(content)
            text = str(said.get("summary") or "") if isinstance(said, dict) else str(said)
        except json.JSONDecodeError:
            text = content
        return " ".join(text.split())[:SUMMARY_CHARS] or None

    # -- applying ----------------------------------------------------------------------------

    def _apply(self, plan: dict[str, Any], kinds: tuple[str, ...]) -> dict[str, Any]:
        core = self.core
        done: list[str] = []
        skipped: list[str] = []
        written: list[str] = []
        retired: list[str] = []  # merged away or expired by this run
        now = core.now()
        steps: list[tuple[str, Callable[[PlanItem], list[str]]]] = [
            ("merge", lambda item: self._merge(item, now)),
            ("expire", lambda item: self._expire(item, now)),
            ("conflicts", self._flag),
            ("fold", self._fold),
            ("promote", self._promote),
        ]
        with core.vault.lock():
            for kind, step in steps:
                if kind not in kinds:
                    continue
                for item in plan.get(kind, []):
                    try:
                        paths = step(item)
                    except (ConflictError, MemError, OSError) as err:
                        skipped.append(f"{kind}: {_short(item)}: skipped, {err}")
                        continue
                    except (KeyError, TypeError, AttributeError):  # a saved plan edited by hand
                        skipped.append(f"{kind}: skipped an item that is not one `mem consolidate --json` printed")
                        continue
                    written += paths
                    done.append(f"{kind}: {_short(item)}")
                    if kind == "merge":
                        retired += [str(m["id"]) for m in item["merge"]]
                    elif kind == "expire":
                        retired.append(str(item["memory"]["id"]))
                if kind in ("merge", "expire") and "fold" in kinds:
                    core.index_written(written)  # what this run took out of use folds with the rest
            if "fold" in kinds:
                folded = {
                    str(item["memory"]["id"])
                    for item in plan.get("fold", [])
                    if isinstance(item, dict) and isinstance(item.get("memory"), dict)
                }
                for record in self._no_longer_current(retired, folded):
                    item = {"memory": _ref(record), "status": record.status, "to": self._archived(record.path)}
                    written += self._fold(item)
                    done.append(f"fold: {_short(item)}")
            core.autocommit(list(dict.fromkeys(written)), _commit_message(done))
        core.index_written(written)
        public = {k: v for k, v in plan.items() if k != "promote"}
        return {
            **public,
            "promote": [_public(i) for i in plan.get("promote", [])],
            "applied": True,
            "done": done,
            "skipped": skipped,
        }

    def _no_longer_current(self, ids: list[str], folded: set[str]) -> list[MemoryRecord]:
        """Memories this run merged away or expired: they fold in the same run (a second run plans nothing)."""
        index = self.core.fresh()
        found = []
        for memory_id in ids:
            record = index.record(memory_id)
            if (
                record
                and not record.is_current
                and memory_id not in folded
                and not record.path.startswith(f"{ARCHIVE_DIR}/")
            ):
                found.append(record)
        return found

    def _unchanged(self, ref: dict[str, Any]) -> MemoryRecord:
        """The memory a plan names, as its file is now; ConflictError if edited since the plan."""
        record = self.core.find_editable(str(ref["id"]))
        if record.sha256 != ref.get("sha256"):
            raise ConflictError(f"{record.id} was edited since the plan; run `mem consolidate` again")
        return record

    def _rewrite(self, record: MemoryRecord, changes: dict[str, Any]) -> None:
        path = self.core.vault.path(record.path)
        text, sha = self.core.vault.read(path)
        if sha != record.sha256:
            raise ConflictError(f"{record.id} was edited since the plan; run `mem consolidate` again")
        self.core.vault.replace(path, markdown.set_keys(text, changes), expected_sha=sha)

    def _merge(self, item: PlanItem, now: str) -> list[str]:
        keep = self._unchanged(item["keep"])
        others = [self._unchanged(ref) for ref in item["merge"]]
        if not keep.is_current or not all(o.is_current for o in others):
            raise ConflictError("a memory of it is no longer current")
        if any(_scope(o) != _scope(keep) for o in others):
            raise ConflictError("its memories belong to different scopes")  # a hand-made plan: never across scopes
        ids = {keep.id, *(o.id for o in others)}
        tags = list(dict.fromkeys([*keep.tags, *(t for o in others for t in o.tags)]))
        metadata: dict[str, Any] = {}
        for other in reversed(others):
            metadata.update(other.metadata)
        metadata.update(keep.metadata)  # the text kept keeps its own values
        sources = list(dict.fromkeys(s for s in [keep.source, *(o.source for o in others)] if s))
        linked = {entity_key(str(link["target"])) for link in keep.links}
        more_links = list(
            dict.fromkeys(
                str(link["target"]) for o in others for link in o.links if entity_key(str(link["target"])) not in linked
            )
        )
        earlier = {str(h.get("from")) for h in keep.history if h.get("event") == "MERGE"}
        history = [*keep.history] + [
            {"event": "MERGE", "at": now, "from": o.id, "old": o.text} for o in others if o.id not in earlier
        ]
        changes: dict[str, Any] = {"history": history, "updated": now}
        if tags != keep.tags:
            changes["tags"] = tags
        if metadata != keep.metadata:
            changes["metadata"] = metadata
        if len(sources) > 1:
            changes["source"] = ", ".join(sources)
        may = [
            i for i in dict.fromkeys([*keep.may_conflict, *(i for o in others for i in o.may_conflict)]) if i not in ids
        ]
        if may != keep.may_conflict:
            changes["may_conflict"] = may or markdown.REMOVE
        if more_links:
            changes["relations"] = self._relations(keep, more_links)
        self._rewrite(keep, changes)  # the text kept first: killed here, the others are still current
        for other in others:
            self._rewrite(other, {"status": SUPERSEDED, "superseded_by": keep.id, "invalid_at": now, "updated": now})
        return [keep.path, *(o.path for o in others)]

    def _relations(self, keep: MemoryRecord, targets: list[str]) -> dict[str, Any]:
        """The keeper's frontmatter `relations:` with the links only the merged texts had, as `mentions`."""
        text = self.core.vault.read(self.core.vault.path(keep.path))[0]
        relations = markdown.parse(text).meta.get("relations")
        relations = dict(relations) if isinstance(relations, dict) else {}
        had = relations.get("mentions") or []
        had = had if isinstance(had, list) else [had]
        relations["mentions"] = list(dict.fromkeys([*had, *targets]))
        return relations

    def _expire(self, item: PlanItem, now: str) -> list[str]:
        record = self._unchanged(item["memory"])
        if record.status != CURRENT:
            raise ConflictError(f"{record.id} is {record.status} already")
        ended = _moment(item.get("ended")) if len(str(item.get("ended") or "")) > 10 else None
        invalid_at = self.core.moment(ended) if ended else self.core.moment(item.get("ended") or now, end_of_day=True)
        invalid_at = min(invalid_at, now)
        history = [*record.history, {"event": "EXPIRE", "at": now, "why": item["why"]}]
        self._rewrite(record, {"status": EXPIRED, "invalid_at": invalid_at, "updated": now, "history": history})
        return [record.path]

    def _flag(self, item: PlanItem) -> list[str]:
        newer, older = self._unchanged(item["new"]), self._unchanged(item["old"])
        if not (newer.is_current and older.is_current):
            raise ConflictError("a memory of it is no longer current")
        if older.id in newer.may_conflict:
            return []
        self._rewrite(newer, {"may_conflict": [*newer.may_conflict, older.id]})
        return [newer.path]

    def _fold(self, item: PlanItem) -> list[str]:
        record = self._unchanged(item["memory"])
        if record.is_current:
            raise ConflictError(f"{record.id} is current again")
        source, target = self.core.vault.path(record.path), self.core.vault.path(str(item["to"]))
        if target.exists():
            raise ConflictError(f"{item['to']} exists already")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)  # one rename: the file is in one place or the other
        return [record.path, str(item["to"])]

    def _promote(self, item: PlanItem) -> list[str]:
        listed = self._listed_now(item)
        if not listed:
            raise ConflictError("none of its memories is current any more")
        summary = self._summary(str(item["entity"]), listed) if item.get("summary_by") else None
        block = notes.block(
            listed,
            with_texts=bool(item["with_texts"]),
            summary=summary,
            summary_by=item.get("summary_by") if summary else None,
        )
        if summary is None and item.get("summary_by"):  # no summary after all: the plain block's hash
            block = notes.block(listed, with_texts=bool(item["with_texts"]))
        path = self.core.vault.path(str(item["path"]))
        if item["action"] == "create":
            meta, body = notes.new_note(
                str(item["entity"]), list(item.get("aliases") or []), block, dict(item.get("scope") or {})
            )
            self.core.vault.create(str(item["path"]), markdown.render(meta, body))
        else:
            text, sha = self.core.vault.read(path)
            if sha != item.get("sha256"):
                raise ConflictError(f"{item['path']} was edited since the plan; run `mem consolidate` again")
            self.core.vault.replace(path, notes.with_block(text, block), expected_sha=sha)
        return [str(item["path"])]

    def _listed_now(self, item: PlanItem) -> list[notes.Listed]:
        """The memories that link the entity now: one merged or expired in this run (or since a
        saved plan) is left out, one that gained the link is in, so the block is what the next
        plan would want and a second run has nothing to do."""
        index = self.core.fresh()
        graph = self.core.graph(index)
        key = graph.resolve(str(item["entity"]))
        if key is None:
            return []
        now = self.core.clock().timestamp()
        return [notes.listed(r) for r in _linking(index.records(), graph.entities[key].mentions, now)]


def _linking(records: list[MemoryRecord], mentions: list[int], now: float) -> list[MemoryRecord]:
    """The current memories (not notes) among an entity's mentions."""
    return [
        records[p]
        for p in sorted(set(mentions))
        if records[p].kind == "memory" and records[p].is_current and not records[p].expired(now)
    ]


def _strength(item: PlanItem) -> tuple[float, float, float]:
    """How likely a possible conflict is: the head's P(update), then the rules' score, then the cosine."""
    features = item["features"]
    return (features.get("p_update", 0.0), features["rules_score"], features["cosine"])


def _public(item: PlanItem) -> PlanItem:
    return {k: v for k, v in item.items() if not k.startswith("_")} if isinstance(item, dict) else item


def _short(item: PlanItem) -> str:
    try:
        return _describe(item)
    except (KeyError, TypeError, AttributeError):
        return "(an item not as mem printed it)"


def _describe(item: PlanItem) -> str:
    if "keep" in item:
        return f"{item['keep']['id']} keeps {', '.join(m['id'] for m in item['merge'])}"
    if "new" in item:
        return f"{item['new']['id']} may replace {item['old']['id']}"
    if "entity" in item:
        return f"{item['action']} {item['path']}"
    if "to" in item:
        return f"{item['memory']['id']} -> {item['to']}"
    return f"{item['memory']['id']} ({item['why']})"


def _commit_message(done: list[str]) -> str:
    counts = {kind: sum(line.startswith(kind + ":") for line in done) for kind in KINDS}
    head = "mem consolidate: " + (", ".join(f"{kind} {n}" for kind, n in counts.items() if n) or "nothing")
    return head + ("\n\n" + "\n".join(f"- {line}" for line in done) if done else "")


def public_plan(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan as JSON shows it (no internal fields)."""
    return {**plan, "promote": [_public(i) for i in plan.get("promote", [])]}


_HEADINGS = {
    "merge": "Merge restatements (the others are superseded by the text kept)",
    "expire": "Expire (past their date: status expired, still in --all and history)",
    "conflicts": "Possible conflicts (into `mem review`; nothing decided here)",
    "fold": "Fold into memories/archive/ (no longer current; --all and --as-of still find them)",
    "promote": "Entity notes (a generated 'What mem knows' block; text outside it is never touched)",
}


def _line(text: object) -> str:
    """A memory's text on one line of the plan."""
    return " ".join(str(text).split())[:160]


def _item_lines(kind: str, item: PlanItem) -> list[str]:
    if kind == "merge":
        lines = [f"- keep {item['keep']['id']}: {_line(item['keep']['memory'])}"]
        return lines + [f"  - {m['id']}: {_line(m['memory'])}   ({m['why']})" for m in item["merge"]]
    if kind == "conflicts":
        return [
            f"- {item['new']['id']}: {_line(item['new']['memory'])}",
            f"  may replace {item['old']['id']}: {_line(item['old']['memory'])}   ({item['why']})",
        ]
    if kind == "promote":
        aliases = f"; aliases {', '.join(item['aliases'])}" if item.get("aliases") else ""
        return [f"- {item['action']} {item['path']}: linked from {len(item['memories'])} memories{aliases}"]
    if kind == "fold":
        return [f"- {item['memory']['id']} ({item['status']}): {item['memory']['path']} -> {item['to']}"]
    return [f"- {item['memory']['id']}: {_line(item['memory']['memory'])}   ({item['why']})"]


def plan_markdown(plan: dict[str, Any]) -> str:
    """The plan (or what an applied run did) as markdown: for a terminal and for .mem/consolidation.md."""
    applied = plan.get("applied")
    title = (
        "Consolidation: done" if applied else "Consolidation plan (dry run: nothing changed; --apply carries it out)"
    )
    out = [f"# {title}", ""]
    if plan.get("scope"):
        out += ["Scope: " + " ".join(f"{k}={v}" for k, v in plan["scope"].items()), ""]
    for kind in KINDS:
        items = plan.get(kind) or []
        if not items:
            continue
        out += [f"## {_HEADINGS[kind]}: {len(items)}", ""]
        for item in items:
            out += _item_lines(kind, item)
        out.append("")
    if not any(plan.get(kind) for kind in KINDS):
        out += ["Nothing to consolidate.", ""]
    for note in plan.get("notes") or []:
        out += [f"Note: {note}", ""]
    if plan.get("skipped_files"):
        out += ["## Files consolidated around (unreadable)", ""]
        out += [f"- {f['path']}: {f['reason']}" for f in plan["skipped_files"]] + [""]
    if applied:
        out += [f"Done: {len(plan.get('done') or [])} change(s)."]
        out += [f"- {line}" for line in plan.get("skipped") or []]
    return "\n".join(out).rstrip() + "\n"
