"""Entity notes that consolidation writes: a "what mem knows" block between two markers, which mem
regenerates and a person never needs to touch; everything outside the markers is theirs and is
kept byte for byte. Pure: texts in, texts out."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from memcli.models import MemoryRecord
from memcli.vault.links import WIKILINK

BEGIN = "<!-- mem:begin what-mem-knows"
END = "<!-- mem:end what-mem-knows -->"
_BLOCK = re.compile(
    r"<!-- mem:begin what-mem-knows(?: sources=(?P<sources>[0-9a-f]+))? -->.*?<!-- mem:end what-mem-knows -->",
    re.DOTALL,
)


@dataclass(frozen=True)
class Listed:
    """A memory as the block lists it."""

    id: str
    text: str
    date: str  # YYYY-MM-DD it was written, or ""


def unlinked(text: str) -> str:
    """The text with [[links]] as plain words ("[[Project Falcon|Falcon]]" -> "Falcon"), so a
    generated note links to nothing and cannot make other names look often linked."""
    return WIKILINK.sub(lambda m: (m.group(4) or m.group(2)).strip(), text)


def listed(record: MemoryRecord) -> Listed:
    return Listed(record.id, unlinked(record.text).strip(), (record.created or "")[:10])


def sources(memories: list[Listed], summary_by: str | None = None) -> str:
    """What a block was made from, as a short hash: the same memories (ids, texts, dates) and
    summariser give the same block, so a second run has nothing to redo."""
    digest = hashlib.sha256()
    for memory in sorted(memories, key=lambda m: m.id):
        digest.update(f"{memory.id}\t{memory.date}\t{memory.text}\n".encode())
    digest.update((summary_by or "").encode())
    return digest.hexdigest()[:12]


def block(
    memories: list[Listed], *, with_texts: bool, summary: str | None = None, summary_by: str | None = None
) -> str:
    """The generated block. Without `with_texts` (the memories belong to several scopes, and a
    note is read by every scope) it lists ids and dates only."""
    lines = [f"{BEGIN} sources={sources(memories, summary_by)} -->", "## What mem knows", ""]
    if summary:
        lines += [unlinked(summary).strip(), "", f"(summarised by {summary_by}; the memories:)", ""]
    for memory in sorted(memories, key=lambda m: (m.date, m.id)):
        if with_texts:
            lines.append(f"- {memory.text} ({memory.id}{', ' + memory.date if memory.date else ''})")
        else:
            lines.append(f"- {memory.id}{' (' + memory.date + ')' if memory.date else ''}")
    if not with_texts:
        lines += ["", "(in several scopes: see each with `mem get ID`)"]
    return "\n".join([*lines, END])


def current_sources(note_text: str) -> str | None:
    """The sources hash of a note's block; None when it has no block (a hand-written note)."""
    match = _BLOCK.search(note_text)
    return (match.group("sources") or "") if match else None


def with_block(note_text: str, new_block: str) -> str:
    """The note with its block replaced (or added at the end when it has none); nothing else moves."""
    match = _BLOCK.search(note_text)
    if match:
        return note_text[: match.start()] + new_block + note_text[match.end() :]
    return note_text.rstrip("\n") + "\n\n" + new_block + "\n"


def new_note(name: str, aliases: list[str], new_block: str, scope: dict[str, str]) -> tuple[dict[str, object], str]:
    """(frontmatter, body) of a generated entity note."""
    meta: dict[str, object] = {**scope}
    if aliases:
        meta["aliases"] = aliases
    meta["generated_by"] = "mem consolidate"
    return meta, f"# {name}\n\n{new_block}\n"
