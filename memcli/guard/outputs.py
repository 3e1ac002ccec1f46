"""Text coming back out of memory: cleaned of invisible characters, and checked for text that
tries to instruct the reader (prompt injection). Pure functions."""

from __future__ import annotations

import json
import re
from typing import Any

# C0/C1 controls except tab and newline; zero-width and bidirectional-format characters (marks,
# embeddings, overrides, isolates) that can hide or reorder text on screen.
_INVISIBLE = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
_INJECTION = re.compile(
    r"(ignore|disregard|forget|override)\s+(all\s+|any\s+|the\s+|your\s+)*(previous|prior|above|earlier|system)\s+"
    r"(instructions?|prompts?|rules|messages)"
    r"|you\s+are\s+now\s+(a|an|in)\b|new\s+(system\s+)?instructions?\s*:|<\|?(im_start|system)\|?>|\[\s*system\s*\]"
    r"|reveal\s+(your|the)\s+(system\s+)?prompt",
    re.IGNORECASE,
)


def clean(text: str) -> str:
    """The text without control, zero-width and bidi-override characters (tab and newline kept)."""
    return _INVISIBLE.sub("", text)


def escape_invisible(text: str) -> str:
    """The text with each character `clean` would drop written as a \\uXXXX escape instead.

    For JSON already dumped with ensure_ascii=False: those characters only occur inside its
    strings, where the escape means the same character, so a parser reads the same data while
    a terminal shows six harmless ASCII characters.
    """
    return _INVISIBLE.sub(lambda match: f"\\u{ord(match.group(0)):04x}", text)


def json_text(data: Any) -> str:
    """The library's result as the CLI prints it with --json: indented, strings as they are, but
    invisible characters escaped (escape_invisible), so the bytes that reach a terminal are harmless."""
    return escape_invisible(json.dumps(data, indent=2, ensure_ascii=False))


def looks_like_injection(text: str) -> bool:
    """True for text that addresses the reading model with instructions ("ignore previous …")."""
    return bool(_INJECTION.search(clean(text)))
