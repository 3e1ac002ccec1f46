"""A parsed vault file as a MemoryRecord: ids, kind (memory or hand-written note), scope,
status and links, read leniently from frontmatter a person may have typed."""

from __future__ import annotations

import hashlib
from pathlib import PurePosixPath
from typing import Any

from memcli.errors import InvalidInputError, ParseError
from memcli.models import CURRENT, MemoryRecord, check_id
from memcli.vault.links import hashtags, links
from memcli.vault.markdown import Document, title


def as_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _as_tags(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(tag) for tag in value if tag is not None]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _ids(value: Any) -> list[str]:
    """A list of ids from frontmatter a person may have typed as a list or a single value."""
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return [str(value)] if value else []


def _note_id(relpath: str) -> str:
    """A stable id for a hand-written note without an `id` key: derived from its path."""
    return "n-" + hashlib.sha1(relpath.encode("utf-8")).hexdigest()[:10]


def record_from(doc: Document, relpath: str, sha: str) -> MemoryRecord:
    """Turn a parsed file into a record. Raises ParseError for an unusable `id`."""
    meta = doc.meta
    raw_id = meta.get("id")
    if raw_id is None:
        memory_id, kind = _note_id(relpath), "note"
    elif isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):  # `id: true` is no id "True"
        raise ParseError(f"frontmatter id {raw_id!r} is not a valid id (letters, digits, '-', '_')")
    else:
        try:
            memory_id, kind = check_id(str(raw_id)), "memory"
        except InvalidInputError:
            raise ParseError(
                f"frontmatter id {str(raw_id)[:60]!r} is not a valid id (letters, digits, '-', '_')"
            ) from None
    metadata = meta.get("metadata")
    history = meta.get("history")
    aliases = meta.get("aliases")
    supersedes = meta.get("supersedes")
    return MemoryRecord(
        id=memory_id,
        text=doc.text,
        path=relpath,
        kind=kind,
        created=as_str(meta.get("created")),
        updated=as_str(meta.get("updated")),
        user=as_str(meta.get("user")),
        agent=as_str(meta.get("agent")),
        run=as_str(meta.get("run")),
        app=as_str(meta.get("app")),
        expires=as_str(meta.get("expires")),
        tags=list(dict.fromkeys(_as_tags(meta.get("tags")) + hashtags(doc.body))),
        metadata=metadata if isinstance(metadata, dict) else {},
        source=as_str(meta.get("source")),
        status=as_str(meta.get("status")) or CURRENT,
        history=[h for h in history if isinstance(h, dict)] if isinstance(history, list) else [],
        title=title(doc.body, PurePosixPath(relpath).stem),
        sha256=sha,
        links=links(doc.body, meta),
        aliases=[str(a) for a in aliases] if isinstance(aliases, list) else ([str(aliases)] if aliases else []),
        entity_type=as_str(meta.get("type")),
        supersedes=[str(s) for s in supersedes]
        if isinstance(supersedes, list)
        else ([str(supersedes)] if supersedes else []),
        superseded_by=as_str(meta.get("superseded_by")),
        may_conflict=_ids(meta.get("may_conflict")),
        not_conflicting=_ids(meta.get("not_conflicting")),
        invalid_at=as_str(meta.get("invalid_at")),
    )
