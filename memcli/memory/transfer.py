"""Export and import (the formats are interop/formats.py): writing imported memories, entity notes
and typed relations. Takes the Memory's Core."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memcli.config import ENTITIES_DIR, MEMORIES_DIR
from memcli.errors import InvalidInputError, MemError, VaultError
from memcli.guard.inputs import check_name, check_plain, check_scopes, check_text
from memcli.guard.secrets import guard as guard_secrets
from memcli.guard.secrets import guard_mapping, guard_value, refuse
from memcli.interop import formats
from memcli.memory.core import Core
from memcli.models import CURRENT, check_id
from memcli.vault import markdown
from memcli.vault.files import entity_file, slug
from memcli.vault.records import as_str

if TYPE_CHECKING:
    from memcli.index.core import Progress


class Transfer:
    """Export every memory; import mem, Mem0 and MCP-memory files idempotently."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def export(self, fmt: str = "jsonl") -> str:
        """Every memory as text: jsonl | json (all statuses, history included) | mem0 | markdown (current)."""
        return formats.export(self.core.scan()[0], fmt)

    def import_text(self, text: str, *, progress: Progress | None = None, redact: bool | None = None) -> dict[str, Any]:
        """Import mem's JSONL/JSON, Mem0's get_all JSON or the MCP memory server's memory.json.
        Idempotent: records keep (or get stable) ids, so importing twice adds nothing."""
        incoming = formats.parse(text)
        hide = self.core.settings.redact_secrets if redact is None else redact
        for entity in incoming.entities:  # names become file names and [[links]]: refused, never redacted
            check_name(entity["name"], "entity name")
            if entity.get("type") is not None:
                check_name(entity["type"], "entity type")
            refuse({"entity name": entity["name"], "entity type": entity.get("type")})
        for source, relation, target in incoming.relations:
            for value, what in ((source, "relation source"), (relation, "relation type"), (target, "relation target")):
                check_name(value, what)
            refuse({"relation source": source, "relation type": relation, "relation target": target})
        index = self.core.fresh()
        known = {record.id for record in index.records()}
        summary: dict[str, Any] = {"format": incoming.format, "added": 0, "skipped": 0, "entities": 0, "relations": 0}
        # All or nothing for what the file holds: every item is checked and rendered before the
        # first is written, so a bad item midway leaves the vault as it was (the items before it
        # were written, then neither committed nor indexed).
        planned: list[tuple[str, str]] = []
        for number, item in enumerate(incoming.memories, 1):
            try:
                memory_id = check_id(str(item["id"]))
                if memory_id in known:
                    summary["skipped"] += 1
                    continue
                planned.append(self._render_imported(memory_id, item, hide))
            except MemError as err:  # the class is kept (SecretFoundError, say), the item named
                raise type(err)(f"item {number} of the file: {err}; nothing was imported") from None
            known.add(memory_id)
        written: list[str] = []
        failure: Exception | None = None
        with self.core.vault.lock():
            try:
                self._write_all(incoming, planned, written, summary, progress)
            except (MemError, OSError) as err:  # a full disk, a file changed under us: keep what is written
                failure = err
            self.core.autocommit(written, f"mem: import {summary['added']} memories ({incoming.format})")
        self.core.index_written(written)
        if failure is not None:
            raise VaultError(
                f"import stopped after saving {summary['added']} of {len(planned)} new memories: {failure}; "
                "import the file again once fixed (what is already here is skipped)"
            ) from None
        return summary

    def _write_all(
        self,
        incoming: formats.Incoming,
        planned: list[tuple[str, str]],
        written: list[str],
        summary: dict[str, Any],
        progress: Progress | None,
    ) -> None:
        """Write the checked memories, then entity notes and relations, noting each path in `written`."""
        for done, (relpath, text) in enumerate(planned, 1):
            self.core.vault.create(relpath, text)
            written.append(relpath)
            summary["added"] += 1
            if progress:
                progress("import", done, len(planned))
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

    def _render_imported(self, memory_id: str, item: dict[str, Any], hide: bool) -> tuple[str, str]:
        """(relpath, file text) of an imported memory, checked as a write would check it."""
        text = guard_secrets(check_text(item.get("memory")), redact_secrets=hide)
        scope = check_scopes(item.get("user_id"), item.get("agent_id"), item.get("run_id"), item.get("app_id"))
        metadata = guard_mapping(item.get("metadata") or None, redact_secrets=hide)
        if metadata is not None and not isinstance(metadata, dict):
            raise InvalidInputError(f"metadata of {memory_id} must be a mapping")
        check_plain(metadata or {}, "metadata")
        now = self.core.now()
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
            # old texts, as the text: redacted when asked
            "history": guard_value(item.get("history") or None, redact_secrets=hide, what="history"),
            "supersedes": [str(i) for i in item.get("supersedes") or []] or None,
            "superseded_by": as_str(item.get("superseded_by")),
            "invalid_at": as_str(item.get("invalid_at")),
        }
        refuse(
            {
                "id": memory_id,
                **{f"{key} id": value for key, value in scope.items()},
                "tag": meta["tags"],
                "date": [meta["created"], meta["updated"], meta["invalid_at"]],
                "source": meta["source"],
                "status": meta["status"],
                "memory id": [*(meta["supersedes"] or []), meta["superseded_by"]],
            }
        )
        relpath = f"{MEMORIES_DIR}/{slug(text)}-{memory_id}.md"
        rendered = markdown.render(meta, text + "\n")
        self.core.vault.check_size(self.core.vault.path(relpath), rendered)
        return relpath, rendered

    def _entity_note(self, name: str, kind: str | None) -> str | None:
        """entities/<name>.md for an imported entity, unless it exists. Returns the path written."""
        relpath = f"{ENTITIES_DIR}/{entity_file(name)}"
        if (self.core.vault.root / relpath).exists():
            return None
        self.core.vault.create(relpath, markdown.render({"type": kind} if kind else {}, f"# {name}\n"))
        return relpath

    def _relate(self, source: str, relation: str, target: str) -> str | None:
        """A typed relation `- relation [[target]]` in the source entity's note, once."""
        relpath = f"{ENTITIES_DIR}/{entity_file(source)}"
        path = self.core.vault.root / relpath
        line = f"- {relation.strip().replace(' ', '_')} [[{target}]]"
        if not path.exists():
            self.core.vault.create(relpath, markdown.render({}, f"# {source}\n\n{line}\n"))
            return relpath
        text, sha = self.core.vault.read(path)
        if line in text.splitlines():
            return None
        body = markdown.split(text)[1]
        self.core.vault.replace(
            path, markdown.set_keys(text, {}, body=body.rstrip("\n") + "\n" + line + "\n"), expected_sha=sha
        )
        return relpath
