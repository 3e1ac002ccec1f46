"""Links and tags in a markdown body: [[wiki-links]] (Obsidian/zk forms), typed relations
(`- works_on [[B]]`), #hashtags; code is never read for them. Pure."""

from __future__ import annotations

import re
from typing import Any

_FENCED = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
WIKILINK = re.compile(r"(!?)\[\[([^\[\]|#^\n]+)(#\^?[^\]|\n]*)?(?:\|([^\]\n]*))?\]\]")
_TYPED = re.compile(r"^\s*[-*+]\s+([A-Za-z_][\w-]*)\s+\[\[([^\[\]|#^\n]+)")
_HASHTAG = re.compile(r"(?<![\w#&/])#([A-Za-z][\w/-]*)")


def without_code(text: str) -> str:
    """The text with fenced blocks and inline code spans blanked out (same length, same lines)."""
    blank = lambda match: re.sub(r"[^\n]", " ", match.group(0))  # noqa: E731
    return _INLINE_CODE.sub(blank, _FENCED.sub(blank, text))


def links(body: str, meta: dict[str, Any] | None = None) -> list[dict[str, str | None]]:
    """[[wiki-links]] of a note, in order, as {"target", "relation"}: `[[A]]`, `[[A|label]]`,
    `[[A#Heading]]`, `[[A#^block]]`, `![[embed]]`; typed relations are list items
    `- works_on [[B]]` and the frontmatter mapping `relations: {works_on: B}`. Links inside code
    are not links."""
    found: list[dict[str, str | None]] = []
    text = without_code(body)
    typed = {}
    for line in text.splitlines():
        match = _TYPED.match(line)
        if match:
            typed[match.group(2).strip()] = match.group(1)
    for match in WIKILINK.finditer(text):
        target = match.group(2).strip()
        if target:
            found.append({"target": target, "relation": typed.pop(target, None)})
    relations = (meta or {}).get("relations")
    if isinstance(relations, dict):
        for relation, targets in relations.items():
            for target in targets if isinstance(targets, list) else [targets]:
                if isinstance(target, str) and target.strip():
                    found.append({"target": target.strip().strip("[]"), "relation": str(relation)})
    return found


def hashtags(body: str) -> list[str]:
    """#tags in a body (not headings, not inside code)."""
    text = "\n".join(line for line in without_code(body).splitlines() if not line.lstrip().startswith("# "))
    return list(dict.fromkeys(_HASHTAG.findall(text)))
