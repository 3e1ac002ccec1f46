"""Secrets in text, found with detect-secrets' pattern plugins and our own (guard/secret_formats.py,
loaded by detect-secrets as a custom plugin file). Its entropy plugins flag ordinary prose, and its
keyword plugin flags "password manager": both stay off. The only module that calls detect-secrets;
it is imported on first use.

Text is scanned as a person would read it: invisible characters are dropped first (a zero-width
space inside a token hides it from a pattern, not from a reader who copies it), and a finding's
offsets are those of the text as given, so a redaction removes the whole token, invisible
characters included.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memcli.errors import SecretFoundError
from memcli.guard.outputs import clean

_OFF = {"Base64 High Entropy String", "Hex High Entropy String", "Secret Keyword", "Public IP (ipv4)"}
_FORMATS = Path(__file__).with_name("secret_formats.py")
# Some plugins report only part of a secret (a prefix, two of a JWT's three parts); a redaction
# covers the whole token around it. These report exactly the secret, after a name that stays.
_EXACT = {"Basic Auth Credentials", "Secret Assignment", "AWS Secret Access Key"}
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-.+/=~]")
_PRIVATE_KEY_END = re.compile(r"-----END [A-Z ]*PRIVATE KEY-----|-----END [A-Z ]*PRIVATE KEY BLOCK-----")


@dataclass(frozen=True)
class Finding:
    kind: str  # detect-secrets' name, e.g. "GitHub Token"
    start: int  # character offsets of the whole secret in the text
    end: int
    line: int  # 1-based, for the error message
    column: int

    @property
    def label(self) -> str:
        return "[REDACTED:" + re.sub(r"[^a-z0-9]+", "-", self.kind.lower()).strip("-") + "]"


@functools.lru_cache(maxsize=1)
def _plugins() -> tuple[dict[str, str], ...]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class, get_plugins_from_file

    mapping: dict[str, type] = get_mapping_from_secret_type_to_class()
    builtin = [{"name": cls.__name__} for kind, cls in mapping.items() if kind not in _OFF]
    # detect-secrets' own way to add plugins: a class name and the file that defines it. Its
    # table of plugin classes is built once; built before our file was named, it is built again.
    classes: list[type] = list(get_plugins_from_file(str(_FORMATS)))
    ours = [{"name": cls.__name__, "path": f"file://{_FORMATS}"} for cls in classes]
    get_mapping_from_secret_type_to_class.cache_clear()
    return tuple(builtin + ours)


def _span(text: str, start: int, end: int, kind: str) -> tuple[int, int]:
    if kind == "Private Key":
        line_start = text.rfind("\n", 0, start) + 1
        closing = _PRIVATE_KEY_END.search(text, end)
        return line_start, closing.end() if closing else len(text)
    if kind in _EXACT:
        return start, end
    while start > 0 and _TOKEN_CHARS.match(text[start - 1]):
        start -= 1
    while end < len(text) and _TOKEN_CHARS.match(text[end]):
        end += 1
    return start, end


def _find(text: str) -> list[Finding]:
    """`scan` while detect-secrets' settings are in place (see `_detecting`)."""
    from detect_secrets.core.scan import scan_line

    visible = clean(text)
    # where each visible character is in `text` (invisible characters are rare: mapped only then)
    at = list(range(len(text) + 1)) if visible == text else [i for i, ch in enumerate(text) if clean(ch)]
    findings: list[Finding] = []
    offset = 0
    for number, line in enumerate(visible.split("\n"), 1):
        for secret in scan_line(line):
            value = secret.secret_value or ""
            where = line.find(value) if value else -1
            if where < 0:
                continue
            start, end = _span(visible, offset + where, offset + where + len(value), secret.type)
            if not any(f.start <= at[start] < f.end for f in findings):
                first, last = at[start], at[end - 1] + 1
                column = first - text.rfind("\n", 0, first)
                findings.append(Finding(secret.type, first, last, number, column))
        offset += len(line) + 1
    return sorted(findings, key=lambda f: f.start)


@contextmanager
def _detecting() -> Iterator[Callable[[str], list[Finding]]]:
    """`_find`, under one set of detect-secrets settings for many texts (setting up costs ~1 ms)."""
    from detect_secrets.settings import transient_settings

    plugins = list(_plugins())
    with transient_settings({"plugins_used": plugins}):
        yield _find


