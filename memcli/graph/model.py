"""The entity graph, built from [[wiki-links]]: entities, who mentions them, typed relations,
neighbours. Pure: records in, graph out (rebuilt with the index, so it lives in .mem/ too)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from memcli.config import ENTITIES_DIR
from memcli.models import MemoryRecord

_SEPARATORS = re.compile(r"[\s_\-]+")
_BETWEEN = re.compile(r"\]\]\s*(.*?)\s*\[\[")


def entity_key(name: str) -> str:
    """Names that mean the same entity share a key: case, and kebab/snake vs spaces, do not matter."""
    return _SEPARATORS.sub(" ", name.strip().casefold()).strip()


@dataclass
class Entity:
    name: str  # the display name: its note's title, else the first spelling seen
    type: str | None = None
    note: int | None = None  # index of its entity note among the records
    mentions: list[int] = field(default_factory=list)  # records linking to it


@dataclass
class Graph:
    entities: dict[str, Entity] = field(default_factory=dict)  # key -> entity
    aliases: dict[str, str] = field(default_factory=dict)  # alias key -> entity key
    record_entities: list[list[str]] = field(default_factory=list)  # per record: entity keys it links
    relations: list[tuple[str, str, str, int]] = field(
        default_factory=list
    )  # (source key, relation, target key, record)

    def resolve(self, name: str) -> str | None:
        key = entity_key(name)
        key = self.aliases.get(key, key)
        return key if key in self.entities else None

    def neighbours(self, key: str) -> set[str]:
        """Entities one hop away: linked from the same record, or by a relation."""
        found: set[str] = set()
        entity = self.entities[key]
        for record in entity.mentions + ([entity.note] if entity.note is not None else []):
            found.update(self.record_entities[record])
        for source, _, target, _ in self.relations:
            if source == key:
                found.add(target)
            elif target == key:
                found.add(source)
        found.discard(key)
        return found


def build(records: Sequence[MemoryRecord], linked: Iterable[int] | None = None) -> Graph:
    """Every link target and every note under entities/ is an entity; dangling links count too.
    `linked`: the positions of the records with a link, an alias or an entity type and of the
    notes under entities/ (the index knows them): only those are read, each once."""
    graph = Graph(record_entities=[[] for _ in range(len(records))])
    positions = range(len(records)) if linked is None else linked
    read = [(position, records[position]) for position in positions]
    for position, record in read:
        if record.path.startswith(f"{ENTITIES_DIR}/"):
            name = record.path.rsplit("/", 1)[-1][:-3]  # the file name: what links and renames use
            key = entity_key(name)
            entity = graph.entities.setdefault(key, Entity(name))
            entity.name, entity.type, entity.note = name, record.entity_type, position
            for alias in record.aliases:
                graph.aliases[entity_key(alias)] = key
    for position, record in read:
        source = (
            graph.resolve(record.title or "") if graph.entities and record.path.startswith(f"{ENTITIES_DIR}/") else None
        )
        for link in record.links:
            key = graph.aliases.get(entity_key(link["target"] or ""), entity_key(link["target"] or ""))
            if not key:
                continue
            entity = graph.entities.setdefault(key, Entity(link["target"] or key))
            if position not in entity.mentions:
                entity.mentions.append(position)
            if key not in graph.record_entities[position]:
                graph.record_entities[position].append(key)
            if link.get("relation") and source:
                graph.relations.append((source, str(link["relation"]), key, position))
    return graph


def relations_of(graph: Graph, records: Sequence[MemoryRecord], positions: list[int]) -> list[dict[str, str]]:
    """Mem0-shaped relations for search hits: typed relations of entity notes, and for a memory
    linking two entities, the words between the links ("works on" -> works_on)."""
    out: list[dict[str, str]] = []
    seen: set[tuple[str, str, str]] = set()

    def add(source: str, relation: str, target: str) -> None:
        triple = (graph.entities[source].name, relation, graph.entities[target].name)
        if triple not in seen:
            seen.add(triple)
            out.append({"source": triple[0], "relationship": triple[1], "target": triple[2]})

    wanted = set(positions)
    for source, relation, target, record in graph.relations:
        if record in wanted:
            add(source, relation, target)
    for position in positions:
        keys = graph.record_entities[position]
        if records[position].path.startswith(f"{ENTITIES_DIR}/") or len(keys) < 2:
            continue
        between = _BETWEEN.search(records[position].text)
        words = re.findall(r"[A-Za-z]+", between.group(1).casefold()) if between else []
        relation = "_".join(words[:4]) if 0 < len(words) <= 4 else "related_to"
        add(keys[0], relation, keys[1])
    return out
