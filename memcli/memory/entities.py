"""Memory's entity-graph views and the one bulk rewrite: entities, graph, rename_entity.
Takes the Memory's Core: it uses the index, the vault and the pure graph module."""

from __future__ import annotations

import os
from typing import Any

from memcli.config import ENTITIES_DIR
from memcli.errors import InvalidInputError, NotFoundError
from memcli.graph.rewrite import rename_links as graph_rename_links
from memcli.guard.inputs import check_name
from memcli.guard.secrets import refuse
from memcli.memory.core import Core
from memcli.vault import markdown
from memcli.vault.files import entity_file


class Entities:
    """Entity listing, neighbourhoods and renames over the vault's [[links]]."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def entities(self) -> dict[str, Any]:
        """Every entity: name, type, how many records link to it, whether it has a note."""
        index = self.core.fresh()
        graph = self.core.graph(index)
        rows: list[dict[str, Any]] = [
            {
                "name": e.name,
                "type": e.type,
                "mentions": len(e.mentions),
                "note": index.records()[e.note].path if e.note is not None else None,
            }
            for e in graph.entities.values()
        ]
        rows.sort(key=lambda r: (-r["mentions"], r["name"].casefold()))
        return {"results": rows}

    def graph(self, entity: str | None = None, depth: int = 1) -> dict[str, Any]:
        """An entity's neighbourhood up to `depth` hops ({"nodes", "edges"}), or with no entity the
        20 best-connected entities and the edges between them."""
        if not 1 <= depth <= 5:
            raise InvalidInputError("depth must be between 1 and 5")
        index = self.core.fresh()
        graph = self.core.graph(index)
        start: str | None = None
        if entity is None:
            ranked = sorted(graph.entities, key=lambda k: (-len(graph.entities[k].mentions), k))[:20]
            keys = set(ranked)
        else:
            start = graph.resolve(entity)
            if start is None:
                raise NotFoundError(f"no entity named {entity!r}; see `mem entities`")
            keys, frontier = {start}, {start}
            for _ in range(depth):
                frontier = {n for k in frontier for n in graph.neighbours(k)} - keys
                keys |= frontier
        notes = {e.note for e in graph.entities.values() if e.note is not None}
        pairs: dict[tuple[str, str], tuple[str, str, str]] = {}
        for position, linked in enumerate(graph.record_entities):
            if position in notes:  # an entity note links *from* its entity, not among its targets
                continue
            for left in linked:
                for right in linked:
                    if left < right and left in keys and right in keys:
                        pairs.setdefault((left, right), (left, "linked", right))
        for source, relation, target, _ in graph.relations:
            if source in keys and target in keys:
                pairs[(min(source, target), max(source, target))] = (
                    source,
                    relation,
                    target,
                )  # a typed relation says more
        edges = [
            {"source": graph.entities[a].name, "relationship": rel, "target": graph.entities[b].name}
            for a, rel, b in pairs.values()
        ]
        nodes = [
            {
                "name": graph.entities[k].name,
                "type": graph.entities[k].type,
                "mentions": len(graph.entities[k].mentions),
            }
            for k in sorted(keys)
        ]
        return {"root": graph.entities[start].name if start is not None else None, "nodes": nodes, "edges": edges}

    def rename_entity(self, old: str, new: str, *, apply: bool = False) -> dict[str, Any]:
        """Point every link to entity `old` (any spelling or alias) at `new`, and rename its note.
        Without `apply`, only the plan: {"changes": [{"path", "links"}], "note": (from, to)|None}.
        Each file is rewritten atomically, under the writer lock, if unchanged since it was read."""
        new = check_name(new, "the new name")
        if any(ch in new for ch in "[]|#^/\\"):
            raise InvalidInputError("the new name must be plain text without [ ] | # ^ / or line breaks")
        refuse({"entity name": new})  # it becomes a file name and every [[link]]
        index = self.core.fresh()
        graph = self.core.graph(index)
        key = graph.resolve(old)
        if key is None:
            raise NotFoundError(f"no entity named {old!r}; see `mem entities`")
        entity = graph.entities[key]
        plan: list[dict[str, Any]] = []
        linking = sorted(set(entity.mentions))  # only files whose links resolve to it can change
        for record in (index.records()[position] for position in linking):
            text, sha = self.core.vault.read(self.core.vault.path(record.path))
            changed, count = graph_rename_links(text, graph, key, new)
            if count:
                plan.append({"path": record.path, "links": count, "_text": changed, "_sha": sha})
        note: tuple[str, str] | None = None
        if entity.note is not None:
            source = index.records()[entity.note].path
            note = (source, f"{ENTITIES_DIR}/{entity_file(new)}")
            if (self.core.vault.root / note[1]).exists() and note[1] != source:
                raise InvalidInputError(f"{note[1]} already exists; merge the two notes by hand first")
        result = {
            "entity": entity.name,
            "new": new,
            "changes": [{"path": p["path"], "links": p["links"]} for p in plan],
            "note": note,
        }
        if not apply:
            return result
        written: list[str] = []
        with self.core.vault.lock():
            for item in plan:
                self.core.vault.replace(self.core.vault.path(item["path"]), item["_text"], expected_sha=item["_sha"])
                written.append(item["path"])
            if note and note[0] != note[1]:
                assert entity.note is not None
                note_path = self.core.vault.path(note[0])
                text, sha = self.core.vault.read(note_path)
                aliases = [*index.records()[entity.note].aliases, entity.name]  # old mentions still resolve
                self.core.vault.replace(note_path, markdown.set_keys(text, {"aliases": aliases}), expected_sha=sha)
                os.replace(note_path, self.core.vault.path(note[1]))
                written += [note[0], note[1]]
            self.core.autocommit(written, f"mem: rename entity {entity.name} -> {new}")
        self.core.index_written(written)
        return {**result, "applied": True}
