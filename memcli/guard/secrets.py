"""Secrets in text, found with detect-secrets' pattern plugins (its entropy plugins flag ordinary
prose, and its keyword plugin flags "password manager": both stay off). The only module that
imports detect-secrets; it is imported on first use."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from memcli.errors import SecretFoundError

_OFF = {"Base64 High Entropy String", "Hex High Entropy String", "Secret Keyword", "Public IP (ipv4)"}
# Some plugins report only part of a secret (a prefix, two of a JWT's three parts); a redaction
# covers the whole token around it.
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
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    mapping: dict[str, type] = get_mapping_from_secret_type_to_class()
    return tuple({"name": cls.__name__} for kind, cls in mapping.items() if kind not in _OFF)


def _span(text: str, offset: int, value: str, kind: str) -> tuple[int, int]:
    start, end = offset, offset + len(value)
    if kind == "Private Key":
        line_start = text.rfind("\n", 0, start) + 1
        closing = _PRIVATE_KEY_END.search(text, end)
        return line_start, closing.end() if closing else len(text)
    if kind == "Basic Auth Credentials":
        return start, end  # just the password of user:password@host
    while start > 0 and _TOKEN_CHARS.match(text[start - 1]):
        start -= 1
    while end < len(text) and _TOKEN_CHARS.match(text[end]):
        end += 1
    return start, end


def scan(text: str) -> list[Finding]:
    """Every secret in the text, in order, non-overlapping."""
    from detect_secrets.core.scan import scan_line
    from detect_secrets.settings import transient_settings

    findings: list[Finding] = []
    offset = 0
    with transient_settings({"plugins_used": list(_plugins())}):
        for number, line in enumerate(text.split("\n"), 1):
            for secret in scan_line(line):
                value = secret.secret_value or ""
                where = line.find(value) if value else -1
                if where < 0:
                    continue
                start, end = _span(text, offset + where, value, secret.type)
                if not any(f.start <= start < f.end for f in findings):
                    findings.append(Finding(secret.type, start, end, number, where + 1))
            offset += len(line) + 1
    return sorted(findings, key=lambda f: f.start)


def redact(text: str, findings: list[Finding]) -> str:
    """The text with every finding replaced by [REDACTED:kind]."""
    for finding in sorted(findings, key=lambda f: f.start, reverse=True):
        text = text[: finding.start] + finding.label + text[finding.end :]
    return text


def guard(text: str, *, redact_secrets: bool, what: str = "text") -> str:
    """`text` unchanged when clean; redacted when asked; else SecretFoundError naming kind and place."""
    findings = scan(text)
    if not findings:
        return text
    if redact_secrets:
        return redact(text, findings)
    first = findings[0]
    more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
    raise SecretFoundError(
        f"refusing to store a secret: {first.kind} in the {what} at line {first.line}, column {first.column}{more}; "
        f"remove it, or use --redact to store it as {first.label}"
    )


def guard_mapping(metadata: dict[str, Any] | None, *, redact_secrets: bool) -> dict[str, Any] | None:
    """`guard` over every string of a metadata mapping (nested lists and maps included)."""

    def clean(value: Any, where: str) -> Any:
        if isinstance(value, str):
            return guard(value, redact_secrets=redact_secrets, what=where)
        if isinstance(value, list):
            return [clean(item, where) for item in value]
        if isinstance(value, dict):
            return {key: clean(item, f"metadata key {key!r}") for key, item in value.items()}
        return value

    return None if metadata is None else clean(metadata, "metadata")
