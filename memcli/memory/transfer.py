"""Memory's export and import (formats in portable.py): writing imported memories, entity notes
and typed relations. A mixin of Memory (service.py)."""

from __future__ import annotations

from typing import Any

from memcli.config import ENTITIES_DIR, MEMORIES_DIR
from memcli.errors import InvalidInputError
from memcli.guard.inputs import check_plain, check_text
from memcli.guard.secrets import guard as guard_secrets
from memcli.index.engine import Progress
from memcli.interop import formats as portable
from memcli.models import CURRENT, check_id
from memcli.vault import markdown
from memcli.vault.files import slug
from memcli.vault.markdown import as_str


def entity_file(name: str) -> str:
    """A file name for an entity note: its name, without characters that would leave the folder."""
    safe = "".join(ch for ch in name if ch not in '/\\:*?"<>|\x00').strip(" .")[:120]
    return f"{safe or 'entity'}.md"


class Exchange:
    """Export every memory; import mem, Mem0 and MCP-memory files idempotently."""

    def export(self, fmt: str = "jsonl") -> str:
        """Every memory as text: jsonl | json (all statuses, history included) | mem0 | markdown (current)."""
        return portable.export(self.scan()[0], fmt)

    def import_text(self, text: str, *, progress: Progress | None = None, redact: bool | None = None) -> dict[str, Any]:
        """Import mem's JSONL/JSON, Mem0's get_all JSON or the MCP memory server's memory.json.
        Idempotent: records keep (or get stable) ids, so importing twice adds nothing."""
        incoming = portable.parse(text)
        hide = self.settings.redact_secrets if redact is None else redact
        index = self._fresh_index()
        known = set(index.by_id)
        written: list[str] = []
        summary = {"format": incoming.format, "added": 0, "skipped": 0, "entities": 0, "relations": 0}
        with self.vault.lock():
            for done, item in enumerate(incoming.memories, 1):
                memory_id = check_id(str(item["id"]))
                if memory_id in known:
                    summary["skipped"] += 1
                else:
                    written.append(self._write_imported(memory_id, item, hide))
                    known.add(memory_id)
                    summary["added"] += 1
                if progress:
                    progress("import", done, len(incoming.memories))
            for entity in incoming.entities:
                path = self._entity_note(entity["name"], entity.get("type"))
                if path:
                    written.append(path)
                    summary["entities"] += 1
            for source, relation, target in incoming.relations:
                path = self._relate(source, relation, target)
                if path:
                    written.append(path)
                    summary["relations"] += 1
            self._autocommit(written, f"mem: import {summary['added']} memories ({incoming.format})")
        self.reindex(paths=written)
        return summary

    def _write_imported(self, memory_id: str, item: dict[str, Any], hide: bool) -> str:
        text = guard_secrets(check_text(item.get("memory")), redact_secrets=hide)
        scope = self._scope(item.get("user_id"), item.get("agent_id"), item.get("run_id"))
        metadata = self._guard_metadata(item.get("metadata") or None, hide)
        if metadata is not None and not isinstance(metadata, dict):
            raise InvalidInputError(f"metadata of {memory_id} must be a mapping")
        check_plain(metadata or {}, "metadata")
        now = self._now()
        status = str(item.get("status") or CURRENT)
        meta = {
            "id": memory_id,
            "created": as_str(item.get("created_at")) or now,
            "updated": as_str(item.get("updated_at")) or as_str(item.get("created_at")) or now,
            **scope,
            "tags": [str(t) for t in item.get("tags") or []] or None,
            "metadata": metadata or None,
            "source": as_str(item.get("source")) or "import",
            "status": None if status == CURRENT else status,
            "history": item.get("history") or None,
            "supersedes": [str(i) for i in item.get("supersedes") or []] or None,
            "superseded_by": as_str(item.get("superseded_by")),
            "invalid_at": as_str(item.get("invalid_at")),
        }
        relpath = f"{MEMORIES_DIR}/{slug(text)}-{memory_id}.md"
        self.vault.create(relpath, markdown.render(meta, text + "\n"))
        return relpath

    def _entity_note(self, name: str, kind: str | None) -> str | None:
        """entities/<name>.md for an imported entity, unless it exists. Returns the path written."""
        relpath = f"{ENTITIES_DIR}/{entity_file(name)}"
        if (self.vault.root / relpath).exists():
            return None
        self.vault.create(relpath, markdown.render({"type": kind} if kind else {}, f"# {name}\n"))
        return relpath

    def _relate(self, source: str, relation: str, target: str) -> str | None:
        """A typed relation `- relation [[target]]` in the source entity's note, once."""
        relpath = f"{ENTITIES_DIR}/{entity_file(source)}"
        path = self.vault.root / relpath
        line = f"- {relation.strip().replace(' ', '_')} [[{target}]]"
        if not path.exists():
            self.vault.create(relpath, markdown.render({}, f"# {source}\n\n{line}\n"))
            return relpath
        text, sha = self.vault.read(path)
        if line in text.splitlines():
            return None
        body = markdown.split(text)[1]
        self.vault.replace(
            path, markdown.set_keys(text, {}, body=body.rstrip("\n") + "\n" + line + "\n"), expected_sha=sha
        )
        return relpath
