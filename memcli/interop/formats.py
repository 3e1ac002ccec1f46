"""Export and import: mem's own JSONL/JSON, Mem0's get_all JSON, the MCP memory server's
memory.json, and a markdown digest. Pure: records in, text out; text in, plain items out."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from memcli.errors import InvalidInputError
from memcli.guard.inputs import MAX_NESTING
from memcli.guard.outputs import escape_invisible
from memcli.interop.digest import digest
from memcli.models import MemoryRecord

FORMATS = ("jsonl", "json", "mem0", "markdown")
MAX_DEPTH = MAX_NESTING  # of nested lists and maps in a file to import: a memory item needs 3 or 4


def _own(record: MemoryRecord) -> dict[str, Any]:
    chain = {  # the supersede chain, when there is one
        key: value
        for key, value in (
            ("supersedes", list(record.supersedes)),
            ("superseded_by", record.superseded_by),
            ("invalid_at", record.invalid_at),
        )
        if value
    }
    return {
        "id": record.id,
        "memory": record.text,
        "user_id": record.user,
        "agent_id": record.agent,
        "run_id": record.run,
        "tags": list(record.tags),
        "metadata": dict(record.metadata),
        "created_at": record.created,
        "updated_at": record.updated,
        "status": record.status,
        "source": record.source,
        "history": list(record.history),
        **chain,
    }


def _dumps(data: Any, indent: int | None = None) -> str:
    """JSON that keeps every character (an export must round-trip) yet shows a terminal or an
    editor no control or bidi character: those are written as \\u escapes."""
    return escape_invisible(json.dumps(data, ensure_ascii=False, indent=indent))


def export(records: list[MemoryRecord], fmt: str) -> str:
    """Memories (not hand-written notes) in one of FORMATS. mem0 and markdown hold current ones only."""
    memories = [r for r in records if r.kind == "memory"]
    if fmt == "jsonl":
        return "".join(_dumps(_own(r)) + "\n" for r in memories)
    if fmt == "json":
        return _dumps([_own(r) for r in memories], indent=2) + "\n"
    current = [r for r in memories if r.is_current]
    if fmt == "mem0":
        return _dumps({"results": [r.to_result() for r in current]}, indent=2) + "\n"
    if fmt == "markdown":
        return digest(sorted(current, key=lambda r: (-r.time, r.id)), budget=10**9, title="Memories")[0]
    raise InvalidInputError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")


@dataclass
class Incoming:
    """What an import file holds, in mem's terms."""

    format: str
    memories: list[dict[str, Any]] = field(default_factory=list)  # with a stable "id"
    entities: list[dict[str, Any]] = field(default_factory=list)  # {"name", "type"}
    relations: list[tuple[str, str, str]] = field(default_factory=list)  # (from, relation, to)


def _stable_id(*parts: str) -> str:
    """The same foreign record always gets the same mem id: importing twice adds nothing."""
    return "m-" + hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:10]


def _loads(text: str) -> Any:
    """json.loads, refusing data nested deeper than MAX_DEPTH: deeper, json.loads itself (or
    writing the YAML later) stops with a RecursionError."""
    too_deep = InvalidInputError(
        f"the JSON is nested more than {MAX_DEPTH} levels deep; mem imports at most {MAX_DEPTH}"
    )
    try:
        data = json.loads(text)
    except RecursionError:
        raise too_deep from None
    pending = [(data, 1)]
    while pending:  # a loop, not recursion: the check must not hit the limit it guards
        value, depth = pending.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        if depth > MAX_DEPTH:
            raise too_deep
        pending.extend((child, depth + 1) for child in children)
    return data


def json_lines(text: str) -> list[Any]:
    """One JSON value a line (JSONL); a bad line is named by its number."""
    items = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                items.append(_loads(line))
            except json.JSONDecodeError as err:
                raise InvalidInputError(f"line {number} is not JSON ({err.msg})") from None
    return items


def json_list_or_lines(stripped: str, what: str = "not valid JSON") -> Any:
    """A JSON document when the text starts with '[', else JSONL; `what` opens the error."""
    if not stripped.startswith("["):
        return json_lines(stripped)
    try:
        return _loads(stripped)
    except json.JSONDecodeError as err:
        raise InvalidInputError(f"{what} (line {err.lineno}: {err.msg})") from None


def parse(text: str) -> Incoming:
    """Recognise the format and turn it into plain items."""
    stripped = text.strip()
    if not stripped:
        raise InvalidInputError("the import file is empty")
    if stripped.startswith("{"):
        try:
            data = _loads(stripped)
        except json.JSONDecodeError as err:
            if "\n" not in stripped:
                raise InvalidInputError(f"not valid JSON (line {err.lineno}: {err.msg})") from None
            data = None  # one JSON object a line
        if isinstance(data, dict) and isinstance(data.get("results"), list):
            return _from_mem0(data["results"])
        items = [data] if data is not None else json_lines(stripped)
    else:
        items = json_list_or_lines(stripped)
    if items and all(isinstance(i, dict) and i.get("type") in ("entity", "relation") for i in items):
        return _from_mcp_memory(items)
    if all(isinstance(i, dict) and "memory" in i for i in items):
        return Incoming("mem", memories=[_own_item(i) for i in items])
    raise InvalidInputError(
        "unknown import format: expected mem's JSONL/JSON, Mem0's get_all JSON ({\"results\": [...]}) "
        "or the MCP memory server's memory.json"
    )


def _own_item(item: dict[str, Any]) -> dict[str, Any]:
    memory_id = item.get("id") or _stable_id("mem", str(item.get("memory")), str(item.get("created_at")))
    return {**item, "id": memory_id}


def _from_mem0(results: list[Any]) -> Incoming:
    memories = []
    for item in results:
        if not isinstance(item, dict) or not isinstance(item.get("memory"), str):
            raise InvalidInputError('every Mem0 result needs a "memory" text')
        foreign = str(item.get("id") or item["memory"])
        memories.append({**item, "id": _stable_id("mem0", foreign), "source": f"mem0:{foreign}"})
    return Incoming("mem0", memories=memories)


def _from_mcp_memory(items: list[dict[str, Any]]) -> Incoming:
    incoming = Incoming("mcp-memory")
    for item in items:
        if item["type"] == "entity":
            name = str(item.get("name", "")).strip()
            if not name:
                raise InvalidInputError("an entity in memory.json has no name")
            incoming.entities.append({"name": name, "type": item.get("entityType")})
            for observation in item.get("observations") or []:
                incoming.memories.append(
                    {
                        "id": _stable_id("mcp", name, str(observation)),
                        "memory": f"[[{name}]] {observation}",
                        "source": "mcp-memory",
                    }
                )
        else:
            incoming.relations.append((str(item.get("from")), str(item.get("relationType")), str(item.get("to"))))
    return incoming


def load_messages(text: str) -> list[dict[str, Any]]:
    """A conversation from JSON (a list of messages) or JSONL (one message a line)."""
    messages = json_list_or_lines(text.strip(), "messages are not valid JSON")
    if not isinstance(messages, list):
        raise InvalidInputError('messages must be a JSON list of {"role", "content"} items')
    return messages