def scan(text: str) -> list[Finding]:
    """Every secret in the text, in order, non-overlapping, invisible characters ignored."""
    with _detecting() as find:
        return find(text)


def redact(text: str, findings: list[Finding]) -> str:
    """The text with every finding replaced by [REDACTED:kind]."""
    for finding in sorted(findings, key=lambda f: f.start, reverse=True):
        text = text[: finding.start] + finding.label + text[finding.end :]
    return text


def _refusal(finding: Finding, what: str, findings: int = 1, redactable: bool = True) -> SecretFoundError:
    if not redactable:  # never the value: it is the secret
        return SecretFoundError(
            f"refusing to store a secret: {finding.kind} in the {what}; remove it "
            f"(--redact rewrites text and metadata values, never a {what})"
        )
    more = f" (and {findings - 1} more)" if findings > 1 else ""
    return SecretFoundError(
        f"refusing to store a secret: {finding.kind} in the {what} at line {finding.line}, column {finding.column}"
        f"{more}; remove it, or use --redact to store it as {finding.label}"
    )


def guard(text: str, *, redact_secrets: bool, what: str = "text") -> str:
    """`text` unchanged when clean; redacted when asked; else SecretFoundError naming kind and place."""
    findings = scan(text)
    if not findings:
        return text
    if redact_secrets:
        return redact(text, findings)
    raise _refusal(findings[0], what, len(findings))


def refuse(values: dict[str, object]) -> None:
    """SecretFoundError for a secret in any of these values ({"tag": "infra", "user_id": "ray"};
    lists are looked into). For names, ids, tags and dates: [REDACTED:…] would make an odd tag
    or scope, shared by every memory that had a secret there, so it is refused even with --redact."""
    with _detecting() as find:
        for what, value in values.items():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(item, str) and (found := find(item)):
                    raise _refusal(found[0], what, redactable=False)


def guard_value(value: Any, *, redact_secrets: bool, what: str = "metadata") -> Any:
    """`guard` over every string of a nested value (lists and maps): a secret in a map's key is
    refused (a key is a name), one in a string is redacted when asked."""
    with _detecting() as find:

        def walk(item: Any, where: str) -> Any:
            if isinstance(item, str):
                findings = find(item)
                if findings and not redact_secrets:
                    raise _refusal(findings[0], where, len(findings))
                return redact(item, findings)
            if isinstance(item, list):
                return [walk(part, where) for part in item]
            if isinstance(item, dict):
                for key in item:
                    if isinstance(key, str) and (found := find(key)):
                        raise _refusal(found[0], f"{what} key", redactable=False)
                return {key: walk(part, f"{what} key {key!r}") for key, part in item.items()}
            return item

        return walk(value, what)


def guard_mapping(metadata: dict[str, Any] | None, *, redact_secrets: bool) -> dict[str, Any] | None:
    """`guard_value` over a metadata mapping; None stays None."""
    return None if metadata is None else guard_value(metadata, redact_secrets=redact_secrets)


def findings_in(many: list[dict[str, Any]]) -> list[list[tuple[str, Finding]]]:
    """For each mapping of fields ({"text": …, "tags": […]}), (field name, first finding) of each
    field that holds a secret, keys of maps included: what `mem doctor` reports about files on disk."""
    with _detecting() as find:

        def first(item: Any) -> Finding | None:
            if isinstance(item, str):
                hits = find(item)
                return hits[0] if hits else None
            parts = list(item) if isinstance(item, list) else []
            if isinstance(item, dict):
                parts = [part for pair in item.items() for part in pair]
            return next((hit for hit in map(first, parts) if hit is not None), None)

        return [[(name, hit) for name, value in fields.items() if (hit := first(value)) is not None] for fields in many]


@contextmanager
def redactor() -> Iterator[Callable[[str], str]]:
    """A function that redacts every secret in a text, for output built from many texts (a digest)."""
    with _detecting() as find:
        yield lambda text: redact(text, find(text))


def redact_all(value: Any) -> Any:
    """A nested value (an MCP result) with every secret in its strings and keys redacted."""
    with redactor() as hide:

        def walk(item: Any) -> Any:
            if isinstance(item, str):
                return hide(item)
            if isinstance(item, (list, tuple)):
                return [walk(part) for part in item]
            if isinstance(item, dict):
                return {walk(key): walk(part) for key, part in item.items()}
            return item

        return walk(value)
