"""Parse and render memory files: YAML frontmatter + a markdown body. Pure text in, data out.

Rewrites are surgical: only the frontmatter keys `mem` changes are re-rendered; every other
line of the frontmatter, and the body unless the text itself changes, stays byte-for-byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import frontmatter
import yaml

from memcli.errors import ParseError

_OPEN = re.compile(r"\A(?:\ufeff)?---[ \t]*\r?\n")
_CLOSE = re.compile(r"^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.MULTILINE)
# A top-level key line: starts at column 0, not a comment, not a list item.
_KEY_LINE = re.compile(r"""^(?P<key>"[^"\n]*"|'[^'\n]*'|[^\s#\-:'"][^:\n]*?)[ \t]*:(?:[ \t]|\r?\n|$)""")
_HEADING = re.compile(r"^#[ \t]+(.+?)[ \t#]*$", re.MULTILINE)

REMOVE = object()  # a value for set_keys(): delete that key


class _Loader(yaml.SafeLoader):
    """YAML that keeps people's values as they wrote them.

    Only true/false are booleans, integers have no leading zeros, dates stay strings
    (`no`, `0123`, `2024-02-30` are strings); aliases and duplicate keys are refused,
    so a file cannot expand without bound or mean two things.
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "YAML aliases are not allowed", event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain value", key_node.start_mark
                ) from None
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


_DROPPED = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:timestamp"}
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _DROPPED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789"))


class _Dumper(yaml.SafeDumper):
    """Writes ISO timestamps unquoted and multi-line text as literal blocks."""


_Dumper.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeDumper.yaml_implicit_resolvers.items()
}


def _represent_str(dumper: yaml.SafeDumper, data: str) -> Any:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> Any:
    # Short lists of scalars (tags) read best inline: `tags: [work, tools]`.
    flow = all(isinstance(item, (str, int, float, bool)) and "\n" not in str(item) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(list, _represent_list)

_YAML = frontmatter.YAMLHandler()


@dataclass(frozen=True)
class Document:
    """A parsed file. `body` and `frontmatter` are the raw text exactly as in the file."""

    meta: dict[str, Any]
    body: str
    frontmatter: str | None
    newline: str = "\n"

    @property
    def text(self) -> str:
        """The memory text: the body without surrounding blank space."""
        return self.body.strip()


def split(text: str) -> tuple[str | None, str]:
    """Split a file into (raw frontmatter or None, raw body)."""
    opening = _OPEN.match(text)
    if not opening:
        return None, text
    closing = _CLOSE.search(text, opening.end())
    if not closing:
        raise ParseError("frontmatter starts with '---' but has no closing '---' line")
    return text[opening.end() : closing.start()], text[closing.end() :]


def load_yaml(raw: str) -> dict[str, Any]:
    """Parse frontmatter YAML with the strict, type-preserving loader."""
    try:
        meta = _YAML.load(raw, Loader=_Loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ParseError(f"invalid YAML frontmatter{where}: {problem}") from None
    except RecursionError:
        raise ParseError("invalid YAML frontmatter: nested too deeply") from None
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise ParseError("frontmatter must be a mapping of keys to values")
    return meta


_CONFLICT = re.compile(r"^(<{7}|>{7})( |$)", re.MULTILINE)


def parse(text: str) -> Document:
    """Parse a whole file. Raises ParseError on malformed frontmatter or git conflict markers."""
    if _CONFLICT.search(text):
        raise ParseError(
            "git conflict markers (<<<<<<< … >>>>>>>) in the file; resolve the merge — mem will not touch it"
        )
    raw, body = split(text)
    newline = "\r\n" if "\r\n" in text[:4096] else "\n"
    meta = load_yaml(raw) if raw is not None else {}
    return Document(meta=meta, body=body, frontmatter=raw, newline=newline)


def dump_key(key: str, value: Any, newline: str = "\n") -> str:
    """Render one top-level `key: value` block of frontmatter."""
    out = yaml.dump(
        {key: value},
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=10**9,
    )
    return out.replace("\n", newline) if newline != "\n" else out


def render(meta: dict[str, Any], body: str) -> str:
    """A new file from scratch: frontmatter with the keys in the given order, then the body."""
    lines = "".join(dump_key(k, v) for k, v in meta.items() if v is not None)
    if body and not body.endswith("\n"):
        body += "\n"
    return f"---\n{lines}---\n{body}" if lines else body


def _segments(raw: str) -> list[tuple[str | None, str]]:
    """Cut frontmatter text into (key, text) blocks; comments and stray lines get key None."""
    segments: list[list[Any]] = []
    for line in raw.splitlines(keepends=True):
        match = _KEY_LINE.match(line)
        if match:
            segments.append([match["key"].strip("'\""), line])
        elif segments and segments[-1][0] is not None and (line[:1] in " \t-" or not line.strip()):
            segments[-1][1] += line
        else:
            segments.append([None, line])
    # Trailing blank lines of a key block belong to the layout, not to the value.
    result: list[tuple[str | None, str]] = []
    for key, text in segments:
        lines = text.splitlines(keepends=True)
        tail: list[str] = []
        while key is not None and len(lines) > 1 and not lines[-1].strip():
            tail.insert(0, lines.pop())
        result.append((key, "".join(lines)))
        if tail:
            result.append((None, "".join(tail)))
    return result


def set_keys(text: str, changes: dict[str, Any], body: str | None = None) -> str:
    """Return `text` with the given frontmatter keys set (or removed with REMOVE).

    Keys not named in `changes` keep their exact bytes; new keys are appended at the end of
    the frontmatter. With `body` given the body is replaced, otherwise it is kept as is.
    """
    raw, old_body = split(text)
    newline = "\r\n" if "\r\n" in text[:4096] else "\n"
    new_body = old_body if body is None else body
    if body is not None and new_body and not new_body.endswith("\n"):
        new_body += newline
    if raw is None:
        meta = {k: v for k, v in changes.items() if v is not REMOVE}
        return render(meta, new_body).replace("\n", newline) if newline != "\n" else render(meta, new_body)
    pending = dict(changes)
    out: list[str] = []
    for key, block in _segments(raw):
        if key is not None and key in pending:
            value = pending.pop(key)
            if value is not REMOVE and value is not None:
                out.append(dump_key(key, value, newline))
        else:
            out.append(block)
    if out and not out[-1].endswith("\n"):
        out[-1] += newline
    for key, value in pending.items():
        if value is not REMOVE and value is not None:
            out.append(dump_key(key, value, newline))
    opening = _OPEN.match(text)
    assert opening is not None
    closing = _CLOSE.search(text, opening.end())
    assert closing is not None
    fence = text[closing.start() : closing.end()]
    if new_body and not fence.endswith("\n"):
        fence += newline
    return text[: opening.end()] + "".join(out) + fence + new_body


def title(body: str, fallback: str) -> str:
    """The note's first `# heading`, else the fallback (usually the file name)."""
    match = _HEADING.search(body)
    return match.group(1).strip() if match else fallback
