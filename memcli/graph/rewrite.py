"""Rewriting text over the entity graph: [[links]] added for known entities (autolink) and links
to one entity pointed at a new name (rename). Pure: text in, text out."""

from __future__ import annotations

import re

from memcli.graph.model import Graph, entity_key
from memcli.vault.links import WIKILINK, without_code

# text not to link inside: code, existing links, URLs, e-mail addresses
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
