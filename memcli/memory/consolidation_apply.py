"""Carrying a consolidation plan out (memory/consolidation.py makes the plan): under the writer
lock, each file checked against the sha256 it was planned on, each write atomic, one commit.
Also the shapes both halves share: how a plan names a memory, the archive folder, what links."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from memcli.config import CONSOLIDATION_KINDS, MEMORIES_DIR
from memcli.errors import ConflictError, MemError
from memcli.graph import notes
from memcli.graph.model import entity_key
from memcli.infer.llm import ChatClient, LLMError
from memcli.memory.core import Core
from memcli.models import CURRENT, SUPERSEDED, MemoryRecord, timestamp
from memcli.vault import markdown

log = logging.getLogger(__name__)

KINDS = CONSOLIDATION_KINDS
EXPIRED = "expired"
ARCHIVE_DIR = f"{MEMORIES_DIR}/archive"
SUMMARY_CHARS = 800  # an LLM's summary of an entity is cut to this
PlanItem = dict[str, Any]


def ref(record: MemoryRecord) -> dict[str, Any]:
    """A memory as a plan names it: enough to show it, and the sha256 to check it against."""
    return {"id": record.id, "memory": record.text, "path": record.path, "sha256": record.sha256, **scope_of(record)}


def scope_of(record: MemoryRecord) -> dict[str, str]:
    return {key: value for key, value in record.scope().items() if value is not None}


def moment(value: str | None) -> datetime | None:
    """An ISO time from frontmatter as an aware datetime (models.timestamp reads it), or None."""
    seconds = timestamp(value)
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds else None


def archived(relpath: str) -> str:
    return f"{ARCHIVE_DIR}/{relpath.rsplit('/', 1)[-1]}"


def summariser(core: Core) -> tuple[str, ChatClient] | None:
    """The optional LLM that summarises an entity note's block: (model name, client), or None."""
    s = core.settings
    if not (s.llm_base_url and s.llm_model):
        return None
    return s.llm_model, ChatClient(s.llm_base_url, s.llm_model, s.llm_api_key, s.llm_timeout)


class Applier:
    """Applies the items of a plan, kind by kind, and says what it did and what it skipped."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def apply(self, plan: dict[str, Any], kinds: tuple[str, ...]) -> dict[str, Any]:
        """Carry out the plan's items of `kinds`, in KINDS order, under the writer lock; returns
        the plan with "applied", "done" (a line per change) and "skipped" (a line per item not done)."""
        core = self.core
        done: list[str] = []
        skipped: list[str] = []
        if not any(plan.get(kind) for kind in kinds):  # nothing to do: no lock taken, no vault made
            return _result(plan, done, skipped)
        written: list[str] = []
        indexed = 0  # how much of `written` the index has seen

        def index_so_far() -> None:
            """What this run wrote, indexed before a step that reads the index (fold, promote)."""
            nonlocal indexed
            if len(written) > indexed:
                core.index_written(written[indexed:])
                indexed = len(written)

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
                if kind == "promote":
                    index_so_far()  # a block lists the memories as this run left them
                for item in plan.get(kind, []):
                    paths = _carried_out(kind, step, item, skipped)
                    if paths is None:
                        continue
                    written += paths
                    done.append(f"{kind}: {_short(item)}")
                    if kind == "merge":
                        retired += [str(m["id"]) for m in item["merge"]]
                    elif kind == "expire":
                        retired.append(str(item["memory"]["id"]))
                if kind == "fold":  # what this run took out of use folds with the rest
                    index_so_far()
                    self._fold_retired(plan, retired, written, done)
            core.autocommit(list(dict.fromkeys(written)), _commit_message(done))
        index_so_far()
        return _result(plan, done, skipped)

    def _fold_retired(self, plan: dict[str, Any], retired: list[str], written: list[str], done: list[str]) -> None:
        """Fold what this run merged away or expired (so a second run plans nothing)."""
        folded = {
            str(item["memory"]["id"])
            for item in plan.get("fold", [])
            if isinstance(item, dict) and isinstance(item.get("memory"), dict)
        }
        for record in self._no_longer_current(retired, folded):
            item = {"memory": ref(record), "status": record.status, "to": archived(record.path)}
            written += self._fold(item)
            done.append(f"fold: {_short(item)}")

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
        if any(scope_of(o) != scope_of(keep) for o in others):
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
        ended = moment(item.get("ended")) if len(str(item.get("ended") or "")) > 10 else None
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
        return [notes.listed(r) for r in linking(index.records(), graph.entities[key].mentions, now)]

    def _summary(self, name: str, listed: list[notes.Listed]) -> str | None:
        """With an LLM configured: a few sentences on what the memories say about `name`."""
        summarise = summariser(self.core)
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


def linking(records: Sequence[MemoryRecord], mentions: list[int], now: float) -> list[MemoryRecord]:
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


def _carried_out(
    kind: str, step: Callable[[PlanItem], list[str]], item: PlanItem, skipped: list[str]
) -> list[str] | None:
    """The paths one item's step wrote, or None (and a line in `skipped`) when it could not be done."""
    try:
        return step(item)
    except (ConflictError, MemError, OSError) as err:
        skipped.append(f"{kind}: {_short(item)}: skipped, {err}")
    except (KeyError, TypeError, AttributeError):  # a saved plan edited by hand
        skipped.append(f"{kind}: skipped an item that is not one `mem consolidate --json` printed")
    return None


def _result(plan: dict[str, Any], done: list[str], skipped: list[str]) -> dict[str, Any]:
    """What an applied run returns: the plan as shown, with a line per change and per item skipped."""
    return {**public_plan(plan), "applied": True, "done": done, "skipped": skipped}


def public(item: PlanItem) -> PlanItem:
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
    return {**plan, "promote": [public(i) for i in plan.get("promote", [])]}
