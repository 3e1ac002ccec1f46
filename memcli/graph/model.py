"""The entity graph, built from [[wiki-links]]: entities, who mentions them, typed relations,
neighbours. Pure: records in, graph out (rebuilt with the index, so it lives in .mem/ too)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from memcli.config import ENTITIES_DIR
from memcli.models import MemoryRecord
from memcli.vault.links import WIKILINK, without_code

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


def build(records: list[MemoryRecord]) -> Graph:
    """Every link target and every note under entities/ is an entity; dangling links count too."""
    graph = Graph(record_entities=[[] for _ in records])
    for position, record in enumerate(records):
        if record.path.startswith(f"{ENTITIES_DIR}/"):
            name = record.path.rsplit("/", 1)[-1][:-3]  # the file name: what links and renames use
            key = entity_key(name)
            entity = graph.entities.setdefault(key, Entity(name))
            entity.name, entity.type, entity.note = name, record.entity_type, position
            for alias in record.aliases:
                graph.aliases[entity_key(alias)] = key
    for position, record in enumerate(records):
        source = (
            graph.resolve(records[position].title or "")
            if graph.entities and record.path.startswith(f"{ENTITIES_DIR}/")
            else None
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


def relations_of(graph: Graph, records: list[MemoryRecord], positions: list[int]) -> list[dict[str, str]]:
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


def spread(
    graph: Graph, scores: np.ndarray, hops: int = 2, decay: float = 0.7, width: int = 5, strong: float = 0.6
) -> np.ndarray:
    """Evidence that flows along links: the best `width` records lend `decay` of their score to
    every record linked to the same entities, and those lend on for `hops` steps in all. So
    "what database does Ana's project use?" reaches "[[Falcon]] uses [[PostgreSQL]]" from
    "[[Ana]] works on [[Falcon]]". Only hits within `strong` of the best lend: a weak match
    spreading would pull in whatever shares an entity with it."""
    extra = np.zeros_like(scores)
    carried = scores.copy()
    for _ in range(hops):
        floor = strong * float(carried.max()) if carried.size else 0.0
        frontier = [int(r) for r in np.argsort(-carried)[:width] if carried[r] > 0 and carried[r] >= floor]
        reached = np.zeros_like(scores)
        for record in frontier:
            lent = carried[record] * decay
            for key in graph.record_entities[record]:
                entity = graph.entities[key]
                for other in entity.mentions + ([entity.note] if entity.note is not None else []):
                    if other != record and lent > reached[other]:
                        reached[other] = lent
        extra = np.maximum(extra, reached)
        carried = reached
        if not carried.any():
            break
    return extra


_PROTECTED = re.compile(r"```.*?```|`[^`\n]*`|\[\[[^\]]*\]\]|https?://\S+|www\.\S+|\S+@\S+\.\w+", re.DOTALL)


def autolink(text: str, graph: Graph) -> str:
    """Turn the first mention of each known entity (name or alias, whole words, any case) into a
    [[link]]; never inside code, URLs, e-mail addresses or existing links."""
    names: list[tuple[str, str]] = [(e.name, e.name) for e in graph.entities.values()]
    names += [(alias, graph.entities[key].name) for alias, key in graph.aliases.items()]
    names = sorted({(n, c) for n, c in names if len(n.strip()) >= 3}, key=lambda p: -len(p[0]))
    for spoken, canonical in names:
        protected = [m.span() for m in _PROTECTED.finditer(text)]
        words = r"[\s_\-]+".join(re.escape(part) for part in re.split(r"[\s_\-]+", spoken.strip()))
        for match in re.finditer(rf"(?<![\w\[]){words}(?![\w\]])", text, re.IGNORECASE):
            if any(start <= match.start() < end for start, end in protected):
                continue
            found = match.group(0)
            link = f"[[{canonical}]]" if found == canonical else f"[[{canonical}|{found}]]"
            if f"[[{canonical}" in text:
                break  # already linked somewhere: first mention only
            text = text[: match.start()] + link + text[match.end() :]
            break
    return text


def rename_links(text: str, graph: Graph, old_key: str, new_name: str) -> tuple[str, int]:
    """Every [[link]] in the text that resolves to the entity `old_key`, pointed at `new_name`
    (labels, headings and block refs kept). Returns the new text and how many links changed."""
    count = 0
    masked = without_code(text)  # a link shown inside code is an example, not a link

    def swap(match: re.Match[str]) -> str:
        nonlocal count
        if masked[match.start()] != text[match.start()]:
            return match.group(0)
        target = match.group(2)
        key = entity_key(target)
        if graph.aliases.get(key, key) != old_key:
            return match.group(0)
        count += 1
        return f"{match.group(1)}[[{new_name}{match.group(3) or ''}{'|' + match.group(4) if match.group(4) is not None else ''}]]"

    return WIKILINK.sub(swap, text), count
